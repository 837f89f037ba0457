"""A convolution that extracts local n-gram features, read in order by an LSTM."""

import keras
from keras import layers

from textclf.models.blocks import l2_regularizer, probabilities, token_embedding, token_ids
from textclf.models.layers import MaskedConv1D


def cnn_lstm(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    filters: int = 64,
    kernel_size: int = 5,  # each LSTM step sees a 5-token window
    units: int = 64,
    dropout: float = 0.3,
    l2: float = 0.0,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """Embedding -> Conv1D ("same", mask kept) -> LSTM -> Dropout -> softmax.

    No pooling between the two (unlike keras-io's CNN-LSTM), so the padding mask still lines up with the steps.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        num_classes: width of the softmax.
        l2: L2 on the embedding and every kernel; 0 = none.
        embeddings, freeze_embeddings: optional pretrained vectors, see `blocks.token_embedding`.
    """
    reg = l2_regularizer(l2)
    inputs = token_ids()
    x = token_embedding(
        vocab_size, embedding_dim, matrix=embeddings, trainable=not freeze_embeddings, regularizer=reg
    )(inputs)
    x = MaskedConv1D(filters, kernel_size, activation="relu", kernel_regularizer=reg)(x)
    x = layers.LSTM(units, kernel_regularizer=reg)(x)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    return keras.Model(inputs, outputs, name="cnn_lstm")
