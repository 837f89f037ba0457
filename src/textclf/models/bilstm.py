"""A bidirectional LSTM: the text read both ways, so the start of a long review is not forgotten by the end."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer


@dataclasses.dataclass(frozen=True)
class Settings:
    """The bidirectional LSTM's own settings (`--model-arg`)."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: int = 64  # per direction; the two final states are concatenated
    dropout: float = 0.3
    l2: float = 0.0  # on the embedding, both LSTMs' kernels and the output; 0 adds no term


def bilstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> Bidirectional(LSTM) -> Dropout -> softmax."""
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    # The mask makes the backward LSTM start at the last text token, not at the padding.
    x = layers.Bidirectional(layers.LSTM(settings.units, kernel_regularizer=reg))(x)
    return classifier(inputs, x, run.num_classes, "bilstm", dropout=settings.dropout, regularizer=reg)
