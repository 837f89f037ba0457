"""Model families: what a kind of model brings besides its architecture.

A family owns its preprocessing (for `scratch`, a vocabulary learnt from the training split), how its
builders are called, how it is compiled, and its raw-text export. `models.registry.MODELS` maps each
`--model` name to its family; `run.py` picks the family once and calls the functions of `Family`, which every
family module defines (plain functions, no base class: a module meets the Protocol by its functions' names and
signatures, and `tests/families/test_family_contract.py` runs every family through them).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Protocol

from textclf.errors import InputError

if TYPE_CHECKING:  # annotations only: importing a family's contract loads neither Keras nor pandas
    import keras

    from textclf.config import RunConfig
    from textclf.data.splits import Splits


@dataclasses.dataclass
class Prepared:
    """What a family's `prepare` hands to the rest of the run."""

    datasets: dict  # "train", "val", "test" -> batched tf.data.Dataset of (inputs, label); train is shuffled
    callbacks: tuple = ()  # keras callbacks for fit, run before the trainer's (e.g. EpochShuffle)
    report: dict = dataclasses.field(default_factory=dict)  # extra report columns, e.g. embedding_coverage
    state: object = None  # what `build` and `serving_model` need: scratch's vectorizer and vectors, encoder's packer


class Family(Protocol):
    """The functions a family module defines, in the order `run.py` calls them."""

    def check(self, config: RunConfig) -> None:
        """Raises InputError for a setting that does not apply to this family or model (e.g. a model_args key
        the builder does not take). Called on the unresolved config, before any data is read, so a None
        field is one the user left unset."""

    def resolve(self, config: RunConfig, data: Splits) -> RunConfig:
        """The config with what the family decides from the data (scratch: `--tokenizer auto` becomes jieba for
        Chinese, word otherwise). Called after the model's and the dataset's defaults are filled in and before
        the run's fingerprint is taken, so the resolved config keys resuming and is what config.json records."""

    def prepare(self, config: RunConfig, data: Splits, *, global_batch: int, replicas: int) -> Prepared:
        """The batched train/val/test datasets of (inputs, label) and what else the family needs to build,
        fit, report and export. `config` is resolved; `global_batch` is already the batch of all replicas."""

    def build(self, config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
        """Inside `strategy.scope()`. Every family's model outputs float32 class probabilities (a softmax
        head, also for encoders that would give logits), so the loss, `run.evaluate`, the reports and
        serving stay one code path for all families."""

    def compile_model(self, model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int,
                      ema_momentum: float) -> None:
        """Inside the scope. `peak_lr` and `ema_momentum` are already scaled for the replicas
        (`training.schedules`); `training.trainer.compile_model` holds the shared recipe."""

    def serving_model(self, config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
        """Raw strings in, the same probabilities out; `serving.export.export` saves it (`models.raw_text`)."""


# family name -> its module, imported on use (it loads Keras; an unknown model is answered before).
FAMILIES = {
    "scratch": "textclf.families.scratch",
    "ngram": "textclf.families.ngram",
    "encoder": "textclf.families.encoder_family",
    "decoder": "textclf.families.decoder_family",
}


# The settings only `--model llm` (the decoder family) takes, and their flags.
DECODER_ONLY = {"prompt_template": "--prompt-template", "head": "--head"}


def refuse_decoder_settings(config) -> None:
    """Raises InputError for a DECODER_ONLY setting given to another family's model."""
    for name, flag in DECODER_ONLY.items():
        if getattr(config, name) is not None:
            raise InputError(f"{flag} is a setting of --model llm; {config.model} classifies the text alone")


def family(name: str) -> Family:
    """The module of family `name`, which meets `Family` by its functions."""
    return importlib.import_module(FAMILIES[name])
