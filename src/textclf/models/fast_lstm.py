"""`keras.layers.LSTM` with a faster training path on CPU, for an LSTM that returns its last state.

On GPU Keras runs an LSTM through cuDNN. On CPU it runs a `while` loop of LSTMCell steps, and its automatic
backward pass multiplies by transposed weights at every step, which TensorFlow's CPU MatMul does slowly for
these shapes. `FastLSTM` keeps the same weights, the same arithmetic and the same results, and on CPU:
projects the whole sequence through `kernel` in one matmul before the loop, so the loop only does `h @ U`;
and runs a hand-written backward loop that multiplies by one transposed copy of `U`, leaving the weight
gradients to whole-sequence matmuls. A study of one training step, on a loaded machine, measured 1.25-1.35x
over Keras; `benchmarks/speed_imdb_lstm.py` measures the IMDB `lstm` both ways.

The fast path needs right-padded masks (every row's steps first, then padding), as `data.pipeline` makes,
and the plain configuration the builders use: last state only, no dropout, default activations, float32.
Anything else, and any machine with a GPU, runs `keras.layers.LSTM` itself.
"""

import keras
import tensorflow as tf


def _last_state(projected: tf.Tensor, recurrent: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """The LSTM's state h after each row's last step.

    Args:
        projected: (time, batch, 4 units) inputs times `kernel` plus `bias`, gates in Keras' order i, f, c, o.
        recurrent: (units, 4 units) recurrent kernel.
        lengths: (batch,) steps per row; a row of length 0 gets zeros, as from Keras.
    """
    steps = tf.reduce_max(lengths)
    last_step = lengths - 1

    @tf.custom_gradient
    def forward(projected, recurrent):
        time, batch, units = tf.shape(projected)[0], tf.shape(projected)[1], tf.shape(recurrent)[0]
        zeros = tf.zeros(tf.stack([batch, units]), projected.dtype)
        inputs = tf.TensorArray(projected.dtype, size=time).unstack(projected)

        def step(t, h, c, last, gates, cells, states):
            i, f, g, o = tf.split(inputs.read(t) + tf.matmul(h, recurrent), 4, axis=1)
            i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
            c = f * c + i * g
            h = o * tf.tanh(c)
            last = tf.where((last_step == t)[:, None], h, last)
            return t + 1, h, c, last, gates.write(t, tf.concat([i, f, g, o], 1)), cells.write(t, c), states.write(t, h)

        arrays = [tf.TensorArray(projected.dtype, size=steps) for _ in range(3)]
        _, _, _, last, gates, cells, states = tf.while_loop(
            lambda t, *_: t < steps, step, (tf.constant(0), zeros, zeros, zeros, *arrays))
        gates, cells, states = gates.stack(), cells.stack(), states.stack()  # (steps, batch, ...)
        previous_cells = tf.concat([zeros[None], cells[:-1]], 0)
        previous_states = tf.concat([zeros[None], states[:-1]], 0)

        def backward(d_last):
            # A transposed copy once, rather than matmul(transpose_b=True) at every step: 2-3x faster on CPU.
            recurrent_t = tf.transpose(recurrent)

            def step_back(t, dh, dc, d_gates):
                i, f, g, o = tf.split(gates[t], 4, axis=1)
                dh = dh + tf.where((last_step == t)[:, None], d_last, tf.zeros_like(d_last))
                tanh_c = tf.tanh(cells[t])
                dc = dc + dh * o * (1 - tanh_c * tanh_c)
                dz = tf.concat([dc * g * i * (1 - i), dc * previous_cells[t] * f * (1 - f), dc * i * (1 - g * g),
                                dh * tanh_c * o * (1 - o)], 1)
                return t - 1, tf.matmul(dz, recurrent_t), dc * f, d_gates.write(t, dz)

            _, _, _, d_gates = tf.while_loop(
                lambda t, *_: t >= 0, step_back, (steps - 1, zeros, zeros, tf.TensorArray(projected.dtype, size=steps)))
            d_gates = d_gates.stack()
            d_recurrent = tf.matmul(tf.reshape(previous_states, [-1, units]), tf.reshape(d_gates, [-1, 4 * units]),
                                    transpose_a=True)
            return tf.pad(d_gates, [[0, time - steps], [0, 0], [0, 0]]), d_recurrent

        return last, backward

    return forward(projected, recurrent)


@keras.saving.register_keras_serializable(package="textclf")
class FastLSTM(keras.layers.LSTM):
    """A `keras.layers.LSTM` (same arguments, weights and results) that trains faster on CPU; see the module."""

    def _fast_path(self, inputs, initial_state) -> bool:
        cell = self.cell
        plain = (
            initial_state is None and not (self.return_sequences or self.return_state or self.go_backwards)
            and not (self.stateful or self.unroll or cell.dropout or cell.recurrent_dropout)
            and cell.use_bias and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and inputs.dtype == tf.float32 and cell.compute_dtype == "float32"
        )
        return plain and keras.backend.backend() == "tensorflow" and not tf.config.list_logical_devices("GPU")

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if not self._fast_path(sequences, initial_state):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        if mask is None:
            lengths = tf.fill(tf.shape(sequences)[:1], tf.shape(sequences)[1])
        else:
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
            right_padded = tf.sequence_mask(lengths, tf.shape(mask)[1])
            tf.debugging.assert_equal(tf.cast(mask, tf.bool), right_padded,
                                      message="FastLSTM needs right-padded masks (steps first, then padding)")
        projected = tf.einsum("btd,dg->tbg", sequences, self.cell.kernel) + self.cell.bias
        return _last_state(projected, tf.convert_to_tensor(self.cell.recurrent_kernel), lengths)
