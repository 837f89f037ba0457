"""The IMDB project's single LSTM: Embedding(10000, 128) -> LSTM(256) -> Dense."""

import keras
from keras import layers

from textclf.models.blocks import probabilities, token_embedding, token_ids


def lstm(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    units: int = 256,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """The PyTorch original's architecture, unchanged; its recipe lives in the run defaults.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        num_classes: width of the softmax.
        embeddings, freeze_embeddings: optional pretrained vectors, see `blocks.token_embedding`.
    """
    inputs = token_ids()
    x = token_embedding(vocab_size, embedding_dim, matrix=embeddings, trainable=not freeze_embeddings)(inputs)
    x = layers.LSTM(units)(x)
    outputs = probabilities(num_classes)(x)
    return keras.Model(inputs, outputs, name="lstm")
