import keras
import numpy as np
import pytest

from textclf.models.registry import MODELS, builder_for
from textclf.errors import InputError

TINY = {"stacked_lstm": dict(embedding_dim=4, units=(4, 3), dense_units=3), "lstm": dict(embedding_dim=4, units=5)}


def batch():
    x = np.array([[2, 3, 4, 0, 0], [5, 6, 0, 0, 0], [7, 0, 0, 0, 0], [2, 9, 9, 9, 9]], dtype="int32")
    return x, np.array([0, 1, 2, 1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builds_trains_a_step_and_round_trips(name, tmp_path):
    model = MODELS[name](10, 3, **TINY[name])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = batch()
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    probs = model.predict(x, verbose=0)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    model.save(tmp_path / "m.keras")
    assert np.allclose(keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0), probs, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padding_is_masked(name):
    model = MODELS[name](10, 2, **TINY[name])
    x = np.array([[2, 3, 0, 0, 0, 0]], dtype="int32")
    assert np.allclose(model.predict(x, verbose=0), model.predict(x[:, :2], verbose=0), atol=1e-6)


def test_stacked_lstm_counts_l2_losses():
    model = MODELS["stacked_lstm"](10, 2, **TINY["stacked_lstm"])
    assert len(model.losses) == 5  # embedding, two LSTM kernels, two dense kernels
    assert float(sum(model.losses)) > 0


def test_output_stays_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = MODELS["stacked_lstm"](10, 2, **TINY["stacked_lstm"])
        assert model.layers[1].compute_dtype == "float16"
        assert model.output.dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")


def test_unknown_model():
    with pytest.raises(InputError, match="unknown model 'cnn'"):
        builder_for("cnn")
