"""An LSTM whose states are pooled by learned attention instead of keeping only the last one."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import AttentionPooling


def attention_lstm(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, units: int = 128,
                   attention_units: int = 64, dropout: float = 0.3, l2: float = 0.0, embeddings=None,
                   freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> LSTM (all states) -> additive attention pooling (masked) -> Dropout -> softmax.

    Arguments: those every builder takes (`blocks.embedded_tokens`); `units` for the LSTM's states,
    `attention_units` for the scorer that weighs them.
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    x = layers.LSTM(units, return_sequences=True, kernel_regularizer=reg)(x)
    x = AttentionPooling(attention_units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, num_classes, "attention_lstm", dropout=dropout, regularizer=reg)
