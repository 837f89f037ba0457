"""Training over several machines: `tf.distribute.MultiWorkerMirroredStrategy` as `TF_CONFIG` describes the cluster.

Kubernetes operators (Kubeflow's TFJob) and `deploy/jobset.yaml`'s entrypoint set `TF_CONFIG` in every pod: the
cluster's addresses by role, and this process's role and index. Every worker runs the same program; the chief
(the `chief` task, or worker 0 when there is none) is the one that writes.

Keras 3's `fit` does not run under this strategy (keras-team/keras issue 20585, open up to 3.15.1): in
`TensorFlowTrainer._maybe_symbolic_build` it averages the first batch across the cluster to get a sample batch,
which the strategy's cross-device reduction cannot take as a per-replica value; and `reduce_per_replica` averages
the per-replica metrics along axis 0, which a scalar does not have. `patch_keras` replaces exactly those two
steps (the sample batch is this worker's first replica's, `keras_fixes.build_from_local_batch`, which every
strategy gets; the metrics are averaged across replicas as they are), for the pinned keras version only: on any
other, keras may have fixed or moved them, and it is an error.
"""

import hashlib
import json
import os
import signal
import socket
import threading
import time

import keras
import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tensorflow_trainer
from loguru import logger
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.eager import context

from textclf.errors import InputError
from textclf.training import keras_fixes

KERAS_VERSION = "3.15.1"  # the version whose trainer `patch_keras` was written against (requirements.txt)
UPSTREAM_ISSUE = "https://github.com/keras-team/keras/issues/20585"


def cluster() -> dict | None:
    """TF_CONFIG's cluster and task, or None when it is not set; an unreadable one is an InputError."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
        tasks = config["cluster"]
        task = config["task"]
        tasks[task["type"]][int(task["index"])]
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise InputError(f"TF_CONFIG is not a cluster with this task in it ({type(error).__name__}: {error}): "
                         'expected {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                         '"index": 0}}') from None
    return config


def task_count(config: dict | None) -> int:
    """How many tasks TF_CONFIG's cluster names (0 without TF_CONFIG)."""
    return 0 if config is None else sum(len(addresses) for addresses in config["cluster"].values())


def is_chief(config: dict | None) -> bool:
    """Whether this process writes: the `chief` task, worker 0 of a cluster without one, or a lone process."""
    if config is None:
        return True
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


# What a collective op raises on the surviving workers when another worker of the job stops (its process killed,
# its pod evicted): the job cannot go on, and every worker is to be started again, which resumes the run.
PEER_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)


def peer_failure_message(error: Exception) -> str:
    """One line for a worker whose peer stopped: what happened and how to go on."""
    # TensorFlow's message: "Graph execution error:", where the op was defined (indented frames), then the cause.
    causes = [line.strip() for line in str(error).splitlines() if line.strip() and not line[0].isspace()
              and not line.startswith(("Graph execution error", "Detected at node"))]
    reason = causes[0][:200] if causes else "no message"
    return (f"another worker of the job stopped ({type(error).__name__}: {reason}); start every worker again with "
            "the same command: the run resumes from its last finished epoch")


CLUSTER_TIMEOUT = 300.0  # seconds a worker waits for the others (TEXTCLF_CLUSTER_TIMEOUT): pods start minutes apart
GREETING = b"textclf worker\n"  # what a waiting worker answers on its TF_CONFIG port, as TensorFlow's server will


def cluster_timeout() -> float:
    """How long a worker waits for the rest of its cluster: TEXTCLF_CLUSTER_TIMEOUT seconds, by default 300."""
    raw = os.environ.get("TEXTCLF_CLUSTER_TIMEOUT", "").strip()
    try:
        seconds = float(raw) if raw else CLUSTER_TIMEOUT
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InputError(f"TEXTCLF_CLUSTER_TIMEOUT={raw}: expected the seconds a worker waits for the others, such "
                         f"as {CLUSTER_TIMEOUT:g}")
    return seconds


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"TF_CONFIG: {address} is not host:port")
    return host.strip("[]"), int(port)


def _answers(address: str) -> bool:
    """Whether a task answers at `address`: a worker still waiting greets, TensorFlow's gRPC server sends its
    HTTP/2 settings; a port where nothing listens, or whose listener never speaks, is not a task that is up."""
    try:
        with socket.create_connection(_host_port(address), timeout=1) as connection:
            connection.settimeout(1)
            return bool(connection.recv(1))
    except OSError:
        return False


def _greet(listener: socket.socket, stop: threading.Event):
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.sendall(GREETING)


def peers(config: dict) -> dict[str, str]:
    """The other tasks of TF_CONFIG's cluster: a name such as `worker 1 (host:port)` -> its address."""
    task = config["task"]
    own = (task["type"], int(task["index"]))
    return {f"{job} {index} ({address})": address for job, addresses in config["cluster"].items()
            for index, address in enumerate(addresses) if (job, index) != own}


def wait_for_peers(config: dict, timeout: float):
    """Returns once every other task of TF_CONFIG's cluster answers at its address, meanwhile answering theirs on
    this task's port; after `timeout` seconds, an InputError naming the tasks that did not.

    TensorFlow waits for them inside MultiWorkerMirroredStrategy's constructor, a C++ call that holds the GIL, after
    installing a SIGTERM handler of its own that only records the signal (for preemption checkpoints): there only
    SIGKILL ends the process. Waiting here first, in Python, SIGTERM ends it at once.
    """
    waiting = peers(config)
    address = config["cluster"][config["task"]["type"]][int(config["task"]["index"])]
    try:
        listener = socket.create_server(("", _host_port(address)[1]))
    except OSError as error:
        raise InputError(f"TF_CONFIG gives this task {address}, whose port it cannot listen on: {error.strerror}")
    logger.info(f"TF_CONFIG: waiting up to {timeout:g} s for {', '.join(waiting)}")
    listener.settimeout(0.2)
    stop = threading.Event()
    greeter = threading.Thread(target=_greet, args=(listener, stop), daemon=True)
    greeter.start()
    deadline = time.monotonic() + timeout
    try:
        while waiting and time.monotonic() < deadline:
            waiting = {name: peer for name, peer in waiting.items() if not _answers(peer)}
            time.sleep(0.5 if waiting else 0)
    finally:
        stop.set()
        greeter.join()
        listener.close()  # TensorFlow's server takes the port over
    if waiting:
        raise InputError(f"the cluster did not come up within {timeout:g} s: no answer from {', '.join(waiting)}; "
                         "start every worker with TF_CONFIG naming the same addresses, or set "
                         "TEXTCLF_CLUSTER_TIMEOUT to wait longer")


def connect(config: dict) -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy over TF_CONFIG's cluster, once every task answers (`wait_for_peers`) within
    `cluster_timeout()` seconds; SIGTERM still ends the process once it is built."""
    timeout = cluster_timeout()
    wait_for_peers(config, timeout)
    # The strategy configures TensorFlow's coordination service itself unless it is configured already: this is its
    # configuration (collective_all_reduce_strategy.py, `_initialize_multi_worker`) plus a deadline for the tasks to
    # register, should one stop between answering and registering; without the barrier the leader waits on.
    spec = tf.train.ClusterSpec(config["cluster"])
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec), coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=int(timeout * 1000))
    context.context().coordination_service.cluster_register_with_barrier = True
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except PEER_FAILURES as error:
        reason = str(error).strip().splitlines()[0].split(". ")[0][:200]  # TensorFlow's advice follows, in its log
        raise InputError(f"the cluster did not come up within {timeout:g} s: {', '.join(peers(config))} answered but "
                         f"did not join ({type(error).__name__}: {reason}); start every worker again with the same "
                         "command") from None
    finally:
        # TensorFlow's preemption notifier (tsl's SigtermNotifier) replaced it with a handler that never ends the
        # process: a worker told to stop (its pod evicted) would train on until SIGKILL.
        signal.signal(signal.SIGTERM, sigterm)


def worker_task(strategy: tf.distribute.Strategy) -> str | None:
    """None where this process writes the run (the chief of a cluster, or any other strategy); otherwise its
    task's name, such as `worker_1`, for the folder it writes to instead (`run_folders.worker_run_dir`)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or strategy.extended.should_checkpoint:
        return None
    return f"{strategy.cluster_resolver.task_type}_{strategy.cluster_resolver.task_id}"


def weights_digest(model: keras.Model) -> str:
    """A short hash of the model's weights: every worker logs it, and they agree when the job trained as one."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(keras.ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()[:16]


def patch_keras():
    """Makes Keras 3's `fit` run under MultiWorkerMirroredStrategy (the module's docstring says what and why)."""
    if keras.version() != KERAS_VERSION:
        raise InputError(f"--strategy multi_worker needs keras {KERAS_VERSION}, whose trainer textclf patches for "
                         f"{UPSTREAM_ISSUE}; this is keras {keras.version()} (pip install -r requirements.txt)")
    keras_fixes.build_from_local_batch()
    if getattr(tensorflow_trainer.reduce_per_replica, "patched_for_multi_worker", False):
        return
    reduce_per_replica = tensorflow_trainer.reduce_per_replica

    def replica_mean(values, strategy, reduction):
        if reduction in ("auto", "mean") and tensorflow_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    replica_mean.patched_for_multi_worker = True
    tensorflow_trainer.reduce_per_replica = replica_mean
