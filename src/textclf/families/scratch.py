"""The `scratch` family: models trained from random (or --embeddings) word vectors over a vocabulary
learnt from the training split.

Texts go through jieba when the tokenizer is `jieba` (Python, cached on disk), then a TextVectorization
adapted on train, cut to --max-len and batched by length (`data.pipeline`); the builder in
`textclf/models/<model>.py` takes the ids. The exported model holds the vectorizer, so it takes raw strings
(`serving.export.RawTextClassifier`). The family contract is in `textclf.families`.
"""

import dataclasses
import inspect

import keras
import numpy as np
from loguru import logger

from textclf.config import RunConfig
from textclf.data import embeddings, pipeline, splits, text
from textclf.errors import InputError
from textclf.families import Prepared, refuse_decoder_settings
from textclf.models.registry import builder_for
from textclf.serving import export
from textclf.training import trainer

# Builder arguments the run decides from its own flags: a model_arg may not set them.
RUN_DECIDED = {"max_len": "--max-len", "embeddings": "--embeddings", "freeze_embeddings": "--freeze-embeddings"}
# The pretrained encoders' settings: a from-scratch model has no preset, adapters or AdamW.
ENCODER_ONLY = ("preset", "lora_rank", "lora_alpha", "weight_decay", "peft", "virtual_tokens", "prompt_init")


@dataclasses.dataclass(frozen=True)
class State:
    vectorizer: keras.layers.TextVectorization  # adapted on the training split
    vectors: np.ndarray | None  # the --embeddings matrix over the vocabulary, or None


def _settings(model: str) -> dict[str, object]:
    """The builder's own settings (what model_args may set) and their defaults."""
    parameters = inspect.signature(builder_for(model)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in RUN_DECIDED}


def _fits(default, value) -> bool:
    """Whether `value` has the kind of the builder's default (a YAML list stands for a tuple)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    kinds = {int: int, float: (int, float), tuple: list, str: str}
    return type(default) not in kinds or isinstance(value, kinds[type(default)])


def check(config: RunConfig):
    """Refuses an encoder's setting, a subword cut, a model_args key the builder does not take, or a value of
    the wrong kind."""
    for name in ENCODER_ONLY:
        if getattr(config, name) is not None:
            raise InputError(f"--{name.replace('_', '-')} is an encoder setting; {config.model} is trained from scratch")
    refuse_decoder_settings(config)
    if config.remat:
        raise InputError(f"--remat recomputes a pretrained model's transformer blocks; {config.model} is trained "
                         "from scratch")
    if config.truncate not in (None, "pre", "post"):
        raise InputError(f"--truncate {config.truncate} cuts subword tokens of an encoder; {config.model} takes pre "
                         "or post")
    settings = _settings(config.model)
    for key, value in config.model_args.items():
        if key in RUN_DECIDED:
            raise InputError(f"model_args {key}: set by the run's {RUN_DECIDED[key]}, not a model setting")
        if key not in settings:
            raise InputError(f"model {config.model} has no setting {key!r}; its settings are {', '.join(settings)}")
        if not _fits(settings[key], value):
            raise InputError(f"model_args {key}: {value!r} is not like its default {settings[key]!r}")
    if config.embeddings and "embedding_dim" in config.model_args:
        raise InputError("model_args embedding_dim: the --embeddings vectors set the embedding width")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """`--tokenizer auto` becomes jieba for a Chinese dataset, word for the others."""
    return dataclasses.replace(config, tokenizer=text.resolve_tokenizer(config.tokenizer, data.language))


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The vocabulary (from train only), the three batched datasets, the training order and the vectors."""
    texts = {name: text.filtered(text.prepare(getattr(data, name)["text"].tolist(), config.tokenizer, config.cache_dir),
                                 config.text_filter)
             for name in ("train", "val", "test")}
    vectorizer = text.make_vectorizer(config.tokenizer, config.vocab_size)
    vectorizer.adapt(texts["train"], batch_size=pipeline.VECTORIZE_CHUNK)
    shuffle = pipeline.EpochShuffle(config.seed)
    datasets = {
        name: pipeline.make_dataset(
            texts[name], getattr(data, name)["label"].to_numpy(), vectorizer, max_len=config.max_len,
            truncate=config.truncate, global_batch=global_batch, shuffle=shuffle if name == "train" else None,
            replicas=replicas,
        )
        for name in texts
    }
    vectors, coverage = None, None
    if config.embeddings:
        vectors, coverage = embeddings.load_vectors(config.embeddings, vectorizer.get_vocabulary(), seed=config.seed)
        logger.info(f"{config.embeddings}: vectors for {coverage:.1%} of the vocabulary, width {vectors.shape[1]}")
    return Prepared(datasets, (shuffle,), {"embedding_coverage": coverage}, State(vectorizer, vectors))


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """The builder called with model_args and what the run decides: --max-len for a model with a position
    table, the --embeddings vectors."""
    builder = builder_for(config.model)
    decided = {"max_len": config.max_len} if "max_len" in inspect.signature(builder).parameters else {}
    if prepared.state.vectors is not None:
        decided.update(embeddings=prepared.state.vectors, freeze_embeddings=config.freeze_embeddings)
    return builder(prepared.state.vectorizer.vocabulary_size(), num_classes, **config.model_args, **decided)


def compile_model(model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int, ema_momentum: float):
    """Adam, warmup + cosine, clipping, the optional weight average and --grad-accum (`trainer.compile_model`)."""
    trainer.compile_model(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=config.warmup_ratio,
                          clipnorm=config.clipnorm, ema_momentum=ema_momentum, accumulation_steps=config.grad_accum)


def serving_model(config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
    """Raw strings -> the --text-filter -> the run's vectorizer -> cut as in training -> `model`."""
    return export.RawTextClassifier(prepared.state.vectorizer, model, config.max_len, config.truncate,
                                    text_filter=config.text_filter)
