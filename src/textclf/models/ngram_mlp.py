"""Bag of n-grams -> small MLP (Chollet, Deep Learning with Python, 2nd ed., ch. 11): which unigrams and
bigrams a text holds, as one multi-hot vector, -> Dense(16, relu) -> Dropout -> softmax."""

import keras
from keras import layers

from textclf.errors import InputError
from textclf.models.blocks import l2_regularizer, probabilities, token_ids
from textclf.models.layers import BigramHashing


def ngram_mlp(
    vocab_size: int,
    num_classes: int,
    *,
    buckets: int = 200_000,  # bigram features, hashed as fastText's; see `layers.BigramHashing`
    hidden_units: int = 16,  # Chollet's width: a narrow layer is what keeps 200k features from memorising
    dropout: float = 0.5,
    l2: float = 0.0,
    embeddings=None,
    freeze_embeddings: bool = False,
) -> keras.Model:
    """[multi-hot unigrams, multi-hot hashed bigrams] -> Dense(hidden, relu) -> Dropout -> softmax.

    Each n-gram counts once however often it occurs (binary features, as NBSVM's), so a long text is not
    an average that dilutes its few telling phrases. Padding never becomes a feature: the multi-hot
    column of id 0 (padding, "no bigram") is dropped, so a text's prediction does not depend on its batch.

    Args:
        vocab_size: unigram features, padding (0) and OOV (1) included.
        num_classes: width of the softmax.
        l2: L2 on both kernels; 0 = none.
        embeddings, freeze_embeddings: not for this model (it has no word vectors); giving vectors is an error.
    """
    if embeddings is not None:
        raise InputError("ngram_mlp has no word vectors to start from --embeddings; drop the flag or pick "
                         "another model")
    reg = l2_regularizer(l2)
    inputs = token_ids()
    unigrams = layers.CategoryEncoding(vocab_size, output_mode="multi_hot", name="unigrams")(inputs)
    bigram_ids = BigramHashing(buckets)(inputs)
    bigrams = layers.CategoryEncoding(buckets + 1, output_mode="multi_hot", name="bigrams")(bigram_ids)
    x = layers.Concatenate()([unigrams[:, 1:], bigrams[:, 1:]])
    x = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="hidden")(x)
    x = layers.Dropout(dropout)(x)
    outputs = probabilities(num_classes, reg)(x)
    return keras.Model(inputs, outputs, name="ngram_mlp")
