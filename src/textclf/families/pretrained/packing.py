"""The subword cut of a pretrained model's packer, the batched datasets of its input dicts, and the raw-text model
with the packer inside."""

import functools

import keras
import numpy as np
import tensorflow as tf

from textclf.config import RunConfig
from textclf.data import splits, text
from textclf.data.pipeline import AUTOTUNE, VECTORIZE_CHUNK, EpochShuffle, bucket_boundaries, fills_every_replica
from textclf.families import Prepared
from textclf.models.raw_text import EncoderRawTextClassifier

# The datasets' defaults name the from-scratch cut: pre keeps a text's end, post its start.
SUBWORD_CUT = {"pre": "tail", "post": "head"}

TRUNCATIONS = ("head", "tail", "head_tail")

HEAD_SHARE = 4  # head_tail keeps a quarter from the start: 128 + 382 of the 510 at 512 (Sun et al. 2019)


class TracedPacking:
    """The `call` of a packer layer whose `_pack(texts)` does the work. Traced inside a model, `_pack` runs as it is;
    called eagerly (serving's warm-up, an explanation's inputs), it runs as one `tf.function` traced once per packer:
    keras-hub's layers take a pure-Python path when called eagerly, and a new `tf.function` per call traced it anew
    each time (half a second of every explained MiniLM request)."""

    def call(self, texts):
        return self._pack(texts) if tf.inside_function() else self._traced_pack(texts)

    @functools.cached_property
    def _traced_pack(self):
        return tf.function(self._pack, reduce_retracing=True)


def keep_tokens(ids: tf.RaggedTensor, budget: int, truncate: str) -> tf.RaggedTensor:
    """At most `budget` ids per row: the first ("head"), the last ("tail"), or a quarter of the budget (rounded
    up) from the start and the rest from the end ("head_tail")."""
    if truncate == "head":
        return ids[:, :budget]
    if truncate == "tail":
        return ids[:, -budget:]
    head = -(-budget // HEAD_SHARE)
    lengths = ids.row_lengths()
    positions = tf.ragged.range(lengths)
    keep = (positions < head) | (positions >= tf.expand_dims(lengths - (budget - head), 1))
    return tf.ragged.boolean_mask(ids, keep)


def make_dataset(texts, labels, packer, *, global_batch: int, shuffle: EpochShuffle | None = None,
                 replicas: int = 1) -> tf.data.Dataset:
    """Batches of (input dict, label), each padded to its longest row. Evaluation (no `shuffle`) keeps the
    order; training batches follow `shuffle`'s order in length buckets, as `pipeline.make_dataset`'s do.

    `packer` may be any layer that turns strings into right-padded input dicts and has `pad_id`,
    `sequence_length` and `input_names` (the decoder family's `PromptPacker` too)."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(texts, dtype=object), np.asarray(labels, dtype="int32")))
    ds = ds.batch(VECTORIZE_CHUNK).map(lambda t, y: (packer(t), y), num_parallel_calls=AUTOTUNE).unbatch()
    ds = ds.map(lambda x, y: ({k: v[: tf.reduce_sum(x["padding_mask"])] for k, v in x.items()}, y))
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(texts))).cache()
    pads = {"token_ids": packer.pad_id, "padding_mask": 0, "segment_ids": 0}
    pads = ({name: tf.constant(pads[name], ds.element_spec[0][name].dtype) for name in packer.input_names},
            tf.constant(0, tf.int32))
    if shuffle is None:
        return ds.padded_batch(global_batch, padding_values=pads).prefetch(AUTOTUNE)
    boundaries = bucket_boundaries(packer.sequence_length)
    ds = shuffle(ds).bucket_by_sequence_length(
        lambda x, _: tf.shape(x["token_ids"])[0], boundaries, [global_batch] * (len(boundaries) + 1),
        padding_values=pads,
    )
    if replicas > 1:
        ds = ds.filter(lambda _, labels: fills_every_replica(tf.shape(labels)[0], replicas))
    batches = int(ds.reduce(np.int64(0), lambda count, _: count + 1))  # the same every epoch, as in pipeline
    return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(AUTOTUNE)


def packed(config: RunConfig, data: splits.Splits, packer, *, global_batch: int, replicas: int) -> Prepared:
    """The three batched datasets of `packer`'s input dicts (`make_dataset`; train reshuffled each epoch),
    with the packer as the state that build and serving use."""
    shuffle = EpochShuffle(config.seed)
    datasets = {
        name: make_dataset(text.filtered(getattr(data, name)["text"].tolist(), config.text_filter),
                           getattr(data, name)["label"].to_numpy(),
                           packer, global_batch=global_batch, shuffle=shuffle if name == "train" else None,
                           replicas=replicas)
        for name in ("train", "val", "test")
    }
    return Prepared(datasets, (shuffle,), {}, packer)


def serving_model(config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
    """Raw strings -> the --text-filter -> the run's packer (`prepared.state`), as in training -> `model`."""
    return EncoderRawTextClassifier(prepared.state, model, text_filter=config.text_filter)
