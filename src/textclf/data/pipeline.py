"""tf.data pipelines: vectorize, cache, shuffle, batch by length, prefetch.

Sequences are padded on the right with 0 and the models mask it (`mask_zero=True`),
which is what lets Keras pick the cuDNN LSTM kernel on GPU. Training batches group
texts of similar length, so a batch of short texts is not padded to --max-len:
on IMDB that skips about a third of the LSTM steps. Their order is keyed on (seed, epoch)
(`EpochShuffle`), so a resumed run trains its epochs on the batches the uninterrupted run saw.
"""

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
OOV = 1  # TextVectorization's out-of-vocabulary id
VECTORIZE_CHUNK = 1024  # texts vectorized per call; the op is much faster on batches


def cut_tokens(tokens: tf.RaggedTensor, max_len: int, truncate: str) -> tf.RaggedTensor:
    """Keeps `max_len` tokens per row (the last ones when `truncate` is "pre"): ids, or the words they stand for."""
    return tokens[:, -max_len:] if truncate == "pre" else tokens[:, :max_len]


def clip_tokens(ids: tf.RaggedTensor, max_len: int, truncate: str) -> tf.RaggedTensor:
    """`cut_tokens`, and a row left with no token (an empty or all-punctuation text) becomes one OOV
    token: a row that is all padding breaks the cuDNN kernel and says nothing.
    """
    ids = cut_tokens(ids, max_len, truncate)
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


def fills_every_replica(rows, replicas: int):
    """Whether tf.distribute's split of a batch of `rows` leaves no replica without a row: it gives each
    replica ceil(rows / replicas) rows until they run out (4 rows on 3 replicas: 2, 2 and 0). `rows` may be
    a tensor."""
    per_replica = (rows + replicas - 1) // replicas
    return (rows + per_replica - 1) // per_replica == replicas


class EpochShuffle(keras.callbacks.Callback):
    """Shuffles the training rows anew each epoch, keyed on (seed, epoch).

    tf.data's own reshuffling is keyed on how many times the dataset has been read, which starts
    again at epoch 1's order when a killed run resumes. Here fit tells the callback each epoch's
    number before the epoch's iterator is made, and the order follows from it alone.

    Args:
        seed: the run's seed.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        with tf.device("/cpu:0"):  # read by the input pipeline, which runs on the host
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)

    def __call__(self, rows: tf.data.Dataset) -> tf.data.Dataset:
        """`rows` (cached, of known size) in this epoch's order.

        A stateless permutation keyed on (seed, epoch): `Dataset.shuffle` with a tensor seed fails to trace
        when the global seed is 0 (`--seed 0`: TensorFlow's get_seed tests `(0, seed) == (0, 0)` in Python).
        """
        size = int(rows.cardinality())

        def permuted(*columns):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(size), seed=tf.stack([tf.constant(self.seed, tf.int64), self.epoch]))
            return tf.nest.map_structure(lambda column: tf.gather(column, order), columns)

        def dense(*columns):  # unbatching a ragged batch gives ragged rows of rank 0: the plain tensors they are
            return tf.nest.map_structure(tf.convert_to_tensor, columns)

        # flat_map builds the permutation each time the dataset is read, so it reads the epoch then.
        return tf.data.Dataset.from_tensors(0).flat_map(
            lambda _: rows.ragged_batch(size).map(permuted).unbatch().map(dense))


def make_dataset(
    texts: list[str],
    labels: np.ndarray,
    vectorizer: keras.layers.TextVectorization,
    *,
    max_len: int,
    truncate: str,
    global_batch: int,
    shuffle: EpochShuffle | None = None,
    replicas: int = 1,
) -> tf.data.Dataset:
    """A batched dataset of (ids, label). Evaluation (no `shuffle`) keeps the input order. `labels` are class
    indices, or a float matrix of a row's targets (a distillation's: `training.distillation.targets`).

    Training batches come from `shuffle`'s order and length buckets; their number, which bucketing
    makes a few more than rows / batch, is counted once and set as the dataset's cardinality. Over several
    `replicas`, a bucket's short last batch that would leave a replica with no row is left out of the
    epoch (at most replicas - 1 rows a bucket, other rows each epoch): a replica's training step on no
    rows gives BatchNormalization NaN statistics and gradients.
    """
    labels = np.asarray(labels, dtype="float32" if np.ndim(labels) == 2 else "int32")
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(texts, dtype=object), labels))
    ds = ds.batch(VECTORIZE_CHUNK).map(
        lambda t, y: (*_padded_with_lengths(clip_tokens(vectorizer(t), max_len, truncate)), y),
        num_parallel_calls=AUTOTUNE,
    )
    ds = ds.unbatch().map(lambda ids, length, y: (ids[:length], y))  # one unpadded row each
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(texts))).cache()
    if shuffle is None:
        return ds.padded_batch(global_batch).prefetch(AUTOTUNE)
    boundaries = bucket_boundaries(max_len)
    ds = shuffle(ds).bucket_by_sequence_length(
        lambda ids, _: tf.shape(ids)[0], boundaries, [global_batch] * (len(boundaries) + 1)
    )
    if replicas > 1:
        ds = ds.filter(lambda _, labels: fills_every_replica(tf.shape(labels)[0], replicas))
    # Each bucket ends with one partial batch whatever the order, so one count holds for every epoch.
    batches = int(ds.reduce(np.int64(0), lambda count, _: count + 1))
    return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(AUTOTUNE)
