"""An LSTM whose states are routed into capsules (dynamic routing), which the softmax reads."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import Capsule


@dataclasses.dataclass(frozen=True)
class Settings:
    """The LSTM's size, then `num_capsules` capsules of `capsule_dim` each, routed `routings` times."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: int = 64
    num_capsules: int = 10
    capsule_dim: int = 16
    routings: int = 3
    dropout: float = 0.3
    l2: float = 0.0  # on the embedding, the LSTM's and the capsules' kernels and the output; 0 adds no term


def capsule_lstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> LSTM (all states) -> Capsule (masked routing) -> Flatten -> Dropout -> softmax."""
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = layers.LSTM(settings.units, return_sequences=True, kernel_regularizer=reg)(x)
    x = Capsule(settings.num_capsules, settings.capsule_dim, routings=settings.routings, kernel_regularizer=reg)(x)
    x = layers.Flatten()(x)
    return classifier(inputs, x, run.num_classes, "capsule_lstm", dropout=settings.dropout, regularizer=reg)
