"""Kim (2014)-style CNN: parallel convolutions of several widths, each max-pooled over the text, then softmax."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import MaskedConv1D, MaskedGlobalMaxPooling1D


@dataclasses.dataclass(frozen=True)
class Settings:
    """Kim 2014's filters and dropout over bigram to 4-gram detectors."""

    embedding_dim: int = 128  # unless --embeddings sets the width
    filters: int = 100  # per width, as Kim 2014
    kernel_sizes: tuple[int, ...] = (2, 3, 4)  # bigram to 4-gram detectors; at least two widths
    dropout: float = 0.5  # Kim's value: the 300 pooled features overfit quickly without it
    l2: float = 0.0  # on the embedding, every convolution's kernel and the output; 0 adds no term


def text_cnn(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Embedding -> [Conv1D(k) -> masked max over steps] for each width k -> concatenate -> Dropout -> softmax."""
    reg = l2_regularizer(settings.l2)
    inputs, x = embedded_tokens(run, settings.embedding_dim, reg)
    pooled = []
    for size in settings.kernel_sizes:
        features = MaskedConv1D(settings.filters, size, activation="relu", kernel_regularizer=reg)(x)
        pooled.append(MaskedGlobalMaxPooling1D()(features))
    x = layers.Concatenate()(pooled)
    return classifier(inputs, x, run.num_classes, "text_cnn", dropout=settings.dropout, regularizer=reg)
