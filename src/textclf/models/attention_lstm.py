"""An LSTM whose states are pooled by learned attention instead of keeping only the last one."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import AttentionPooling


@dataclasses.dataclass(frozen=True)
class Settings:
    """The LSTM's and the attention scorer's sizes, and the rates."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: int = 128  # the LSTM's states
    attention_units: int = 64  # the scorer that weighs them
    dropout: float = 0.3
    l2: float = 0.0  # on the embedding, the LSTM's and the scorer's kernels and the output; 0 adds no term


def attention_lstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> LSTM (all states) -> additive attention pooling (masked) -> Dropout -> softmax."""
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = layers.LSTM(settings.units, return_sequences=True, kernel_regularizer=reg)(x)
    x = AttentionPooling(settings.attention_units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, run.num_classes, "attention_lstm", dropout=settings.dropout, regularizer=reg)
