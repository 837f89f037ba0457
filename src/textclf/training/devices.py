"""Devices, the distribution strategy and the precision policy.

`setup_strategy` must run before anything else touches TensorFlow's devices:
memory growth and logical devices can only be set on an uninitialised runtime.
"""

import os

import keras
import tensorflow as tf
from loguru import logger
from tensorflow.python.framework import config as tf_config

from textclf.errors import InputError
from textclf.training import keras_fixes, multi_worker


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


def resolve_strategy(strategy: str) -> str:
    """`--strategy auto` is multi_worker when TF_CONFIG names more than one task; other values stay."""
    if strategy == "auto" and multi_worker.task_count(multi_worker.cluster()) > 1:
        return "multi_worker"
    return strategy


def setup_strategy(devices: int | None, strategy: str = "auto") -> tuple[tf.distribute.Strategy, bool]:
    """The strategy for this machine (or, multi_worker, for the TF_CONFIG cluster), and whether it runs on GPUs.

    Args:
        devices: use the first N GPUs (N logical CPU devices on a machine without GPUs);
            None: every GPU, or the default strategy when there is none.
        strategy: `--strategy` (`config.STRATEGIES`); auto is multi_worker when TF_CONFIG names more than one
            task, otherwise mirrored on GPUs or --devices, otherwise TensorFlow's default strategy.
    """
    cluster = multi_worker.cluster()
    strategy = resolve_strategy(strategy)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # share the cards; do not grab all memory
    if gpus and devices is not None:
        if devices > len(gpus):
            raise InputError(f"--devices {devices}: this machine has only {len(gpus)} GPUs")
        tf.config.set_visible_devices(gpus[:devices], "GPU")
    if strategy == "multi_worker":
        chosen = _multi_worker(cluster, devices, gpus)
    elif strategy == "one_device":
        if devices not in (None, 1):
            raise InputError(f"--devices {devices} with --strategy one_device: give one or leave --devices out")
        chosen = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    elif gpus:
        chosen = tf.distribute.MirroredStrategy()
    elif devices is not None:
        chosen = tf.distribute.MirroredStrategy(_split_cpu(devices))
    elif strategy == "mirrored":
        chosen = tf.distribute.MirroredStrategy(["/cpu:0"])
    else:
        chosen = tf.distribute.get_strategy()
    keras_fixes.build_from_local_batch()  # a first batch that splits unevenly between the replicas builds too
    logger.info(f"{type(chosen).__name__} with {chosen.num_replicas_in_sync} replica(s), GPUs: {len(gpus)}")
    return chosen, bool(gpus)


def _multi_worker(cluster: dict | None, devices: int | None, gpus: list) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over TF_CONFIG's cluster: each worker's GPUs, or its CPU as one replica."""
    if multi_worker.task_count(cluster) < 2:
        raise InputError("--strategy multi_worker needs TF_CONFIG naming the cluster's tasks (at least two), as "
                         "Kubeflow's TFJob or deploy/jobset.yaml set it; without a cluster, use --strategy mirrored")
    if not gpus and devices not in (None, 1):
        raise InputError(f"--devices {devices} with --strategy multi_worker on a CPU: each worker process is one "
                         "replica there (--devices splits one process's CPU)")
    multi_worker.patch_keras()
    task = cluster["task"]
    logger.info(f"TF_CONFIG: {task['type']} {task['index']} of {multi_worker.task_count(cluster)} tasks"
                f"{' (the chief: it writes the run)' if multi_worker.is_chief(cluster) else ''}")
    return multi_worker.connect(cluster)


def resolve_precision(precision: str, on_gpu: bool) -> str:
    """`auto` is mixed_float16 on GPU and float32 on CPU, where mixed precision is 1.4-2x slower."""
    if precision != "auto":
        return precision
    return "mixed_float16" if on_gpu else "float32"


def set_precision(precision: str, on_gpu: bool) -> str:
    policy = resolve_precision(precision, on_gpu)
    keras.config.set_dtype_policy(policy)
    return policy


def set_determinism(deterministic: bool):
    """`--deterministic`: TensorFlow's deterministic kernels from here on, or its default ones (a matrix's later
    cells without the flag get them back)."""
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()  # TensorFlow exports no public way back
