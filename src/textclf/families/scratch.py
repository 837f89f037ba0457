"""The `scratch` family: models trained from random (or --embeddings) word vectors over a vocabulary
learnt from the training split.

Texts go through jieba when the tokenizer is `jieba` (Python, cached on disk), then a TextVectorization
adapted on train, cut to --max-len and batched by length (`data.pipeline`); the builder in
`textclf/models/<model>.py` takes the ids. The exported model holds the vectorizer, so it takes raw strings
(`models.raw_text.RawTextClassifier`). The family contract is in `textclf.families`.
"""

import dataclasses

import keras
import numpy as np
from loguru import logger

from textclf.config import RunConfig
from textclf.data import embeddings, pipeline, splits, text
from textclf.errors import InputError
from textclf.families import Prepared
from textclf.models.blocks import RunInputs
from textclf.models.raw_text import RawTextClassifier
from textclf.models.registry import builder_for, settings_for
from textclf.training import distillation, trainer


@dataclasses.dataclass(frozen=True)
class State:
    vectorizer: keras.layers.TextVectorization  # adapted on the training split
    vectors: np.ndarray | None  # the --embeddings matrix over the vocabulary, or None


def _fits(default, value) -> bool:
    """Whether `value` has the kind of the setting's default (a YAML list stands for a tuple)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    kinds = {int: int, float: (int, float), tuple: list, str: str}
    return type(default) not in kinds or isinstance(value, kinds[type(default)])


def check_model_args(config: RunConfig):
    """Refuses a model_args key that is a run setting (a RunConfig field: the run gives it to every builder, or
    it is no model's) or not a field of the model's `Settings`, or a value unlike that field's default."""
    defaults = model_settings(config)
    run_settings = {field.name for field in dataclasses.fields(RunConfig)}
    for key, value in config.model_args.items():
        if key in run_settings:
            raise InputError(f"model_args {key}: a run setting (--{key.replace('_', '-')}), not a model setting")
        if key not in defaults:
            raise InputError(f"model {config.model} has no setting {key!r}; its settings are {', '.join(defaults)}")
        if not _fits(defaults[key], value):
            raise InputError(f"model_args {key}: {value!r} is not like its default {defaults[key]!r}")


def model_settings(config: RunConfig) -> dict:
    """The fields of the model's `Settings`, with their defaults."""
    return {field.name: field.default for field in dataclasses.fields(settings_for(config.model))}


def settings_of(config: RunConfig):
    """The model's `Settings`: the run's model_args over its defaults (a YAML list given for a tuple as a tuple)."""
    given = {key: tuple(value) if isinstance(value, list) else value for key, value in config.model_args.items()}
    return settings_for(config.model)(**given)


def check(config: RunConfig):
    """Refuses a subword cut, a model_args key that is not the model's setting, or a value of the wrong kind."""
    if config.truncate not in (None, "pre", "post"):
        raise InputError(f"--truncate {config.truncate} cuts subword tokens of an encoder; {config.model} takes pre "
                         "or post")
    check_model_args(config)
    if config.embeddings and "embedding_dim" in config.model_args:
        raise InputError("model_args embedding_dim: the --embeddings vectors set the embedding width")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """`--tokenizer auto` becomes jieba for a Chinese dataset, word for the others."""
    return dataclasses.replace(config, tokenizer=text.resolve_tokenizer(config.tokenizer, data.language))


def prepared_texts(config: RunConfig, data: splits.Splits) -> dict[str, list[str]]:
    """Each split's texts as the vectorizer takes them: through jieba for `--tokenizer jieba`, then the
    --text-filter. With --teacher, train's are followed by the transfer set's."""
    texts = {name: getattr(data, name)["text"].tolist() for name in ("train", "val", "test")}
    texts["train"] += data.transfer
    return {name: text.filtered(text.prepare(split, config.tokenizer, config.cache_dir), config.text_filter)
            for name, split in texts.items()}


def batched(config: RunConfig, data: splits.Splits, texts: dict[str, list[str]], vectorizer, *, global_batch: int,
            replicas: int) -> tuple[dict, pipeline.EpochShuffle]:
    """The three batched datasets of (ids, label), train in the order of the returned EpochShuffle. With --teacher,
    train's rows are train's and the transfer set's, and their labels the distillation targets (`training.
    distillation.targets`: no gold label for the transfer set's)."""
    labels = {name: getattr(data, name)["label"].to_numpy() for name in ("train", "val", "test")}
    if data.teacher is not None:
        gold = np.concatenate([labels["train"], np.full(len(data.transfer), -1)])
        labels["train"] = distillation.targets(gold, data.teacher)
    shuffle = pipeline.EpochShuffle(config.seed)
    datasets = {
        name: pipeline.make_dataset(
            texts[name], labels[name], vectorizer, max_len=config.max_len, truncate=config.truncate,
            global_batch=global_batch, shuffle=shuffle if name == "train" else None, replicas=replicas,
        )
        for name in texts
    }
    return datasets, shuffle


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The vocabulary (from train and a --teacher's transfer set, never validation or test), the three batched
    datasets, the training order and the vectors."""
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
    """The builder of --model with what the run gives every model (`RunInputs`: the vocabulary, --max-len, the
    --embeddings vectors) and the model's settings (`settings_of`)."""
    vectors = prepared.state.vectors
    # --freeze-embeddings without --embeddings leaves the random vectors trainable, as it always has.
    run = RunInputs(prepared.state.vectorizer.vocabulary_size(), num_classes, config.max_len, embeddings=vectors,
                    freeze_embeddings=vectors is not None and config.freeze_embeddings)
    return builder_for(config.model)(run, settings_of(config))


def compile_model(model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int, ema_momentum: float):
    """Adam, warmup + cosine, clipping, the optional weight average and --grad-accum (`trainer.compile_model`)."""
    trainer.compile_model(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=config.warmup_ratio,
                          clipnorm=config.clipnorm, ema_momentum=ema_momentum, accumulation_steps=config.grad_accum)


def serving_model(config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
    """Raw strings -> the --text-filter -> the run's vectorizer -> cut as in training -> `model`."""
    return RawTextClassifier(prepared.state.vectorizer, model, config.max_len, config.truncate,
                                    text_filter=config.text_filter)
