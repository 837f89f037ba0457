"""What the run gives every scratch builder (`RunInputs`), and the opening and the ending they share, so that a
builder is only its body.

    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = layers.GRU(settings.units, kernel_regularizer=reg)(x)  # the body
    return classifier(inputs, x, run.num_classes, "gru", dropout=settings.dropout, regularizer=reg)

Layer names and their order are part of a trained model: a run's backups are keyed by layer paths and an
exported model is rebuilt from its config, so the opening and the ending create their layers in the order the
builders always have (input, embedding, the body's layers, dropout, softmax).
"""

import dataclasses

import keras
import numpy as np
from keras import layers, regularizers


@dataclasses.dataclass(frozen=True)
class RunInputs:
    """What the run gives a builder from its data and its flags, the same for every model: model_args cannot set it
    (a model's own settings are its module's `Settings`).

    Example:
        run = RunInputs(vocab_size=10_000, num_classes=2, max_len=250)
        model = gru.gru(run, gru.Settings(units=64))  # from textclf.models import gru
    """

    vocab_size: int  # ids the vectorizer gives, padding (0) and OOV (1) included: the embedding's rows
    num_classes: int  # width of the softmax
    # --max-len, the longest input the model is given; serving cuts texts to it too. Only a model with a position
    # table (the transformer) reads it: its rows.
    max_len: int
    # --embeddings: initial vectors over the vocabulary, shape (vocab_size, any width), from
    # `textclf.data.embeddings.load_vectors`; they set the embedding width, over the model's embedding_dim.
    embeddings: np.ndarray | None = None
    freeze_embeddings: bool = False  # --freeze-embeddings: keep `embeddings` fixed during training


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


def embedded_tokens(run: RunInputs, embedding_dim: int,
                    regularizer: regularizers.Regularizer | None = None) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The opening: the token-id input and its embedded tokens, whose mask carries the padding to the body.

    Args:
        run: the vocabulary size, and the --embeddings vectors with whether to freeze them (`token_embedding`).
        embedding_dim: width of the vectors (the model's setting), unless `run.embeddings` sets it.
        regularizer: penalty on the vectors: `l2_regularizer(settings.l2)` of the model's `l2`, which also goes on
            every kernel of the body and on the output (`classifier`); l2=0 adds no term.

    Returns:
        (inputs, x): the model input and the embedded tokens, shape (batch, steps, width).
    """
    inputs = token_ids()
    embedding = token_embedding(
        run.vocab_size, embedding_dim, matrix=run.embeddings, trainable=not run.freeze_embeddings,
        regularizer=regularizer
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
