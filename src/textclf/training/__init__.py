"""Devices and distribution, schedules, and fit-and-evaluate."""
