"""Kim (2014)-style CNN: parallel convolutions of several widths, each max-pooled over the text, then softmax."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens, l2_regularizer
from textclf.models.layers import MaskedConv1D, MaskedGlobalMaxPooling1D


def text_cnn(vocab_size: int, num_classes: int, *, embedding_dim: int = 128, filters: int = 100,
             kernel_sizes: tuple[int, ...] = (2, 3, 4), dropout: float = 0.5, l2: float = 0.0, embeddings=None,
             freeze_embeddings: bool = False) -> keras.Model:
    """Embedding -> [Conv1D(k) -> masked max over steps] for each width k -> concatenate -> Dropout -> softmax.

    Args:
        filters: per width, as Kim 2014.
        kernel_sizes: bigram to 4-gram detectors; at least two widths.
        dropout: Kim's value: the 300 pooled features overfit quickly without it.
        The others: those every builder takes (`blocks.embedded_tokens`).
    """
    reg = l2_regularizer(l2)
    inputs, x = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings, reg)
    pooled = []
    for size in kernel_sizes:
        features = MaskedConv1D(filters, size, activation="relu", kernel_regularizer=reg)(x)
        pooled.append(MaskedGlobalMaxPooling1D()(features))
    x = layers.Concatenate()(pooled)
    return classifier(inputs, x, num_classes, "text_cnn", dropout=dropout, regularizer=reg)
