"""Gradient accumulation (`--grad-accum K`): one optimizer update on the mean gradient of K micro-batches,
so that K batches of B train as one batch of K x B would, on one device or under MirroredStrategy.

Why not Keras' own `gradient_accumulation_steps` (keras 3.15.1): it puts the update inside an `ops.cond` taken
in replica context, and the update's all-reduce calls `merge_call`, which MirroredStrategy refuses inside a
traced cond (keras/src/optimizers/base_optimizer.py, `_backend_apply_gradients`; keras-team/keras issue 20582,
open). Its test runs the strategy eagerly, which is why it passes there. It also steps the learning-rate schedule
and the weight average at every micro-batch, not at every update. Here the choice "update now?" is taken in
cross-replica context, as Keras' LossScaleOptimizer does: `merge_call` -> `tf.cond` -> the optimizer's own
`apply` on each replica. So the schedule, the weight average, weight decay, clipping and `iterations` all count
updates, exactly as in a run with K-times the batch.

Clipping is of the mean gradient over every replica, as on one device. Keras' `clipnorm` clips each replica's
share before they are summed (tensorflow/optimizer.py, `_distributed_tf_update_step`), so on N replicas it
binds at about N times the norm: a run of `--devices N` without --grad-accum clips that way. Here the update's
gradients are summed over the replicas first (one more all-reduce, once per K micro-batches), clipped, and
divided by N for the optimizer's own sum.

The sums of a partial update live in per-replica variables outside the optimizer's saved state: a run killed
and resumed (the backup is taken at an epoch's end) starts its next epoch with them at zero, losing at most
K - 1 micro-batches of an epoch whose batches do not divide by K.
"""

import keras
import tensorflow as tf

from textclf.errors import InputError
from textclf.training.optimizers import FusedAdamW


class GradientAccumulation:
    """Put before a Keras optimizer class: `class AccumulatingAdam(GradientAccumulation, keras.optimizers.Adam)`.

    Args:
        accumulation_steps: micro-batches per update, K >= 2.
        clipnorm: clip each weight's update gradient, summed over the replicas, to this norm; None: no clipping.
    """

    def __init__(self, *args, accumulation_steps: int, clipnorm: float | None = None, **kwargs):
        if accumulation_steps < 2:
            raise ValueError(f"accumulation_steps must be at least 2, got {accumulation_steps}")
        super().__init__(*args, **kwargs)
        self.accumulation_steps = accumulation_steps
        self.update_clipnorm = clipnorm

    def build(self, variables):
        super().build(variables)
        # On-read variables: a replica adds to its own copy with no synchronisation.
        local = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ)
        self._sums = {id(v): tf.Variable(tf.zeros(v.shape, v.dtype), aggregation=tf.VariableAggregation.SUM,
                                         name="gradient_sum", **local) for v in variables}
        self._micro_steps = tf.Variable(0, dtype=tf.int64, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                                        name="micro_steps", **local)

    def get_config(self):
        return {**super().get_config(), "accumulation_steps": self.accumulation_steps, "clipnorm": self.update_clipnorm}

    def apply(self, grads, trainable_variables=None):
        variables = list(self._trainable_variables if trainable_variables is None else trainable_variables)
        if not self.built:
            self.build(variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        for gradient, variable in pairs:
            self._sums[id(variable)].assign_add(tf.cast(tf.convert_to_tensor(gradient), variable.dtype))
        now = tf.equal(self._micro_steps.assign_add(1) % self.accumulation_steps, 0)
        variables = [v for _, v in pairs]
        if tf.__internal__.distribute.strategy_supports_no_merge_call():  # one device
            tf.cond(now, lambda: self._update(variables), lambda: None)
            return

        def decide(strategy, now):  # cross-replica context: the cond may hold the update's all-reduce
            first = strategy.experimental_local_results(now)[0]  # the same on every replica
            tf.cond(first, lambda: strategy.extended.call_for_each_replica(self._update, args=(variables,)),
                    lambda: None)

        tf.distribute.get_replica_context().merge_call(decide, args=(now,))

    def _update(self, variables):
        """One update on each replica's mean micro-batch gradient (the optimizer all-reduces it), clipped as the
        sum over the replicas; then the sums start again."""
        sums = [self._sums[id(v)] for v in variables]
        grads = [s.read_value() / self.accumulation_steps for s in sums]
        if self.update_clipnorm:
            context = tf.distribute.get_replica_context()
            replicas = context.num_replicas_in_sync
            if replicas > 1:
                grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            grads = [tf.clip_by_norm(g, self.update_clipnorm) / replicas for g in grads]
        super().apply(grads, variables)
        for s in sums:
            s.assign(tf.zeros_like(s))


@keras.saving.register_keras_serializable(package="textclf")
class AccumulatingAdam(GradientAccumulation, keras.optimizers.Adam):
    """Adam with `accumulation_steps`."""


@keras.saving.register_keras_serializable(package="textclf")
class AccumulatingAdamW(GradientAccumulation, FusedAdamW):
    """The pretrained families' AdamW (`optimizers.FusedAdamW`) with `accumulation_steps`."""


ACCUMULATING = {keras.optimizers.Adam: AccumulatingAdam, FusedAdamW: AccumulatingAdamW}


def check(steps: int, policy: str):
    """Accumulation under float16 loss scaling is refused: the LossScaleOptimizer calls the update in
    cross-replica context, and skips whole micro-batches when one overflows."""
    if steps > 1 and policy == "mixed_float16":
        raise InputError("--grad-accum does not work with mixed_float16 (the default precision on a GPU): its loss "
                         "scaling skips overflowing micro-batches; use --precision mixed_bfloat16 (Ampere GPUs and "
                         "later) or float32")
