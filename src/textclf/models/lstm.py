"""The IMDB project's single LSTM: Embedding(10000, 128) -> LSTM(256) -> Dense."""

import keras
from keras import layers


def lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 256) -> keras.Model:
    """The PyTorch original's architecture, unchanged; its recipe lives in the run defaults.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        num_classes: width of the softmax.
    """
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(inputs)
    x = layers.LSTM(units)(x)
    # The softmax stays float32 under mixed precision, for a stable loss.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lstm")
