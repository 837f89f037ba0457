"""Training over several machines: `tf.distribute.MultiWorkerMirroredStrategy` as `TF_CONFIG` describes the cluster.

Kubernetes operators (Kubeflow's TFJob) and `deploy/jobset.yaml`'s entrypoint set `TF_CONFIG` in every pod: the
cluster's addresses by role, and this process's role and index. Every worker runs the same program; the chief
(the `chief` task, or worker 0 when there is none) is the one that writes.

Keras 3's `fit` does not run under this strategy (keras-team/keras issue 20585, open up to 3.15.1): in
`TensorFlowTrainer._maybe_symbolic_build` it averages the first batch across the cluster to get a sample batch,
which the strategy's cross-device reduction cannot take as a per-replica value; and `reduce_per_replica` averages
the per-replica metrics along axis 0, which a scalar does not have. `patch_keras` replaces exactly those two
steps (the sample batch is this worker's first replica's, the metrics are averaged across replicas as they are),
for the pinned keras version only: on any other, keras may have fixed or moved them, and it is an error.
"""

import hashlib
import json
import os

import keras
import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tensorflow_trainer

from textclf.errors import InputError

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


def worker_task(strategy: tf.distribute.Strategy) -> str | None:
    """None where this process writes the run (the chief of a cluster, or any other strategy); otherwise its
    task's name, such as `worker_1`, for the folder it writes to instead (`resume.worker_run_dir`)."""
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
    trainer = tensorflow_trainer.TensorFlowTrainer
    if getattr(trainer._maybe_symbolic_build, "patched_for_multi_worker", False):
        return
    symbolic_build, reduce_per_replica = trainer._maybe_symbolic_build, tensorflow_trainer.reduce_per_replica

    def local_symbolic_build(self, iterator=None, data_batch=None):
        # The sample batch that builds the model's metrics and optimizer only needs shapes: this worker's first
        # replica's batch, where keras averaged it across the cluster.
        if iterator is not None and self._distribute_strategy is not None:
            strategy = self.distribute_strategy
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda value: strategy.experimental_local_results(value)[0],
                                                next(batches))
                break
        return symbolic_build(self, data_batch=data_batch)

    def replica_mean(values, strategy, reduction):
        if reduction in ("auto", "mean") and tensorflow_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    local_symbolic_build.patched_for_multi_worker = True
    trainer._maybe_symbolic_build = local_symbolic_build
    tensorflow_trainer.reduce_per_replica = replica_mean
