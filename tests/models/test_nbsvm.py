"""NBSVM's model: the naive-Bayes ratios on a case counted by hand and the linear layer over distinct n-grams (the
ngram family that trains it: tests/families/test_ngram.py)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.models.blocks import RunInputs
from textclf.models.nbsvm import Settings, log_count_ratios, nbsvm


def test_log_count_ratios_by_hand():
    # Features 2, 3, 4 (0 is padding, 1 out of vocabulary) in three texts; a repeat counts once.
    rows = [np.array([2, 3, 2, 0]), np.array([2, 1]), np.array([3, 4, 4])]
    ratios = log_count_ratios(rows, np.array([0, 0, 1]), vocab_size=5, num_classes=2, alpha=1.0)
    # Class 0: p = 1 + [2, 1, 0] = [3, 2, 1] (sum 6); the rest: q = 1 + [0, 1, 1] = [1, 2, 2] (sum 5).
    expected = np.log([(3 / 6) / (1 / 5), (2 / 6) / (2 / 5), (1 / 6) / (2 / 5)])
    np.testing.assert_allclose(ratios[2:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(ratios[2:, 1], -expected, rtol=1e-6)  # one-vs-rest of two classes: the mirror
    np.testing.assert_array_equal(ratios[:2], 0)


def test_log_count_ratios_one_vs_rest_for_three_classes():
    rows = [np.array([2]), np.array([2, 3]), np.array([3])]
    ratios = log_count_ratios(rows, np.array([0, 1, 2]), vocab_size=4, num_classes=3, alpha=0.5)
    # Class 2 against classes 0 and 1: p = 0.5 + [0, 1] (sum 2), q = 0.5 + [2, 1] (sum 4).
    np.testing.assert_allclose(ratios[2:, 2], np.log([(0.5 / 2) / (2.5 / 4), (1.5 / 2) / (1.5 / 4)]), rtol=1e-6)
    assert ratios[2, 0] == pytest.approx(math.log((1.5 / 2) / (1.5 / 4)))


def test_the_linear_layer_counts_each_distinct_n_gram_once_and_ignores_padding_and_oov():
    ratios = np.arange(12, dtype="float32").reshape(6, 2) / 10
    model = nbsvm(RunInputs(6, 2, max_len=8), Settings(offset=0.5), ratios)
    linear = model.get_layer("nb_linear")
    kernel = np.linspace(-1, 1, 12, dtype="float32").reshape(6, 2)
    linear.kernel.assign(kernel)
    linear.bias.assign([0.1, -0.2])
    logits = (ratios[[2, 4]] * (kernel[[2, 4]] + 0.5)).sum(axis=0) + [0.1, -0.2]
    for ids in ([[4, 2, 4, 1]], [[2, 4, 1, 0, 0, 0]], [[1, 2, 4]]):
        np.testing.assert_allclose(model.predict(np.array(ids), verbose=0)[0], tf.nn.softmax(logits).numpy(),
                                   rtol=1e-5)


def test_the_ratios_are_saved_with_the_weights_not_the_config(tmp_path):
    ratios = np.random.default_rng(0).normal(size=(30, 3)).astype("float32")
    model = nbsvm(RunInputs(30, 3, max_len=8), Settings(), ratios)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_layer("nb_linear").ratios.numpy(), ratios)
    assert "ratios" not in str(model.get_layer("nb_linear").get_config())
    ids = np.array([[2, 5, 29, 0], [7, 7, 1, 3]])
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0), atol=1e-7)
