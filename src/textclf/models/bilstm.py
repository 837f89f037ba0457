"""A bidirectional LSTM: the text read both ways, so the start of a long review is not forgotten by the end."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer


def bilstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 64, dropout: float = 0.3,
           l2: float = 0.0, embeddings=None, freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> Bidirectional(LSTM) -> Dropout -> softmax.

    Args:
        units: per direction; the two final states are concatenated.
        The others: those every builder takes (`blocks.embedded_tokens`), and the layers' sizes and rates.
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    # The mask makes the backward LSTM start at the last text token, not at the padding.
    x = layers.Bidirectional(layers.LSTM(units, kernel_regularizer=reg))(x)
    return classifier(inputs, x, num_classes, "bilstm", dropout=dropout, regularizer=reg)
