"""NBSVM (Wang and Manning 2012): binarised n-gram features scaled by naive-Bayes log-count ratios, then a
linear classifier. The `ngram` family (`textclf.families.ngram`) feeds it n-gram ids and computes the ratios
on the training split (`log_count_ratios`).
"""

import dataclasses

import keras
import numpy as np
from keras import layers

from textclf.data.pipeline import OOV
from textclf.models.blocks import RunInputs, l2_regularizer, token_ids
from textclf.models.layers import NBLinear


@dataclasses.dataclass(frozen=True)
class Settings:
    """NBSVM's own settings (`--model-arg`): the n-gram family reads the features' two (the vectorizer's n-grams
    and the ratios' smoothing) before the build, the builder the linear layer's two."""

    ngrams: int = 3  # 1- to 3-grams: trigrams took Wang and Manning's IMDB from 91.2% (bigrams) to about 91.8%
    alpha: float = 1.0  # the ratios' smoothing count, the paper's
    # See `NBLinear`; 0 = logistic regression on the NB-scaled features: on IMDB it validated above the NB-started
    # 0.04 (docs/benchmarks/issue-21-imdb-above-092-from-scratch.md).
    offset: float = 0.0
    l2: float = 0.0  # on the trainable weights, which pulls them to the NB solution when offset > 0


def log_count_ratios(rows: list[np.ndarray], labels: np.ndarray, vocab_size: int, num_classes: int,
                     alpha: float = 1.0) -> np.ndarray:
    """One-vs-rest naive-Bayes log-count ratios over binarised features, shape (vocab_size, num_classes).

    For class c, with p = alpha + the number of class-c rows holding each feature and q = alpha + the same
    count over the other rows, r_c = log((p / |p|_1) / (q / |q|_1)). Padding (0) and out-of-vocabulary (1)
    ids get 0: they say nothing about a class.

    Args:
        rows: each row's feature ids (repeats count once).
        labels: each row's class.
        alpha: the smoothing count added to every feature.
    """
    present = np.zeros((vocab_size, num_classes))
    for ids, label in zip(rows, labels):
        present[np.unique(ids), label] += 1
    features = present[OOV + 1:]
    p = features + alpha
    q = features.sum(axis=1, keepdims=True) - features + alpha
    ratios = np.zeros((vocab_size, num_classes), dtype="float32")
    ratios[OOV + 1:] = np.log(p / p.sum(axis=0)) - np.log(q / q.sum(axis=0))
    return ratios


def nbsvm(run: RunInputs, settings: Settings, ratios: np.ndarray) -> keras.Model:
    """n-gram ids -> NBLinear (distinct ids, NB-scaled) -> softmax.

    Args:
        run: the n-gram ids' count (padding (0) and OOV (1) included) and the classes; no --embeddings.
        settings: `offset` and `l2` shape the linear layer (`ngrams` and `alpha` made the ids and the ratios).
        ratios: `log_count_ratios` of the training split, shape (run.vocab_size, run.num_classes).
    """
    inputs = token_ids()
    linear = NBLinear(run.vocab_size, run.num_classes, offset=settings.offset,
                      kernel_regularizer=l2_regularizer(settings.l2), name="nb_linear")
    logits = linear(inputs)
    linear.ratios.assign(ratios)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="nbsvm")
