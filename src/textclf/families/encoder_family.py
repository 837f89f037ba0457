"""The `encoder` family: a pretrained (or, for bert_scratch, randomly initialised) keras-hub encoder
fine-tuned whole or through LoRA adapters, with the preset's own subword tokenizer.

The contract is in `textclf.families`; the parts (loading, packing, classifier, LoRA, AdamW, the raw-text
model) are in `families.encoder`. The tokenizer field stays `auto`: the subword tokenizer runs inside the
model, so serving (`text.prepare`) passes texts through untouched, Chinese ones included (no jieba).
"""

import dataclasses

import keras
from loguru import logger

from textclf.config import RunConfig
from textclf.data import splits, text
from textclf.data.pipeline import EpochShuffle
from textclf.errors import InputError
from textclf.families import Prepared, encoder, prompts, refuse_decoder_settings

# --model -> the keras-hub family whose preset it loads; bert_scratch is BERT's architecture, randomly initialised.
PRESET_FAMILY = {**{name: name for name in encoder.FAMILIES}, "bert_scratch": "bert"}
# The datasets' defaults name the from-scratch cut: pre keeps a text's end, post its start.
SUBWORD_CUT = {"pre": "tail", "post": "head"}
# The from-scratch models' settings that a preset decides instead.
SCRATCH_ONLY = {"vocab_size": "--vocab-size", "embeddings": "--embeddings"}
DEFAULT_VIRTUAL_TOKENS = 20  # PEFT's examples for prompt tuning and P-tuning


def check(config: RunConfig):
    """Refuses what `check_pretrained` refuses, model_args other than the head's, a soft prompt's settings where
    they do not apply, and a preset that cannot hold this family's weights."""
    check_pretrained(config)
    refuse_decoder_settings(config)
    _check_head(config)
    _check_prompt(config)
    encoder.check_preset(PRESET_FAMILY[config.model], config.preset)  # before any run of a matrix starts


def check_pretrained(config: RunConfig):
    """What every pretrained family (encoders, decoders) refuses: no preset, the from-scratch settings, and an
    alpha without a rank."""
    if config.preset is None:
        raise InputError(f"--model {config.model} needs --preset: a keras-hub preset name, a Keras preset folder "
                         "or a Hugging Face folder")
    for name, flag in SCRATCH_ONLY.items():
        if getattr(config, name) is not None:
            raise InputError(f"{flag} does not apply to --model {config.model}: the preset brings its vocabulary "
                             "and embeddings")
    if config.freeze_embeddings:
        raise InputError(f"--freeze-embeddings does not apply to --model {config.model}; --lora-rank freezes the "
                         "pretrained weights")
    if config.tokenizer != "auto":
        raise InputError(f"--tokenizer {config.tokenizer} does not apply to --model {config.model}: the preset "
                         "brings its subword tokenizer")
    if config.lora_alpha is not None and config.lora_rank is None:
        raise InputError("--lora-alpha needs --lora-rank")


# The classification head's settings (`encoder.build_classifier`), which model_args may set: what each takes.
HEAD_SETTINGS = {
    "pooling": ("first or mean", lambda value: value in ("first", "mean")),
    "dropout": ("a rate in [0, 1)", lambda value: type(value) in (int, float) and 0 <= value < 1),
}


def _check_head(config: RunConfig):
    for key, value in config.model_args.items():
        if key not in HEAD_SETTINGS:
            raise InputError(f"model {config.model} has no setting {key!r}; its settings are "
                             f"{', '.join(HEAD_SETTINGS)}")
        takes, fits = HEAD_SETTINGS[key]
        if not fits(value):
            raise InputError(f"model_args {key}: {value!r} is not {takes}")


def _check_prompt(config: RunConfig):
    """A soft prompt's settings only with --peft, --prompt-init only for prompt tuning, and one method at a time."""
    if config.peft is None:
        for name in ("virtual_tokens", "prompt_init"):
            if getattr(config, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} needs --peft prompt or --peft ptuning")
        return
    if config.lora_rank is not None:
        raise InputError(f"--peft {config.peft} and --lora-rank are two ways to tune a few parameters; choose one")
    if config.prompt_init is not None and config.peft != "prompt":
        raise InputError("--prompt-init starts prompt tuning's vectors; P-tuning's come out of its prompt encoder")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """The datasets' pre/post cut read as tail/head; the tokenizer left `auto` (the preset's); a soft prompt of
    DEFAULT_VIRTUAL_TOKENS unless given. A hub's preset is fetched here, before the run claims a folder."""
    encoder.fetch_preset(config.preset, config.model)
    virtual = config.virtual_tokens or (DEFAULT_VIRTUAL_TOKENS if config.peft else None)
    return dataclasses.replace(config, truncate=SUBWORD_CUT.get(config.truncate, config.truncate),
                               virtual_tokens=virtual)


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The preset's tokenizer and packer, and the three batched datasets of input dicts."""
    family = PRESET_FAMILY[config.model]
    virtual = config.virtual_tokens or 0
    preprocessor = encoder.load_preprocessor(family, config.preset, max_len=config.max_len + virtual)
    packer = encoder.make_packer(family, preprocessor, config.truncate, virtual)
    return packed(config, data, packer, global_batch=global_batch, replicas=replicas)


def packed(config: RunConfig, data: splits.Splits, packer, *, global_batch: int, replicas: int) -> Prepared:
    """The three batched datasets of `packer`'s input dicts (`encoder.make_dataset`; train reshuffled each epoch),
    with the packer as the state that build and serving use."""
    shuffle = EpochShuffle(config.seed)
    datasets = {
        name: encoder.make_dataset(text.filtered(getattr(data, name)["text"].tolist(), config.text_filter),
                                   getattr(data, name)["label"].to_numpy(),
                                   packer, global_batch=global_batch, shuffle=shuffle if name == "train" else None,
                                   replicas=replicas)
        for name in ("train", "val", "test")
    }
    return Prepared(datasets, (shuffle,), {}, packer)


def remat(backbone):
    """--remat: gradient checkpointing of every transformer block of the backbone (encoder or decoder), logged."""
    logger.info(f"--remat: {encoder.rematerialize(backbone)} transformer blocks recompute their forward in the "
                "backward pass")


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """The backbone (random for bert_scratch), LoRA on it when --lora-rank, gradient checkpointing with --remat,
    a soft prompt with --peft, and the classification head."""
    backbone = encoder.load_backbone(PRESET_FAMILY[config.model], config.preset, max_len=config.max_len,
                                     virtual_tokens=config.virtual_tokens or 0, scratch=config.model == "bert_scratch")
    if config.lora_rank:
        encoder.enable_lora(backbone, config.lora_rank, config.lora_alpha)
    if config.remat:
        remat(backbone)
    if config.peft:
        backbone = _prompted(backbone, config, prepared.state)
    model = encoder.build_classifier(backbone, num_classes, **config.model_args)
    report_parameters(model, config.model, prepared)
    return model


def report_parameters(model: keras.Model, name: str, prepared: Prepared) -> None:
    """Logs the trainable share of `model` and puts it in the report's columns, known only once the model exists
    (so filled in by build rather than by prepare)."""
    trainable, total = encoder.parameter_counts(model)
    logger.info(f"{name}: {trainable:,} of {total:,} parameters trainable")
    prepared.report.update(trainable_parameters=trainable, total_parameters=total)


def _prompted(backbone, config: RunConfig, packer: encoder.TextPacker):
    """The backbone frozen, with --peft's soft prompt of --virtual-tokens vectors (from --prompt-init's tokens)."""
    tokenizer = packer.preprocessor.tokenizer
    init_ids = None
    if config.prompt_init is not None:
        init_ids = [int(i) for i in keras.ops.convert_to_numpy(tokenizer(config.prompt_init))]
        if not init_ids:
            raise InputError(f"--prompt-init {config.prompt_init!r}: the preset's tokenizer finds no token in it")
    initial = prompts.initial_vectors(backbone, config.virtual_tokens, tokenizer.start_token_id, init_ids, config.seed)
    return prompts.add_soft_prompt(backbone, config.peft, config.virtual_tokens, initial)


def compile_model(model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int, ema_momentum: float):
    """AdamW on the shared warmup + cosine schedule, with clipping and --grad-accum (`encoder.compile_classifier`)."""
    encoder.compile_classifier(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=config.warmup_ratio,
                               clipnorm=config.clipnorm, weight_decay=config.weight_decay,
                               ema_momentum=ema_momentum, accumulation_steps=config.grad_accum)


def serving_model(config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
    """Raw strings -> the --text-filter -> the preset's tokenizer and packer, cut as in training -> `model`."""
    return encoder.EncoderRawTextClassifier(prepared.state, model, text_filter=config.text_filter)
