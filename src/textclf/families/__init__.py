"""Model families: what a kind of model brings besides its architecture.

A family owns its preprocessing (for `scratch`, a vocabulary learnt from the training split), how its
builders are called, how it is compiled, and its raw-text export. `models.registry.MODELS` maps each
`--model` name to its family; `run.py` picks the family once and calls these functions, which every
family module defines (plain functions, no base class):

    check(config) -> None
        Raises InputError for a setting that does not apply to this family or model (e.g. a model_args key
        the builder does not take). Called on the unresolved config, before any data is read, so a None
        field is one the user left unset.
    resolve(config, data) -> RunConfig
        The config with what the family decides from the data (scratch: `--tokenizer auto` becomes jieba for
        Chinese, word otherwise). Called after the model's and the dataset's defaults are filled in and before
        the run's fingerprint is taken, so the resolved config keys resuming and is what config.json records.
    prepare(config, data, *, global_batch, replicas) -> Prepared
        The batched train/val/test datasets of (inputs, label) and what else the family needs to build,
        fit, report and export. `config` is resolved; `global_batch` is already the batch of all replicas.
    build(config, prepared, num_classes) -> keras.Model
        Inside `strategy.scope()`. Every family's model outputs float32 class probabilities (a softmax
        head, also for encoders that would give logits), so the loss, `run.evaluate`, the reports and
        serving stay one code path for all families.
    compile_model(model, config, *, peak_lr, total_steps, ema_momentum) -> None
        Inside the scope. `peak_lr` and `ema_momentum` are already scaled for the replicas
        (`training.schedules`); `training.trainer.compile_model` holds the shared recipe.
    serving_model(config, prepared, model) -> keras.Model
        Raw strings in, the same probabilities out; `serving.export.export` saves it (`models.raw_text`).
"""

import dataclasses
import importlib
from types import ModuleType

from textclf.errors import InputError


@dataclasses.dataclass
class Prepared:
    """What a family's `prepare` hands to the rest of the run."""

    datasets: dict  # "train", "val", "test" -> batched tf.data.Dataset of (inputs, label); train is shuffled
    callbacks: tuple = ()  # keras callbacks for fit, run before the trainer's (e.g. EpochShuffle)
    report: dict = dataclasses.field(default_factory=dict)  # extra report columns, e.g. embedding_coverage
    state: object = None  # what `build` and `serving_model` need: scratch's vectorizer and vectors, encoder's packer


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


def family(name: str) -> ModuleType:
    """The module of family `name`."""
    return importlib.import_module(FAMILIES[name])
