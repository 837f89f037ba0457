"""Calibrated probabilities: temperature scaling, and how calibrated probabilities are.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") divides a model's logits
by one number T, fitted to minimise the negative log-likelihood of the validation split, so that a predicted
0.9 is right about 90% of the time; the argmax, and so every prediction, never changes. The models here end
in a softmax, and softmax(log p / T) = softmax(logits / T): `TemperatureScaling` applies it to their
probabilities, inside the exported model. T = 1 is among the candidates, so the validation NLL never rises.

The expected calibration error (ECE) bins the predictions by confidence (15 equal-width bins) and averages
|accuracy - mean confidence| over the bins, weighted by their rows; the Brier score is the mean squared
distance between the probabilities and the one-hot truth.
"""

import keras
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

BINS = 15
TINY = float(np.finfo(np.float32).tiny)  # log(0) guard: a probability that underflowed to 0 stays the smallest
LOG_T_BOUNDS = (-3.0, 3.0)  # T between 0.05 and 20


def scale(probs, temperature: float):
    """Class probabilities as the model's softmax would give them with its logits divided by `temperature`."""
    logits = keras.ops.log(keras.ops.maximum(keras.ops.cast(probs, "float32"), TINY))
    return keras.ops.softmax(logits / temperature, axis=-1)


def _nll(log_probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return float(-log_softmax(log_probs / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the NLL of `labels` under `scale(probs, T)`; 1.0 unless another T lowers it."""
    log_probs = np.log(np.maximum(probs.astype(np.float64), TINY))
    found = minimize_scalar(lambda log_t: _nll(log_probs, labels, np.exp(log_t)), bounds=LOG_T_BOUNDS,
                            method="bounded")
    temperature = float(np.exp(found.x))
    return temperature if _nll(log_probs, labels, temperature) < _nll(log_probs, labels, 1.0) else 1.0


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: the mean confidence, the accuracy and the rows (empty bins: nan, nan, 0)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # (k/bins, (k+1)/bins]
    rows = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        return (np.bincount(which, confidence, bins) / rows, np.bincount(which, correct, bins) / rows, rows)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    confidence, accuracy, rows = reliability(probs, labels, bins)
    used = rows > 0
    return float(np.sum(np.abs(accuracy[used] - confidence[used]) * rows[used]) / rows.sum())


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    truth = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - truth) ** 2, axis=1)))


@keras.saving.register_keras_serializable(package="textclf")
class TemperatureScaling(keras.layers.Layer):
    """Probabilities in, the same probabilities at `temperature` out (`scale`), in float32."""

    def __init__(self, temperature: float, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.temperature = float(temperature)

    def call(self, probs):
        return scale(probs, self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def calibrated(model: keras.Model, temperature: float) -> keras.Model:
    """`model` (a functional classifier ending in a softmax) with its probabilities at `temperature`."""
    return keras.Model(model.input, TemperatureScaling(temperature, name="temperature_scaling")(model.output),
                       name=f"{model.name}_calibrated")
