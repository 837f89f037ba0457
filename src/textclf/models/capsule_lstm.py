"""An LSTM whose states are routed into capsules (dynamic routing), which the softmax reads."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import Capsule


def capsule_lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 64,
                 num_capsules: int = 10, capsule_dim: int = 16, routings: int = 3, dropout: float = 0.3,
                 l2: float = 0.0, embeddings=None, freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> LSTM (all states) -> Capsule (masked routing) -> Flatten -> Dropout -> softmax.

    Arguments: those every builder takes (`blocks.embedded_tokens`); `units` for the LSTM, then `num_capsules`
    capsules of `capsule_dim` each, routed `routings` times.
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = layers.LSTM(units, return_sequences=True, kernel_regularizer=reg)(x)
    x = Capsule(num_capsules, capsule_dim, routings=routings, kernel_regularizer=reg)(x)
    x = layers.Flatten()(x)
    return classifier(inputs, x, num_classes, "capsule_lstm", dropout=dropout, regularizer=reg)
