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
from typing import TYPE_CHECKING, NamedTuple, Protocol

from textclf.config import DISTILLATION_SETTINGS, RunConfig
from textclf.errors import InputError
from textclf.models.registry import MODELS, family_of

if TYPE_CHECKING:  # annotations only: importing a family's contract loads neither Keras nor pandas
    import keras

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

    def model_settings(self, config: RunConfig) -> dict:
        """The settings the model takes through model_args, each with its default (None where the model has no one
        default), for `--tune`'s search space (`textclf.tuning`)."""

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


class Declared(NamedTuple):
    """A family as the rest of textclf knows it before importing it."""

    module: str  # the module that meets `Family`, imported on use (it loads Keras)
    settings: tuple[str, ...]  # the RunConfig fields this family takes beyond those every run takes
    # `--tune`'s default search space: a RunConfig field, or `model_args.<name>`, -> its range (`textclf.tuning`).
    # A model_args name that a model does not take is left out for it; `with` keeps a range to runs that set a field.
    space: dict


# What the students of a distillation (`textclf.distillation`) take: the from-scratch families.
STUDENT = ("teacher", *DISTILLATION_SETTINGS)
# A student's loss settings, searched when it has a --teacher.
STUDENT_SPACE = {"distil_alpha": {"float": [0.1, 0.9], "step": 0.2, "with": "teacher"},
                 "distil_temperature": {"choice": [1.0, 2.0, 4.0], "with": "teacher"}}
# What every pretrained family (keras-hub encoders and decoders) takes.
PRETRAINED = ("preset", "lora_rank", "lora_alpha", "weight_decay", "remat")
LORA_SPACE = {"lora_rank": {"choice": [4, 8, 16], "with": "lora_rank"},
              "lora_alpha": {"choice": [8, 16, 32], "with": "lora_rank"}}
# family name -> its declaration. A RunConfig field that no family names here is one every run takes (the data, the
# training loop, evaluation, serving); one that some family names is refused by the others (`check_settings`).
FAMILIES = {
    "scratch": Declared(
        "textclf.families.scratch", ("tokenizer", "vocab_size", "embeddings", "freeze_embeddings", *STUDENT),
        {"learning_rate": {"float": [3e-4, 3e-2], "log": True}, "max_len": {"times": [0.5, 1, 2]},
         "vocab_size": {"times": [0.5, 1, 2]}, "model_args.embedding_dim": {"times": [0.5, 1, 2]},
         "model_args.units": {"times": [0.5, 1, 2]}, "model_args.dropout": {"float": [0.1, 0.5], "step": 0.1},
         **STUDENT_SPACE}),
    "ngram": Declared("textclf.families.ngram", ("tokenizer", "vocab_size", *STUDENT),
                      {"model_args.ngrams": {"choice": [1, 2, 3]}, "vocab_size": {"times": [0.5, 1, 2]},
                       **STUDENT_SPACE}),
    "encoder": Declared(
        "textclf.families.encoder.family", (*PRETRAINED, "peft", "virtual_tokens", "prompt_init"),
        {"learning_rate": {"float": [1e-5, 2e-4], "log": True}, "epochs": {"int": [1, 4]},
         "warmup_ratio": {"float": [0.05, 0.25], "step": 0.05},
         "model_args.dropout": {"float": [0.0, 0.3], "step": 0.1},
         **LORA_SPACE}),
    "decoder": Declared("textclf.families.decoder.family", (*PRETRAINED, "prompt_template", "head"),
                        {"learning_rate": {"float": [1e-5, 1e-3], "log": True}, **LORA_SPACE}),
}


def family(name: str) -> Family:
    """The module of family `name`, which meets `Family` by its functions."""
    return importlib.import_module(FAMILIES[name].module)


def check_settings(config: RunConfig) -> None:
    """Refuses a setting given for a model whose family does not take it: a field some family declares, set to
    other than its default, that the model's family does not declare. Run before the family's own `check`.

    Raises:
        InputError: naming the flag, the model and the families that take it.
    """
    chosen, default = family_of(config.model), RunConfig()
    for field in dataclasses.fields(config):
        owners = [name for name, declared in FAMILIES.items() if field.name in declared.settings]
        if not owners or chosen in owners or getattr(config, field.name) == getattr(default, field.name):
            continue
        models = ", ".join(model for model, name in MODELS.items() if name in owners)
        raise InputError(f"--{field.name.replace('_', '-')} does not apply to --model {config.model} ({chosen} "
                         f"family): it is a setting of the {' and '.join(owners)} "
                         f"{'families' if len(owners) > 1 else 'family'} (--model {models})")
