"""The model registry: a plain dict of `--model` name -> its family (`textclf.families`).

A family owns the preprocessing, the build, the compile and the raw-text export of its models. A `scratch` model
NAME is one file, `textclf/models/NAME.py`, which declares its own settings and holds its builder:

    @dataclasses.dataclass(frozen=True)
    class Settings:  # the model's own settings and their defaults, which `--model-arg` and model_args set
        units: int = 128

    def NAME(run: blocks.RunInputs, settings: Settings = Settings()) -> keras.Model: ...

`RunInputs` is what the run gives every builder (vocabulary size, classes, --max-len, the --embeddings vectors and
--freeze-embeddings); model_args cannot set it. The builder returns an uncompiled `keras.Model` taking
right-padded int32 ids (0 = padding, 1 = OOV) and giving float32 class probabilities; its predictions do not
depend on how much padding follows a text. `models/blocks.py` holds what builders share: the opening
(`embedded_tokens`: the input and the embedding) and the ending (`classifier`: dropout, the float32 softmax, the
model), so a builder is its body. The `ngram` family's nbsvm declares `Settings` too; its builder also takes the
naive-Bayes ratios of the training split.

`RUN_DEFAULTS` holds what a model needs from the run other than the shared defaults, such as its
learning rate or weight averaging; a flag the user gives still wins.
"""

import importlib
from typing import NamedTuple

from textclf.errors import InputError


class Encoder(NamedTuple):
    """A pretrained encoder of keras-hub: the names, in `keras_hub.models`, of its backbone and its text classifier's
    preprocessor (looked up when a run loads one), and whether the backbone takes segment ids."""

    backbone: str
    preprocessor: str
    segment_ids: bool = False


# `--model` name -> a keras-hub encoder: one entry here adds one (`families/encoder/` does the rest).
PRETRAINED_ENCODERS = {
    "bert": Encoder("BertBackbone", "BertTextClassifierPreprocessor", segment_ids=True),
    "distil_bert": Encoder("DistilBertBackbone", "DistilBertTextClassifierPreprocessor"),
    "roberta": Encoder("RobertaBackbone", "RobertaTextClassifierPreprocessor"),
    "deberta_v3": Encoder("DebertaV3Backbone", "DebertaV3TextClassifierPreprocessor"),
    "albert": Encoder("AlbertBackbone", "AlbertTextClassifierPreprocessor", segment_ids=True),
    "xlm_roberta": Encoder("XLMRobertaBackbone", "XLMRobertaTextClassifierPreprocessor"),
}
# `--model` name -> family name. Nothing is imported here, so an unknown name is answered before Keras and
# TensorFlow load (15 s on a small CPU).
MODELS = {
    "stacked_lstm": "scratch",
    "lstm": "scratch",
    "gru": "scratch",
    "bilstm": "scratch",
    "text_cnn": "scratch",
    "cnn_lstm": "scratch",
    "attention_lstm": "scratch",
    "capsule_lstm": "scratch",
    "transformer": "scratch",
    "fasttext": "scratch",
    "nbsvm": "ngram",
    **dict.fromkeys(PRETRAINED_ENCODERS, "encoder"),
    "bert_scratch": "encoder",
    "llm": "decoder",
}
ENCODERS = [name for name, family in MODELS.items() if family == "encoder"]
# `--model fasttext+nbsvm`: an ensemble of its members' runs (`textclf.ensemble`), not a model of a family.
ENSEMBLE_SEPARATOR = "+"

# The original LLM project's prompt template; {labels} becomes the class names joined by commas.
LLM_TEMPLATE = ('Please carefully read the following reference text:"{text}", and determine which of the following '
                'categories it belongs to:{labels},answer:')
# Fills RunConfig fields the user left unset, before the dataset's defaults do.
SHARED_RUN_DEFAULTS = {"learning_rate": 1e-3, "ema_momentum": 0.0}
RUN_DEFAULTS = {
    # Validating and keeping the weights' moving average lifted IMDB test accuracy from 0.858 to 0.868.
    "stacked_lstm": {"ema_momentum": 0.99},
    # One linear layer over averaged vectors learns slowly: at 1e-3 it underfit R8 (train accuracy 0.77).
    "fasttext": {"learning_rate": 1e-2},
    # n-grams, not words: IMDB's training reviews hold about 10M distinct 1- to 3-grams; a text's ids are about
    # three times its words, and the cut keeps the first ones (unigrams first).
    "nbsvm": {"vocab_size": 800_000, "max_len": 4_000, "truncate": "post"},
    # Fine-tuning moves pretrained weights a little: 5e-5 is the top of BERT's usual 2e-5..5e-5. The same rate
    # holds for LoRA runs, whose adapters start at zero and want 1e-4..5e-4: give --learning-rate 2e-4 there.
    **{name: {"learning_rate": 5e-5, "weight_decay": 0.01} for name in ENCODERS},
    # The prompt template alone takes about 35 tokens; 256 leave room for most reviews' start. The head and the
    # template are the original LLM project's.
    "llm": {"learning_rate": 2e-5, "weight_decay": 0.01, "max_len": 256, "head": "mlp",
            "prompt_template": LLM_TEMPLATE},
}


def run_defaults(name: str) -> dict:
    """The RunConfig fields model `name` sets when the user does not."""
    return {**SHARED_RUN_DEFAULTS, **RUN_DEFAULTS.get(name, {})}


def default_texts() -> dict[str, str]:
    """Each RunConfig field that some model sets -> what it is unset, model by model, as --help says it: "2e-05 for
    llm, 0.01 for fasttext, 0.001 for the others". A family whose models all share a value is named as one; a field
    that not every model sets falls to the dataset's default for the others (`RunConfig.resolve`)."""
    texts = {}
    for field in dict.fromkeys(key for model in MODELS for key in run_defaults(model)):
        by_value: dict[object, list[str]] = {}
        for model in MODELS:
            if field in run_defaults(model):
                by_value.setdefault(run_defaults(model)[field], []).append(model)
        shared = SHARED_RUN_DEFAULTS.get(field, object())
        parts = [f"{_text(value)} for {_names(models)}" for value, models in by_value.items() if value != shared]
        if field in SHARED_RUN_DEFAULTS:
            parts.append(f"{_text(shared)} for the others")
        texts[field] = ", ".join(parts)
    return texts


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _names(models: list[str]) -> str:
    """The models, a whole family's as "the encoder family"."""
    names = []
    for family in dict.fromkeys(MODELS[model] for model in models):
        whole = [model for model, name in MODELS.items() if name == family]
        names += [f"the {family} family"] if len(whole) > 1 and set(whole) <= set(models) else [
            model for model in whole if model in models]
    return ", ".join(names)


def members(name: str) -> list[str]:
    """The models an ensemble name joins (`fasttext+nbsvm` -> fasttext, nbsvm); [] for a model's own name."""
    return name.split(ENSEMBLE_SEPARATOR) if ENSEMBLE_SEPARATOR in name else []


def check_name(name: str):
    """Raises InputError for a name that is not in MODELS or an ensemble of two or more of them, without importing
    any model."""
    for part in members(name) or [name]:
        if part not in MODELS:
            raise InputError(f"unknown model {part!r}; choose one of {', '.join(MODELS)}, or join two or more "
                             f"with {ENSEMBLE_SEPARATOR} for an ensemble")
    if len(set(members(name))) != len(members(name)):
        raise InputError(f"ensemble {name!r}: a model is named twice")


def family_of(name: str) -> str:
    """The family of model `name`, e.g. "scratch"."""
    check_name(name)
    return MODELS[name]


def _module(name: str):
    """The module of the scratch or ngram model `name` (importing it imports Keras)."""
    check_name(name)
    return importlib.import_module(f"textclf.models.{name}")


def builder_for(name: str):
    """The builder of the scratch model `name`: `builder(run: RunInputs, settings: Settings) -> keras.Model`."""
    return getattr(_module(name), name)


def settings_for(name: str) -> type:
    """The `Settings` dataclass of the scratch or ngram model `name`: its own settings, with their defaults."""
    return _module(name).Settings
