"""A convolution that extracts local n-gram features, read in order by an LSTM."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import MaskedConv1D


def cnn_lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, filters: int = 64, kernel_size: int = 5,
             units: int = 64, dropout: float = 0.3, l2: float = 0.0, embeddings=None,
             freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> Conv1D ("same", mask kept) -> LSTM -> Dropout -> softmax.

    No pooling between the two (unlike keras-io's CNN-LSTM), so the padding mask still lines up with the steps.

    Args:
        kernel_size: each LSTM step sees a window of this many tokens.
        The others: those every builder takes (`blocks.embedded_tokens`), and the layers' sizes and rates.
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = MaskedConv1D(filters, kernel_size, activation="relu", kernel_regularizer=reg)(x)
    x = layers.LSTM(units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, num_classes, "cnn_lstm", dropout=dropout, regularizer=reg)
