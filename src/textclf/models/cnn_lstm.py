"""A convolution that extracts local n-gram features, read in order by an LSTM."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import MaskedConv1D


@dataclasses.dataclass(frozen=True)
class Settings:
    """The convolution's and the LSTM's sizes, and the rates."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    filters: int = 64
    kernel_size: int = 5  # each LSTM step sees a window of this many tokens
    units: int = 64
    dropout: float = 0.3
    l2: float = 0.0  # on the embedding, the convolution's and the LSTM's kernels and the output; 0 adds no term


def cnn_lstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> Conv1D ("same", mask kept) -> LSTM -> Dropout -> softmax.

    No pooling between the two (unlike keras-io's CNN-LSTM), so the padding mask still lines up with the steps.
    """
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = MaskedConv1D(settings.filters, settings.kernel_size, activation="relu", kernel_regularizer=reg)(x)
    x = layers.LSTM(settings.units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, run.num_classes, "cnn_lstm", dropout=settings.dropout, regularizer=reg)
