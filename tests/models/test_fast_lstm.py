"""FastLSTM: the same outputs and gradients as keras.layers.LSTM, through its own CPU path."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.models.fast_lstm import FastLSTM


def right_padded(batch=6, steps=9, width=5, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([steps, 0, 1, 4, 7, steps - 1])[:batch]
    mask = np.arange(steps)[None, :] < lengths[:, None]
    x = np.where(mask[..., None], rng.normal(size=(batch, steps, width)), 0.0).astype("float32")
    return tf.constant(x), tf.constant(mask)


def twins(units=7, width=5, **kwargs):
    """A keras LSTM and a FastLSTM with the same weights (a random bias, so a gate-order slip shows)."""
    reference, fast = keras.layers.LSTM(units, **kwargs), FastLSTM(units, **kwargs)
    reference.build((None, None, width))
    fast.build((None, None, width))
    rng = np.random.default_rng(1)
    kernel, recurrent, bias = reference.get_weights()
    weights = [kernel, recurrent, rng.normal(size=bias.shape).astype("float32")]
    reference.set_weights(weights)
    fast.set_weights(weights)
    return reference, fast


def outputs_and_gradients(layer, x, mask):
    cotangent = tf.constant(np.random.default_rng(2).normal(size=(x.shape[0], layer.units)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, mask=mask)
        loss = tf.reduce_sum(y * cotangent)
    return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]


def test_the_fast_path_is_taken_on_this_cpu():
    x, _ = right_padded()
    assert twins()[1]._fast_path(x, None)
    assert not twins(return_sequences=True)[1]._fast_path(x, None)
    assert not twins(dropout=0.1)[1]._fast_path(x, None)


def test_same_outputs_and_gradients_as_keras_lstm():
    x, mask = right_padded()
    reference, fast = twins()
    for want, got, name in zip(outputs_and_gradients(reference, x, mask), outputs_and_gradients(fast, x, mask),
                               ["output", "d inputs", "d kernel", "d recurrent kernel", "d bias"]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5, err_msg=name)
    output = fast(x, mask=mask).numpy()
    np.testing.assert_array_equal(output[1], 0)  # an empty row gives zeros, as from Keras
    assert (np.abs(output[[0, 2, 3, 4, 5]]).sum(axis=1) > 0).all()


def test_other_configurations_run_keras_lstm_itself():
    x, mask = right_padded()
    reference, fast = twins(return_sequences=True)
    np.testing.assert_array_equal(fast(x, mask=mask), reference(x, mask=mask))


def test_a_mask_that_is_not_right_padded_is_refused():
    x, mask = right_padded()
    _, fast = twins()
    holes = mask.numpy().copy()
    holes[0, 3] = False
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        fast(x, mask=tf.constant(holes))


def test_saves_and_loads(tmp_path):
    x, _ = right_padded()
    inputs = keras.Input((None, 5))
    model = keras.Model(inputs, FastLSTM(7)(keras.layers.Masking()(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[-1], FastLSTM)
    np.testing.assert_array_equal(loaded(x), model(x))
