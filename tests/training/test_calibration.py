"""Temperature scaling and the calibration measures."""

import keras
import numpy as np
import pytest
from scipy.special import softmax

from textclf.training import calibration


def overconfident(rows: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, unit Gaussian logits with 1.5 added to the true class's: the true posterior is
    softmax(1.5 x logits), and the model's softmax(4 x logits) is overconfident by T = 4 / 1.5."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    logits = rng.normal(size=(rows, 3))
    logits[np.arange(rows), labels] += 1.5
    return softmax(4 * logits, axis=1).astype(np.float32), labels


def nll(probs, labels) -> float:
    return float(-np.log(probs[np.arange(len(labels)), labels]).mean())


def test_temperature_scaling_lowers_the_nll_and_the_ece_of_an_overconfident_model_and_keeps_every_argmax():
    probs, labels = overconfident()
    temperature = calibration.fit_temperature(probs, labels)
    scaled = keras.ops.convert_to_numpy(calibration.scale(probs, temperature))
    assert temperature == pytest.approx(4 / 1.5, rel=0.1)
    assert nll(scaled, labels) < 0.8 * nll(probs, labels)
    assert calibration.expected_calibration_error(scaled, labels) < 0.5 * calibration.expected_calibration_error(
        probs, labels)
    assert (scaled.argmax(axis=1) == probs.argmax(axis=1)).all()
    np.testing.assert_allclose(scaled.sum(axis=1), 1, atol=1e-6)
    # probabilities held back at T: scaled by T, they are the softmax of logits / T (T = 0.5 here)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(calibration.scale(softmax([[2.0, 0.0]], axis=1), 0.5)),
                               softmax([[4.0, 0.0]], axis=1), atol=1e-6)


def test_a_calibrated_model_keeps_t_equal_to_1():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 5000)
    confidence = rng.uniform(0.5, 1.0, 5000)
    right = rng.uniform(size=5000) < confidence  # right as often as it says
    predicted = np.where(right, labels, 1 - labels)
    probs = np.where(predicted[:, None] == np.arange(2), confidence[:, None], 1 - confidence[:, None])
    assert calibration.fit_temperature(probs, labels) == pytest.approx(1, abs=0.1)
    assert calibration.expected_calibration_error(probs, labels) < 0.03


def test_ece_and_brier_on_a_worked_example():
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins of width 1/15: 0.95 twice (right once: |0.5 - 0.95| x 2), 0.6 (right: 0.4), 0.7 (right: 0.3)
    assert calibration.expected_calibration_error(probs, labels) == pytest.approx((0.9 + 0.4 + 0.3) / 4)
    assert calibration.brier_score(probs, labels) == pytest.approx(
        (2 * 0.05**2 + 2 * 0.95**2 + 2 * 0.4**2 + 2 * 0.3**2) / 4)


def test_the_temperature_layer_round_trips_inside_a_saved_model(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    wrapped = calibration.calibrated(model, 2.5)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(calibration.scale(model.predict(x, verbose=0), 2.5))
    wrapped.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, atol=1e-6)
    assert again.get_layer("temperature_scaling").temperature == 2.5
