"""A fix to Keras 3's TensorFlow trainer for every tf.distribute strategy: the model is built from one replica's
share of the first batch.

Before its first step, `TensorFlowTrainer._maybe_symbolic_build` (keras/src/backend/tensorflow/trainer.py) builds a
distributed model's metrics and optimizer from a sample batch: the first batch averaged across the replicas with
`strategy.reduce("MEAN", batch, axis=None)`. That reduction adds the replicas' shares with AddN, which fails when
they differ in size (`Inputs to operation AddN ... must have the same size and shape. Input 0: [44,7] != input 1:
[43,7]`): whenever the first batch splits unevenly, as a length bucket's short last batch does when no bucket
fills up (small data, or a large global batch: 7 GPUs x 64 rows = 448). Only the batch's shapes matter to that
build, and the first replica's share has them. Under MultiWorkerMirroredStrategy the same reduction fails for
another reason (keras-team/keras issue 20585, `training.multi_worker.patch_keras`).
"""

from keras.src import tree
from keras.src.backend.tensorflow import trainer as tensorflow_trainer


def build_from_local_batch():
    """Makes Keras build a distributed model from the first replica's share of its first batch (the module's
    docstring says why). Idempotent; a model outside any strategy builds as before."""
    trainer = tensorflow_trainer.TensorFlowTrainer
    if getattr(trainer._maybe_symbolic_build, "builds_from_local_batch", False):
        return
    symbolic_build = trainer._maybe_symbolic_build

    def local_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            strategy = self.distribute_strategy
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda value: strategy.experimental_local_results(value)[0],
                                                next(batches))
                break
        return symbolic_build(self, data_batch=data_batch)

    local_symbolic_build.builds_from_local_batch = True
    trainer._maybe_symbolic_build = local_symbolic_build
