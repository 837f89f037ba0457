"""The pieces every builder shares: the token-id input, the (pretrained) embedding, L2 and the softmax output."""

import keras
import numpy as np
from keras import layers, regularizers


def token_ids() -> keras.KerasTensor:
    """The model input: right-padded int32 token ids, 0 = padding, 1 = out of vocabulary."""
    return keras.Input(shape=(None,), dtype="int32", name="token_ids")


def token_embedding(
    vocab_size: int,
    dim: int,
    *,
    matrix: np.ndarray | None = None,
    trainable: bool = True,
    regularizer: regularizers.Regularizer | None = None,
) -> layers.Embedding:
    """An Embedding named "token_embedding" that masks padding, optionally starting from pretrained vectors.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        dim: width of the vectors; ignored when `matrix` is given, which sets it.
        matrix: initial weights of shape (vocab_size, any width), e.g. from `textclf.data.embeddings.load_vectors`.
        trainable: False keeps the initial vectors fixed during training.
        regularizer: penalty on the vectors, or None.

    Example:
        x = token_embedding(10_000, 128, matrix=glove, trainable=False)(token_ids())
    """
    if matrix is not None:
        matrix = np.asarray(matrix, dtype="float32")
        if matrix.ndim != 2 or matrix.shape[0] != vocab_size:
            raise ValueError(f"an embedding matrix of shape {matrix.shape} does not fit a vocabulary of {vocab_size}")
        dim = matrix.shape[1]
    # `weights` sets the initial values without putting the matrix into the saved config.
    return layers.Embedding(
        vocab_size,
        dim,
        mask_zero=True,
        weights=matrix,
        trainable=trainable,
        embeddings_regularizer=regularizer,
        name="token_embedding",
    )


def l2_regularizer(l2: float) -> regularizers.L2 | None:
    """L2(l2), or None for 0 so an unregularized model has no loss term (a zero L2 still costs a pass per step)."""
    return regularizers.L2(l2) if l2 else None


def probabilities(num_classes: int, regularizer: regularizers.Regularizer | None = None) -> layers.Dense:
    """The output layer: class probabilities."""
    # float32 even under mixed precision, for a stable softmax and loss.
    return layers.Dense(
        num_classes, activation="softmax", dtype="float32", kernel_regularizer=regularizer, name="probabilities"
    )
