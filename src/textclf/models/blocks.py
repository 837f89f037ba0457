"""The opening and the ending every scratch builder shares, so that a builder is only its body.

    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = layers.GRU(units, kernel_regularizer=reg)(x)  # the body
    return classifier(inputs, x, num_classes, "gru", dropout=dropout, regularizer=reg)

Layer names and their order are part of a trained model: a run's backups are keyed by layer paths and an
exported model is rebuilt from its config, so the opening and the ending create their layers in the order the
builders always have (input, embedding, the body's layers, dropout, softmax).
"""

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


def embedded_tokens(vocab_size: int, embedding_dim: int, embeddings: np.ndarray | None = None,
                    freeze_embeddings: bool = False,
                    regularizer: regularizers.Regularizer | None = None) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The opening: the token-id input and its embedded tokens, whose mask carries the padding to the body.

    A builder passes on here the arguments every builder takes (`models/registry.py`), under the same names.

    Args:
        vocab_size: rows of the embedding, padding (0) and OOV (1) included.
        embedding_dim: width of the vectors, unless `embeddings` sets it.
        embeddings: optional pretrained vectors, shape (vocab_size, any width); see `token_embedding`.
        freeze_embeddings: True keeps `embeddings` fixed during training.
        regularizer: penalty on the vectors: `l2_regularizer(l2)` of the builder's `l2`, which also goes on
            every kernel of the body and on the output (`classifier`); l2=0 adds no term.

    Returns:
        (inputs, x): the model input and the embedded tokens, shape (batch, steps, width).
    """
    inputs = token_ids()
    embedding = token_embedding(
        vocab_size, embedding_dim, matrix=embeddings, trainable=not freeze_embeddings, regularizer=regularizer
    )
    return inputs, embedding(inputs)


def classifier(
    inputs: keras.KerasTensor,
    features: keras.KerasTensor,
    num_classes: int,
    name: str,
    *,
    dropout: float | None = None,
    regularizer: regularizers.Regularizer | None = None,
) -> keras.Model:
    """The ending: Dropout on the body's features (unless None), the float32 softmax, and the model.

    Args:
        inputs: the input from `embedded_tokens`.
        features: what the body gives, shape (batch, features).
        num_classes: width of the softmax.
        name: the model's name, the builder's (and its registry key).
        dropout: rate on the features; None adds no Dropout layer (0 adds one that does nothing).
        regularizer: penalty on the output kernel.
    """
    if dropout is not None:
        features = layers.Dropout(dropout)(features)
    outputs = probabilities(num_classes, regularizer)(features)
    return keras.Model(inputs, outputs, name=name)
