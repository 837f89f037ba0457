"""AdamW with each weight's update in one TensorFlow kernel: the pretrained families' optimizer.

Keras' Adam (keras 3.15.1) updates a weight through a chain of element-wise ops (subtract, multiply, square,
assign-add, square root, divide, assign-sub), each a pass over the weight or one of its two moments. On
all-MiniLM-L6-v2 that update took 28% of a training step's op time on this CPU (`benchmarks/profile_minilm_step.py`,
docs/benchmarks/issue-16-pretrained-encoders.md), and an SGD update on the same forward and backward was 1.30x
faster. TensorFlow's `ResourceApplyAdam` kernel computes the same formula for a whole weight in one op:

    m <- beta_1 m + (1 - beta_1) g,   v <- beta_2 v + (1 - beta_2) g^2,
    w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

which is Keras' `Adam.update_step` term for term, for every weight whose gradient is dense. An embedding's
gradient is sparse (IndexedSlices), and Keras then moves only the looked-up rows' moments: that update stays
Keras' own. Everything else stays Keras': AdamW's decoupled weight decay
(applied before the update, as Keras does), clipping, the schedule, the weight average, the distribution of the
update over replicas, saving and loading.
"""

import keras
import tensorflow as tf


class FusedAdamUpdate:
    """Put before `keras.optimizers.Adam` or `AdamW`: their `update_step` in one `ResourceApplyAdam` per weight
    with a dense gradient (sparse gradients and amsgrad keep Keras' own)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            # An embedding's gradient (IndexedSlices): Keras moves the two moments of the looked-up rows only, a
            # sparse update that ResourceApplyAdam, being dense, would not reproduce.
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def _handle(variable):
    """The resource handle of a Keras variable or of the tf.Variable (a replica's, under a strategy) behind it."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="textclf")
class FusedAdamW(FusedAdamUpdate, keras.optimizers.AdamW):
    """Keras' AdamW, each weight's update one kernel (`FusedAdamUpdate`)."""
