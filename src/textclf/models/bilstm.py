"""A bidirectional LSTM: the text read both ways, so the start of a long review is not forgotten by the end."""

import keras
from keras import layers

from textclf.models.blocks import l2_regularizer, probabilities, token_embedding, token_ids


def bilstm(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    units: int = 64,  # per direction; the two final states are concatenated
    dropout: float = 0.3,
    l2: float = 0.0,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """Embedding -> Bidirectional(LSTM) -> Dropout -> softmax.

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
    # The mask makes the backward LSTM start at the last text token, not at the padding.
    x = layers.Bidirectional(layers.LSTM(units, kernel_regularizer=reg))(x)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    return keras.Model(inputs, outputs, name="bilstm")
