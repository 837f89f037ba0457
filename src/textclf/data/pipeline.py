"""tf.data pipelines: vectorize, cache, shuffle, batch by length, prefetch.

Sequences are padded on the right with 0 and the models mask it (`mask_zero=True`),
which is what lets Keras pick the cuDNN LSTM kernel on GPU. Training batches group
texts of similar length, so a batch of short texts is not padded to --max-len:
on IMDB that skips about a third of the LSTM steps.
"""

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
OOV = 1  # TextVectorization's out-of-vocabulary id
VECTORIZE_CHUNK = 1024  # texts vectorized per call; the op is much faster on batches


def clip_tokens(ids: tf.RaggedTensor, max_len: int, truncate: str) -> tf.RaggedTensor:
    """Keeps `max_len` tokens per row (the last ones when `truncate` is "pre").

    A row left with no token (an empty or all-punctuation text) becomes one OOV
    token: a row that is all padding breaks the cuDNN kernel and says nothing.
    """
    ids = ids[:, -max_len:] if truncate == "pre" else ids[:, :max_len]
    empty = ids.row_lengths() == 0
    filler = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(empty, tf.int64))], tf.cast(OOV, ids.dtype)),
        tf.cast(empty, tf.int64),
    )
    return tf.concat([ids, filler], axis=1)


def _padded_with_lengths(ids: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
    return ids.to_tensor(0), ids.row_lengths()


def encode(vectorizer: keras.layers.TextVectorization, texts, max_len: int, truncate: str) -> tf.Tensor:
    """Raw strings -> right-padded int ids of shape [batch, <= max_len]."""
    return clip_tokens(vectorizer(texts), max_len, truncate).to_tensor(0)


def bucket_boundaries(max_len: int) -> list[int]:
    """Four length buckets: up to a quarter, a half, three quarters and all of max_len."""
    return sorted({max(1, max_len * k // 4) for k in (1, 2, 3)})


def make_dataset(
    texts: list[str],
    labels: np.ndarray,
    vectorizer: keras.layers.TextVectorization,
    *,
    max_len: int,
    truncate: str,
    global_batch: int,
    training: bool,
    seed: int,
) -> tf.data.Dataset:
    """A batched dataset of (ids, label). Evaluation keeps the input order."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(texts, dtype=object), np.asarray(labels, dtype="int32")))
    ds = ds.batch(VECTORIZE_CHUNK).map(
        lambda t, y: (*_padded_with_lengths(clip_tokens(vectorizer(t), max_len, truncate)), y),
        num_parallel_calls=AUTOTUNE,
    )
    ds = ds.unbatch().map(lambda ids, length, y: (ids[:length], y))  # one unpadded row each
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(texts))).cache()
    if training:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        boundaries = bucket_boundaries(max_len)
        ds = ds.bucket_by_sequence_length(
            lambda ids, _: tf.shape(ids)[0], boundaries, [global_batch] * (len(boundaries) + 1)
        )
    else:
        ds = ds.padded_batch(global_batch)
    return ds.prefetch(AUTOTUNE)
