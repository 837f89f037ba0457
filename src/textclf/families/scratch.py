"""The `scratch` family: models trained from random (or --embeddings) word vectors over a vocabulary
learnt from the training split.

Texts go through jieba when the tokenizer is `jieba` (Python, cached on disk), then a TextVectorization
adapted on train, cut to --max-len and batched by length (`data.pipeline`); the builder in
`textclf/models/<model>.py` takes the ids. The exported model holds the vectorizer, so it takes raw strings
(`models.raw_text.RawTextClassifier`). The family contract is in `textclf.families`.
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
from textclf.models.raw_text import RawTextClassifier
from textclf.models.registry import builder_for
from textclf.training import trainer

# Builder arguments the run decides from its own flags: a model_arg may not set them.
RUN_DECIDED = {"max_len": "--max-len", "embeddings": "--embeddings", "freeze_embeddings": "--freeze-embeddings"}
# The pretrained encoders' settings: a from-scratch model has no preset, adapters or AdamW.
ENCODER_ONLY = ("preset", "lora_rank", "lora_alpha", "weight_decay", "peft", "virtual_tokens", "prompt_init")


@dataclasses.dataclass(frozen=True)
class State:
    vectorizer: keras.layers.TextVectorization  # adapted on the training split
    vectors: np.ndarray | None  # the --embeddings matrix over the vocabulary, or None


def model_settings(builder, decided) -> dict[str, object]:
    """A builder's own settings (what model_args may set) and their defaults: its keyword-only arguments but
    those the run decides (`decided`)."""
    parameters = inspect.signature(builder).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in decided}


def _fits(default, value) -> bool:
    """Whether `value` has the kind of the builder's default (a YAML list stands for a tuple)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    kinds = {int: int, float: (int, float), tuple: list, str: str}
    return type(default) not in kinds or isinstance(value, kinds[type(default)])


def refuse_pretrained_settings(config: RunConfig):
    """Refuses an encoder's or a decoder's setting, and --remat."""
    for name in ENCODER_ONLY:
        if getattr(config, name) is not None:
            raise InputError(f"--{name.replace('_', '-')} is an encoder setting; {config.model} is trained from scratch")
    refuse_decoder_settings(config)
    if config.remat:
        raise InputError(f"--remat recomputes a pretrained model's transformer blocks; {config.model} is trained "
                         "from scratch")


def check_model_args(config: RunConfig, settings: dict[str, object], decided: dict[str, str]):
    """Refuses a model_args key the run decides (`decided`: key -> what decides it) or the model does not take
    (`settings`: key -> default), or a value of the wrong kind."""
    for key, value in config.model_args.items():
        if key in decided:
            raise InputError(f"model_args {key}: set by the run's {decided[key]}, not a model setting")
        if key not in settings:
            raise InputError(f"model {config.model} has no setting {key!r}; its settings are {', '.join(settings)}")
        if not _fits(settings[key], value):
            raise InputError(f"model_args {key}: {value!r} is not like its default {settings[key]!r}")


def check(config: RunConfig):
    """Refuses a pretrained model's setting, a subword cut, a model_args key the builder does not take, or a
    value of the wrong kind."""
    refuse_pretrained_settings(config)
    if config.truncate not in (None, "pre", "post"):
        raise InputError(f"--truncate {config.truncate} cuts subword tokens of an encoder; {config.model} takes pre "
                         "or post")
    check_model_args(config, model_settings(builder_for(config.model), RUN_DECIDED), RUN_DECIDED)
    if config.embeddings and "embedding_dim" in config.model_args:
        raise InputError("model_args embedding_dim: the --embeddings vectors set the embedding width")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """`--tokenizer auto` becomes jieba for a Chinese dataset, word for the others."""
    return dataclasses.replace(config, tokenizer=text.resolve_tokenizer(config.tokenizer, data.language))


def prepared_texts(config: RunConfig, data: splits.Splits) -> dict[str, list[str]]:
    """Each split's texts as the vectorizer takes them: through jieba for `--tokenizer jieba`, then the
    --text-filter."""
    return {name: text.filtered(text.prepare(getattr(data, name)["text"].tolist(), config.tokenizer, config.cache_dir),
                                config.text_filter)
            for name in ("train", "val", "test")}


def batched(config: RunConfig, data: splits.Splits, texts: dict[str, list[str]], vectorizer, *, global_batch: int,
            replicas: int) -> tuple[dict, pipeline.EpochShuffle]:
    """The three batched datasets of (ids, label), train in the order of the returned EpochShuffle."""
    shuffle = pipeline.EpochShuffle(config.seed)
    datasets = {
        name: pipeline.make_dataset(
            texts[name], getattr(data, name)["label"].to_numpy(), vectorizer, max_len=config.max_len,
            truncate=config.truncate, global_batch=global_batch, shuffle=shuffle if name == "train" else None,
            replicas=replicas,
        )
        for name in texts
    }
    return datasets, shuffle


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The vocabulary (from train only), the three batched datasets, the training order and the vectors."""
    texts = prepared_texts(config, data)
    vectorizer = text.make_vectorizer(config.tokenizer, config.vocab_size)
    vectorizer.adapt(texts["train"], batch_size=pipeline.VECTORIZE_CHUNK)
    datasets, shuffle = batched(config, data, texts, vectorizer, global_batch=global_batch, replicas=replicas)
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
    return RawTextClassifier(prepared.state.vectorizer, model, config.max_len, config.truncate,
                                    text_filter=config.text_filter)
