"""The IMDB project's single LSTM: Embedding(10000, 128) -> LSTM(256) -> Dense."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens


def lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 256, embeddings=None,
         freeze_embeddings: bool = False) -> keras.Model:
    """The PyTorch original's architecture, unchanged (no dropout, no L2); its recipe lives in the run defaults.

    Arguments: only those every builder takes (`blocks.embedded_tokens`).
    """
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings)
    x = layers.LSTM(units)(x)
    return classifier(inputs, x, num_classes, "lstm")
