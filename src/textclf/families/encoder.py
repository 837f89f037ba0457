"""Pretrained encoders through keras-hub: loading, preprocessing, classifier, LoRA, optimizer, raw-text model.

A preset is a keras-hub preset name (downloaded from its hub), a local Keras preset folder
(`save_to_preset`), or a local Hugging Face folder (`config.json`, `model.safetensors`, tokenizer files),
which keras-hub's own converters read. The encoder's subword tokenizer and packer run inside the model
(`TextPacker`), so the exported model takes raw strings as the from-scratch family's does.
"""

import contextlib
import json
from collections.abc import Collection, Iterator
from pathlib import Path

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state  # Keras' call context: no public API reads or sets it
from keras_hub.src.utils import preset_utils  # the download of one file of a preset: no public API does it

from textclf.data import text
from textclf.data.pipeline import AUTOTUNE, VECTORIZE_CHUNK, EpochShuffle, bucket_boundaries, fills_every_replica
from textclf.errors import InputError
from textclf.models.raw_text import StringsModel
from textclf.models.registry import PRETRAINED_ENCODERS
from textclf.training import trainer
from textclf.training.optimizers import FusedAdamW

FAMILIES = {  # --model -> (backbone class, preprocessor class), from the registry's names
    name: (getattr(keras_hub.models, encoder.backbone), getattr(keras_hub.models, encoder.preprocessor))
    for name, encoder in PRETRAINED_ENCODERS.items()
}
SEGMENTED = {name for name, encoder in PRETRAINED_ENCODERS.items() if encoder.segment_ids}
TRUNCATIONS = ("head", "tail", "head_tail")
HEAD_SHARE = 4  # head_tail keeps a quarter from the start: 128 + 382 of the 510 at 512 (Sun et al. 2019)
NO_WEIGHT_DECAY = ["bias", "gamma", "beta", "embeddings"]  # biases, LayerNorm scales and offsets, embeddings


def preset_config(preset: str, known: Collection[str], kind: str) -> dict | None:
    """Fails early, in one line, on a preset that cannot be had; returns a folder's config.json, or None for a hub's
    preset: a keras-hub `kind` preset name in `known`, or an address (kaggle://, hf://, gs://) the hub decides on."""
    path = Path(preset).expanduser()
    if not path.exists():
        if "://" in preset:
            return None
        if "/" in preset or preset.startswith((".", "~")):
            raise InputError(f"--preset {preset}: no such folder; a preset folder is a Hugging Face model's or one "
                             "that keras-hub's save_to_preset writes: benchmarks/tiny_decoder.py writes a small random "
                             "decoder, benchmarks/tiny_chinese_bert.py a small random Chinese BERT (see their --help)")
        if preset not in known:
            raise InputError(f"--preset {preset}: neither a folder nor a keras-hub {kind} preset "
                             f"({', '.join(sorted(known)[:4])}, ...)")
        return None
    if not (path / "config.json").is_file():
        raise InputError(f"--preset {preset}: no config.json there (neither a Keras preset nor a Hugging Face folder)")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        raise InputError(f"--preset {preset}: its config.json is not readable JSON ({error})") from None
    if not isinstance(config, dict):
        raise InputError(f"--preset {preset}: its config.json holds a JSON {type(config).__name__}, not an object")
    return config


def check_preset(family: str, preset: str) -> None:
    """Fails early, in one line, on a preset that cannot hold this family's weights."""
    config = preset_config(preset, FAMILIES[family][0].presets, family)
    if config is None or (Path(preset).expanduser() / "metadata.json").is_file():
        return  # a hub's preset, or a Keras preset folder
    model_type = str(config.get("model_type", ""))
    if model_type.startswith("deberta"):
        raise InputError(
            f"--preset {preset}: keras-hub {keras_hub.__version__} cannot convert Hugging Face {model_type} "
            "checkpoints (it converts BERT, DistilBERT, RoBERTa, ALBERT and XLM-R); use a keras-hub preset "
            "such as deberta_v3_base_en or a Keras preset folder"
        )


def _from_preset(cls, family: str, preset: str, **kwargs):
    check_preset(family, preset)
    return from_preset(cls, preset, family, **kwargs)


@contextlib.contextmanager
def _loading(preset: str, model: str) -> Iterator[None]:
    """A failure to load `preset` as one line of InputError naming `--model model`."""
    try:
        yield
    except Exception as error:  # keras-hub, kagglehub and huggingface_hub raise many kinds for one cause
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"--preset {preset}: cannot load it as --model {model}: {reason}") from None


def from_preset(cls, preset: str, model: str, **kwargs):
    """`cls.from_preset` on a preset name or folder, its failure one line of InputError naming `--model model`."""
    source = str(Path(preset).expanduser()) if Path(preset).expanduser().exists() else preset
    with _loading(preset, model):
        return cls.from_preset(source, **kwargs)


def fetch_preset(preset: str, model: str) -> None:
    """Downloads a hub preset's config.json into keras-hub's cache, where the loads that follow find it, so that a
    hub that cannot be reached fails before a run folder is made (a folder is already here)."""
    if Path(preset).expanduser().exists():
        return
    with _loading(preset, model):
        preset_utils.get_file(preset, preset_utils.CONFIG_FILE)


def load_preprocessor(family: str, preset: str, *, max_len: int):
    """The tokenizer and packer of `preset` (a keras-hub TextClassifierPreprocessor), packing to `max_len`.

    Args:
        family: a key of FAMILIES.
        preset: a keras-hub preset name, a Keras preset folder or a Hugging Face folder.
        max_len: tokens per text, the special tokens included.
    """
    return _from_preset(FAMILIES[family][1], family, preset, sequence_length=max_len)


def load_backbone(family: str, preset: str, *, max_len: int, virtual_tokens: int = 0, scratch: bool = False):
    """The encoder of `preset`, with its weights or (`scratch`) its architecture randomly initialised, for texts of
    `max_len` tokens after `virtual_tokens` places of a soft prompt.

    Variables are made here: under a strategy, call it inside `strategy.scope()`.
    """
    backbone = _from_preset(FAMILIES[family][0], family, preset, load_weights=not scratch)
    if max_len + virtual_tokens > backbone.max_sequence_length:
        asked = f"--max-len {max_len}" + (f" and --virtual-tokens {virtual_tokens}" if virtual_tokens else "")
        raise InputError(f"{asked}: {preset} has position embeddings for {backbone.max_sequence_length} tokens")
    return backbone


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


@keras.saving.register_keras_serializable(package="textclf")
class TextPacker(keras.layers.Layer):
    """Raw strings -> the backbone's input dict, cut by `truncate` before the special tokens are added.

    keras-hub's packer only truncates at the end, so tail and head_tail cut the token ids first.

    Args:
        preprocessor: the family's keras-hub TextClassifierPreprocessor (its sequence_length is max_len).
        truncate: one of TRUNCATIONS.
        input_names: the backbone's input keys (segment_ids only where the family has them).
        virtual_tokens: places kept after the start token for a soft prompt (`families.prompts`), holding the
            start token's id until the prompt's vectors replace their embeddings; they count in sequence_length.
    """

    def __init__(self, preprocessor, truncate: str, input_names, virtual_tokens: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.truncate = truncate
        self.input_names = list(input_names)
        self.virtual_tokens = virtual_tokens

    def build(self, input_shape=None):
        if not self.preprocessor.built:
            self.preprocessor.build(None)  # makes its packer, from the tokenizer's special token ids
        super().build(input_shape)

    def get_build_config(self):
        # As keras-hub's preprocessing layers: no build at loading, before the tokenizer's vocabulary is back.
        return None

    @property
    def pad_id(self) -> int:
        return self.preprocessor.tokenizer.pad_token_id

    @property
    def sequence_length(self) -> int:
        return self.preprocessor.sequence_length

    def call(self, texts):
        # keras-hub's layers run a pure-Python path when called eagerly (lists out); traced, they run tf-text.
        return self._pack(texts) if tf.inside_function() else tf.function(self._pack)(texts)

    def _pack(self, texts):
        tokenizer, packer = self.preprocessor.tokenizer, self.preprocessor.packer
        budget = self.preprocessor.sequence_length - 2 - self.virtual_tokens  # a start and an end token around it
        ids = keep_tokens(tokenizer(texts), budget, self.truncate)
        if self.virtual_tokens:
            places = tf.fill([ids.nrows(), self.virtual_tokens], tf.cast(tokenizer.start_token_id, ids.dtype))
            ids = tf.concat([tf.RaggedTensor.from_tensor(places), ids], axis=1)
        token_ids, segment_ids = packer(ids)
        # int32 as the backbones declare it, not keras-hub's bool: under MirroredStrategy, Keras' fit averages
        # a first batch across the replicas to build the model, and TensorFlow cannot add booleans.
        padding_mask = tf.cast(token_ids != self.pad_id, "int32")
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids}
        return {name: inputs[name] for name in self.input_names}

    def get_config(self):
        return {
            **super().get_config(),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "truncate": self.truncate,
            "input_names": self.input_names,
            "virtual_tokens": self.virtual_tokens,
        }

    @classmethod
    def from_config(cls, config):
        config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)


def make_packer(family: str, preprocessor, truncate: str, virtual_tokens: int = 0) -> TextPacker:
    names = ["padding_mask", "token_ids"] + (["segment_ids"] if family in SEGMENTED else [])
    return TextPacker(preprocessor, truncate, input_names=names, virtual_tokens=virtual_tokens)


def make_dataset(texts, labels, packer: TextPacker, *, global_batch: int, shuffle: EpochShuffle | None = None,
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


def build_classifier(backbone, num_classes: int, *, pooling: str = "first", dropout: float = 0.1) -> keras.Model:
    """backbone -> pooled text vector -> dropout -> dense -> float32 softmax, on the backbone's input dict.

    `pooling="first"`: BERT and ALBERT's pooler; the others pool their first token through a tanh dense layer,
    as keras-hub's RoBERTa, DistilBERT and DeBERTaV3 classifiers do. `"mean"`: the mean of the unpadded
    tokens' vectors, as sentence-embedding checkpoints (all-MiniLM-L6-v2 among them) were trained to pool;
    their pooler was not trained with them.
    """
    inputs = backbone.input
    outputs = backbone(inputs)
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    if pooling == "mean":
        # In float32: a bfloat16 sum of up to max_len vectors (8 bits of mantissa) moves with the padding.
        pooled = keras.layers.GlobalAveragePooling1D(name="mean_pooling", dtype="float32")(
            sequence, mask=inputs["padding_mask"])
        for layer in backbone.layers:
            if layer.name == "pooled_dense":  # BERT's and ALBERT's pooler, unused: no gradient reaches it
                layer.trainable = False
    elif isinstance(outputs, dict) and "pooled_output" in outputs:
        pooled = outputs["pooled_output"]
    else:
        pooled = keras.layers.Dense(sequence.shape[-1], activation="tanh", name="pooled_dense")(sequence[:, 0, :])
    x = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, probabilities, name="encoder_classifier")


def enable_lora(backbone, rank: int, alpha: float | None = None, targets: list[str] | None = None) -> None:
    """keras-hub's LoRA on the attention's query and value projections (or the layers named `targets`), the rest
    of the backbone frozen.

    keras-hub passes no alpha, so its update is scaled by 1; Keras' EinsumDense scales it by
    lora_alpha / lora_rank, read at each call and saved in its config, so setting it here gives alpha / rank.
    Keras freezes an adapted layer's kernel but not its bias; the bias is frozen too, as in LoRA's paper and
    PEFT's default (bias="none").
    """
    backbone.enable_lora(rank, target_layer_names=targets)
    for layer in backbone._flatten_layers():  # the walk keras-hub's enable_lora does itself
        if getattr(layer, "lora_enabled", False):
            layer.lora_alpha = rank if alpha is None else alpha
            if layer.bias is not None:
                layer.bias.trainable = False


def rematerialize(backbone) -> int:
    """Gradient checkpointing (`--remat`): each transformer block keeps only its input for the backward pass and
    runs its forward again there (tf.recompute_grad); returns the number of blocks.

    Not Keras' RematScope (keras 3.15.1), for two reasons measured on a tiny BERT: inside a tf.function (every
    fit) it fails, because tf.custom_gradient takes no keyword arguments in graph mode and a block gets its
    padding mask as one (keras-team/keras issue 21207); and where it runs (eagerly), the recomputed forward
    draws new dropout masks, since each draw advances a SeedGenerator's state: the gradients are of another
    forward than the loss (2.5e-2 apart), and every mask after it shifts. Here the block's seed states are
    read before its forward and put back at the start of each run of it, so the recompute draws the same masks
    and the states advance once, as without; the recompute runs in the forward's Keras call context, from
    which DeBERTa's dropouts read `training`; float keyword inputs (DeBERTa's relative embeddings) are passed
    as arguments so that their gradients flow, the others (masks) are closed over.
    """
    blocks = transformer_blocks(backbone)
    for block in blocks:
        block.call = _recomputed(block, block.call)
    return len(blocks)


def transformer_blocks(backbone) -> list:
    """A keras-hub backbone's transformer blocks, in order (ALBERT's: the shared block of each group)."""
    return [block for group in backbone.transformer_layers for block in (group if isinstance(group, list) else [group])]


def _recomputed(block, call):
    states = trainer.seed_states(block)

    def run(inputs, **kwargs):
        floats = sorted(k for k, v in kwargs.items() if tf.is_tensor(v) and v.dtype.is_floating)
        seeds = [tf.identity(state.value) for state in states]
        # The block's sublayers that are not passed `training` read it from Keras' call context (DeBERTa's
        # dropouts), which the backward pass has left: the recompute runs in the forward's.
        context = global_state.get_global_attribute("current_call_ctx")

        def forward(x, *values):
            for state, seed in zip(states, seeds):
                state.assign(seed)
            outer = global_state.get_global_attribute("current_call_ctx")
            global_state.set_global_attribute("current_call_ctx", context)
            try:
                return call(x, **{**kwargs, **dict(zip(floats, values))})
            finally:
                global_state.set_global_attribute("current_call_ctx", outer)

        return tf.recompute_grad(forward)(inputs, *(kwargs[k] for k in floats))

    return run


def parameter_counts(model: keras.Model) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params()


def compile_classifier(model: keras.Model, *, peak_lr: float, total_steps: int, warmup_ratio: float,
                       clipnorm: float, weight_decay: float, ema_momentum: float = 0.0,
                       accumulation_steps: int = 1) -> None:
    """The shared recipe (`trainer.compile_model`: warmup + cosine, clipping, weight averaging, gradient
    accumulation) with AdamW, which does not decay biases, LayerNorm and embeddings."""
    trainer.compile_model(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=warmup_ratio,
                          clipnorm=clipnorm, ema_momentum=ema_momentum, accumulation_steps=accumulation_steps,
                          optimizer=FusedAdamW, weight_decay=weight_decay)
    model.optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)


@keras.saving.register_keras_serializable(package="textclf")
class EncoderRawTextClassifier(StringsModel):
    """Strings -> the --text-filter -> the encoder's tokenizer and packer (as in training) -> the trained classifier.

    Args:
        packer: the run's TextPacker.
        classifier: the trained model taking the packer's dict.
        text_filter: the run's --text-filter (`data.filters`), or None.
    """

    def __init__(self, packer: TextPacker, classifier: keras.Model, text_filter: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.packer = packer
        self.classifier = classifier
        self.text_filter = text_filter

    def call(self, texts):
        return self.classifier(self.packer(text.filter_texts(tf.reshape(texts, [-1]), self.text_filter)))

    def get_config(self):
        return {
            **super().get_config(),
            "packer": keras.saving.serialize_keras_object(self.packer),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "text_filter": self.text_filter,
        }

    @classmethod
    def from_config(cls, config):
        config["packer"] = keras.saving.deserialize_keras_object(config["packer"])
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)
