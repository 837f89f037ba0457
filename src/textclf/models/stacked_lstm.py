"""The Weibo project's two-layer LSTM with BatchNorm, Dropout and L2."""

import dataclasses

import keras
from keras import layers, regularizers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens


@dataclasses.dataclass(frozen=True)
class Settings:
    """The Weibo original's sizes and rates, and the dropout of whole word vectors added for IMDB."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: tuple[int, int] = (128, 64)  # the first LSTM's, then the second's
    dense_units: int = 32
    dropout: float = 0.3
    embedding_dropout: float = 0.2  # drops whole word vectors, so it cannot lean on a few memorised words (IMDB)
    l2: float = 1e-5  # on the embedding and every kernel, as the original; larger values slowed learning on Weibo


def stacked_lstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> SpatialDropout -> [LSTM -> BN -> Dropout] x 2 -> Dense -> BN -> Dropout -> softmax."""
    # L2 terms even at l2=0, as the original: `l2_regularizer` would leave them out, and change the saved config.
    reg = regularizers.L2(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = layers.SpatialDropout1D(settings.embedding_dropout)(x)
    x = layers.LSTM(settings.units[0], return_sequences=True, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(settings.dropout)(x)
    x = layers.LSTM(settings.units[1], kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(settings.dropout)(x)
    x = layers.Dense(settings.dense_units, activation="relu", kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    return classifier(inputs, x, run.num_classes, "stacked_lstm", dropout=settings.dropout, regularizer=reg)
