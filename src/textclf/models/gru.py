"""A single GRU over the embedded tokens: the LSTM's lighter sibling, a third fewer recurrent weights."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer


def gru(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 128, dropout: float = 0.3,
        l2: float = 0.0, embeddings=None, freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> GRU (last text step's state) -> Dropout -> softmax.

    Arguments: those every builder takes (`blocks.embedded_tokens`), and the layers' sizes and rates.
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = layers.GRU(units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, num_classes, "gru", dropout=dropout, regularizer=reg)
