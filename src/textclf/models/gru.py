"""A single GRU over the embedded tokens: the LSTM's lighter sibling, a third fewer recurrent weights."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer


@dataclasses.dataclass(frozen=True)
class Settings:
    """The GRU's own settings (`--model-arg`)."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: int = 128
    dropout: float = 0.3
    l2: float = 0.0  # on the embedding, the GRU's kernel and the output; 0 adds no term


def gru(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> GRU (last text step's state) -> Dropout -> softmax."""
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    x = layers.GRU(settings.units, kernel_regularizer=reg)(x)
    return classifier(inputs, x, run.num_classes, "gru", dropout=settings.dropout, regularizer=reg)
