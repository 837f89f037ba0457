"""The Weibo project's two-layer LSTM with BatchNorm, Dropout and L2."""

import keras
from keras import layers, regularizers

from textclf.models.blocks import probabilities, token_embedding, token_ids


def stacked_lstm(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    units: tuple[int, int] = (128, 64),
    dense_units: int = 32,
    dropout: float = 0.3,
    embedding_dropout: float = 0.2,  # whole word vectors, so it cannot lean on a few memorised words (IMDB)
    l2: float = 1e-5,  # on every kernel, as the original; larger values slowed learning on Weibo
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """Embedding -> SpatialDropout -> LSTM -> BN -> Dropout -> LSTM -> BN -> Dropout -> Dense -> BN -> Dropout -> softmax.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        num_classes: width of the softmax.
        embeddings, freeze_embeddings: optional pretrained vectors, see `blocks.token_embedding`.
    """
    # === Layers ===
    reg = regularizers.L2(l2)
    inputs = token_ids()
    x = token_embedding(
        vocab_size, embedding_dim, matrix=embeddings, trainable=not freeze_embeddings, regularizer=reg
    )(inputs)
    x = layers.SpatialDropout1D(embedding_dropout)(x)
    x = layers.LSTM(units[0], return_sequences=True, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.LSTM(units[1], kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    # === Functional Model ===
    return keras.Model(inputs, outputs, name="stacked_lstm")
