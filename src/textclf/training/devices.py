"""Devices, the distribution strategy and the precision policy.

`setup_strategy` must run before anything else touches TensorFlow's devices:
memory growth and logical devices can only be set on an uninitialised runtime.
"""

import os

import keras
import tensorflow as tf
from loguru import logger

from textclf.errors import InputError


def max_cpu_devices() -> int:
    """How many logical devices `--devices` may split a CPU into: one per core, and 2 on any machine so
    MirroredStrategy can be tried anywhere. More only share the same cores, and multiply the global batch
    until a small dataset has few full batches left (training leaves out a short batch that would give a
    device no row)."""
    return max(2, os.cpu_count() or 1)


def _split_cpu(devices: int) -> list[str]:
    """Splits the CPU into `devices` logical devices, so MirroredStrategy runs without a GPU."""
    if devices > max_cpu_devices():
        raise InputError(f"--devices {devices}: no GPU here, and this CPU has {os.cpu_count()} cores; "
                         f"use at most {max_cpu_devices()} logical devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def setup_strategy(devices: int | None) -> tuple[tf.distribute.Strategy, bool]:
    """The strategy for this machine, and whether it runs on GPUs.

    Args:
        devices: use the first N GPUs (N logical CPU devices on a machine without GPUs);
            None: every GPU, or the default strategy when there is none.
    """
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # share the cards; do not grab all memory
    if gpus:
        if devices is not None and devices > len(gpus):
            raise InputError(f"--devices {devices}: this machine has only {len(gpus)} GPUs")
        if devices is not None:
            tf.config.set_visible_devices(gpus[:devices], "GPU")
        strategy = tf.distribute.MirroredStrategy()
    elif devices is not None:
        strategy = tf.distribute.MirroredStrategy(_split_cpu(devices))
    else:
        strategy = tf.distribute.get_strategy()
    logger.info(f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s), GPUs: {len(gpus)}")
    return strategy, bool(gpus)


def resolve_precision(precision: str, on_gpu: bool) -> str:
    """`auto` is mixed_float16 on GPU and float32 on CPU, where mixed precision is 1.4-2x slower."""
    if precision != "auto":
        return precision
    return "mixed_float16" if on_gpu else "float32"


def set_precision(precision: str, on_gpu: bool) -> str:
    policy = resolve_precision(precision, on_gpu)
    keras.config.set_dtype_policy(policy)
    return policy
