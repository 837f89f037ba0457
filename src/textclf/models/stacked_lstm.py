"""The Weibo project's two-layer LSTM with BatchNorm, Dropout and L2."""

import keras
from keras import layers, regularizers

from textclf.models.blocks import classifier, embedded_tokens


def stacked_lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: tuple[int, int] = (128, 64),
                 dense_units: int = 32, dropout: float = 0.3, embedding_dropout: float = 0.2, l2: float = 1e-5,
                 embeddings=None, freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> SpatialDropout -> [LSTM -> BN -> Dropout] x 2 -> Dense -> BN -> Dropout -> softmax.

    Args:
        embedding_dropout: drops whole word vectors, so it cannot lean on a few memorised words (IMDB).
        l2: on the embedding and every kernel, as the original; larger values slowed learning on Weibo.
        The others: those every builder takes (`blocks.embedded_tokens`), and the layers' sizes and rates.
    """
    # L2 terms even at l2=0, as the original: `l2_regularizer` would leave them out, and change the saved config.
    reg = regularizers.L2(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = layers.SpatialDropout1D(embedding_dropout)(x)
    x = layers.LSTM(units[0], return_sequences=True, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.LSTM(units[1], kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    return classifier(inputs, x, num_classes, "stacked_lstm", dropout=dropout, regularizer=reg)
