"""What fine-tuning a pretrained model shares across families: the settings every pretrained model checks, the
classification head's dropout, AdamW without decay on biases, LayerNorm and embeddings, the trainable share."""

import keras
import numpy as np
from loguru import logger

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.families import Prepared
from textclf.training import trainer
from textclf.training.optimizers import FusedAdamW

NO_WEIGHT_DECAY = ["bias", "gamma", "beta", "embeddings"]  # biases, LayerNorm scales and offsets, embeddings

def check_pretrained(config: RunConfig):
    """What every pretrained family (encoders, decoders) needs: a preset, and a rank for an alpha. (The settings they
    do not take, such as --vocab-size, are refused by `families.check_settings`: the preset brings them.)"""
    if config.preset is None:
        raise InputError(f"--model {config.model} needs --preset: a keras-hub preset name, a Keras preset folder "
                         "or a Hugging Face folder")
    if config.lora_alpha is not None and config.lora_rank is None:
        raise InputError("--lora-alpha needs --lora-rank")


# A classification head's dropout rate, as model_args takes it: what it takes, and the check.
DROPOUT = ("a rate in [0, 1)", lambda value: type(value) in (int, float) and 0 <= value < 1)


def check_head(config: RunConfig, settings: dict, model: str) -> None:
    """Refuses a model_args key that is not one of the head's `settings` (key -> (what it takes, check)), or a value
    its check refuses; `model` names the model in the message."""
    for key, value in config.model_args.items():
        if key not in settings:
            takes = f"its settings are {', '.join(settings)}" if settings else "it takes none"
            raise InputError(f"model {model} has no setting {key!r}; {takes}")
        takes, fits = settings[key]
        if not fits(value):
            raise InputError(f"model_args {key}: {value!r} is not {takes}")


def parameter_counts(model: keras.Model) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params()


def report_parameters(model: keras.Model, name: str, prepared: Prepared) -> None:
    """Logs the trainable share of `model` and puts it in the report's columns, known only once the model exists
    (so filled in by build rather than by prepare)."""
    trainable, total = parameter_counts(model)
    logger.info(f"{name}: {trainable:,} of {total:,} parameters trainable")
    prepared.report.update(trainable_parameters=trainable, total_parameters=total)


def compile_classifier(model: keras.Model, *, peak_lr: float, total_steps: int, warmup_ratio: float,
                       clipnorm: float, weight_decay: float, ema_momentum: float = 0.0,
                       accumulation_steps: int = 1) -> None:
    """The shared recipe (`trainer.compile_model`: warmup + cosine, clipping, weight averaging, gradient
    accumulation) with AdamW, which does not decay biases, LayerNorm and embeddings."""
    trainer.compile_model(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=warmup_ratio,
                          clipnorm=clipnorm, ema_momentum=ema_momentum, accumulation_steps=accumulation_steps,
                          optimizer=FusedAdamW, weight_decay=weight_decay)
    model.optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)


def compile_model(model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int, ema_momentum: float):
    """The family contract's compile for the pretrained families: `compile_classifier` with the run's settings."""
    compile_classifier(model, peak_lr=peak_lr, total_steps=total_steps, warmup_ratio=config.warmup_ratio,
                       clipnorm=config.clipnorm, weight_decay=config.weight_decay, ema_momentum=ema_momentum,
                       accumulation_steps=config.grad_accum)
