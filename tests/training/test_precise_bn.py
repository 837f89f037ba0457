"""PreciseBatchNorm: BatchNorm statistics re-estimated from training batches, as inference sees them."""

import keras
import numpy as np
import tensorflow as tf

from textclf.training.precise_bn import PreciseBatchNorm


def dropout_then_norm() -> keras.Model:
    inputs = keras.Input(shape=(3,))
    x = keras.layers.Dropout(0.5)(inputs)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def batches(x: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x), "int32"))).batch(8)


def test_statistics_are_the_average_over_batches_with_dropout_off():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[5.0, -2.0, 0.0], scale=[1.0, 3.0, 0.5], size=(32, 3)).astype("float32")
    model = dropout_then_norm()
    callback = PreciseBatchNorm(batches(x), batches=3)
    callback.set_model(model)
    callback.on_test_begin()
    norm = model.layers[2]
    first_three = x[:24].reshape(3, 8, 3)
    np.testing.assert_allclose(norm.moving_mean.numpy(), first_three.mean(axis=1).mean(axis=0), rtol=1e-5)
    # With dropout at 0.5 the variance would come out about twice as large and the mean unchanged.
    np.testing.assert_allclose(norm.moving_variance.numpy(), first_three.var(axis=1).mean(axis=0), rtol=1e-4)
    assert norm.momentum == 0.99 and model.layers[1].rate == 0.5


def test_inference_uses_the_new_statistics():
    x = np.random.default_rng(1).normal(loc=10.0, size=(16, 3)).astype("float32")
    model = dropout_then_norm()
    before = model.predict(x, verbose=0)
    callback = PreciseBatchNorm(batches(x), batches=2)
    callback.set_model(model)
    callback.on_test_begin()
    after = model.predict(x, verbose=0)
    # Normalized features now average ~0, so the output is the Dense bias (0 at initialization) on average.
    assert np.abs(after.mean(axis=0)).max() < 0.05 < np.abs(before.mean(axis=0)).max()


def test_a_model_without_batch_norm_is_untouched():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dropout(0.5)(inputs)))
    weights = [w.copy() for w in model.get_weights()]
    callback = PreciseBatchNorm(batches(np.ones((8, 3), "float32")), batches=1)
    callback.set_model(model)
    callback.on_test_begin()
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model.layers[1].rate == 0.5
