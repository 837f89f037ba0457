"""An LSTM whose states are pooled by learned attention instead of keeping only the last one."""

import keras
from keras import layers

from textclf.models.blocks import l2_regularizer, probabilities, token_embedding, token_ids
from textclf.models.layers import AttentionPooling


def attention_lstm(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    units: int = 128,
    attention_units: int = 64,
    dropout: float = 0.3,
    l2: float = 0.0,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """Embedding -> LSTM (all states) -> additive attention pooling (masked) -> Dropout -> softmax.

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
    x = layers.LSTM(units, return_sequences=True, kernel_regularizer=reg)(x)
    x = AttentionPooling(attention_units, kernel_regularizer=reg)(x)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    return keras.Model(inputs, outputs, name="attention_lstm")
