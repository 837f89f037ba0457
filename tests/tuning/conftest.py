"""The tuning tests' fixture: a record of the runs a search makes, in which the test split of a trial cannot be
read."""

import dataclasses
from pathlib import Path

import pytest

from textclf import run


class Unreadable:
    """Stands for the test split during a search: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the search read the test split ({name})")

    def __len__(self):
        raise AssertionError("the search read the test split (len)")


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, bool]]:
    """Every run.run of the search, as (output folder, trial); a trial's data has an `Unreadable` test split."""
    made, read_data, real_run = [], run.read_data, run.run
    trial = {"now": False}

    def reading(config):
        data, eval_sets = read_data(config)
        return (dataclasses.replace(data, test=Unreadable()) if trial["now"] else data), eval_sets

    def running(config, *args, **kwargs):
        trial["now"] = kwargs.get("trial", False)
        made.append((Path(config.output_dir).name, trial["now"]))
        try:
            return real_run(config, *args, **kwargs)
        finally:
            trial["now"] = False

    monkeypatch.setattr(run, "read_data", reading)
    monkeypatch.setattr(run, "run", running)
    return made
