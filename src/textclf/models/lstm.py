"""The IMDB project's single LSTM: Embedding(10000, 128) -> LSTM(256) -> Dense."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens


@dataclasses.dataclass(frozen=True)
class Settings:
    """The PyTorch original's sizes; it had no dropout and no L2, so neither has this one."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    units: int = 256


def lstm(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """The PyTorch original's architecture, unchanged; its recipe lives in the run defaults."""
    inputs, x = embedded_tokens(run, settings.embedding_dim)
    x = layers.LSTM(settings.units)(x)
    return classifier(inputs, x, run.num_classes, "lstm")
