"""Kim (2014)-style CNN: parallel convolutions of several widths, each max-pooled over the text, then softmax."""

import keras
from keras import layers

from textclf.models.blocks import l2_regularizer, probabilities, token_embedding, token_ids
from textclf.models.layers import MaskedConv1D, MaskedGlobalMaxPooling1D


def text_cnn(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    filters: int = 100,  # per width, as Kim 2014
    kernel_sizes: tuple[int, ...] = (2, 3, 4),  # bigram to 4-gram detectors; at least two widths
    dropout: float = 0.5,  # Kim's value: the 300 pooled features overfit quickly without it
    l2: float = 0.0,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """Embedding -> [Conv1D(k) -> masked max over steps] for each width k -> concatenate -> Dropout -> softmax.

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
    pooled = []
    for size in kernel_sizes:
        features = MaskedConv1D(filters, size, activation="relu", kernel_regularizer=reg)(x)
        pooled.append(MaskedGlobalMaxPooling1D()(features))
    x = layers.Concatenate()(pooled)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    return keras.Model(inputs, outputs, name="text_cnn")
