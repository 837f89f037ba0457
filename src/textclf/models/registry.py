"""The model registry: a plain dict of `--model` name -> its family (`textclf.families`).

A family owns the preprocessing, the build, the compile and the raw-text export of its models. The
`scratch` family's builder of model NAME is the function NAME in `textclf/models/NAME.py`, with the
signature `builder(vocab_size, num_classes, **hyperparameters)`: it returns an uncompiled `keras.Model`
taking right-padded int32 ids (0 = padding, 1 = OOV) and giving float32 class probabilities, and owns its
hyperparameters' defaults (`--model-arg` and an experiment's `model_args` set them). Its predictions do
not depend on how much padding follows a text.

Every scratch builder accepts `embeddings` (an initial (vocab_size, dim) matrix, which sets the width; see
`textclf.data.embeddings.load_vectors`) and `freeze_embeddings`; all but `lstm` and `transformer`
also accept `l2`. `models/blocks.py` holds what they share: the opening (`embedded_tokens`: the input and the
embedding) and the ending (`classifier`: dropout, the float32 softmax, the model), so a builder is its body.

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


# `--model` name -> a keras-hub encoder: one entry here adds one (`families/encoder.py` does the rest).
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
    # The prompt template alone takes about 35 tokens; 256 leave room for most reviews' start.
    "llm": {"learning_rate": 2e-5, "weight_decay": 0.01, "max_len": 256},
}


def run_defaults(name: str) -> dict:
    """The RunConfig fields model `name` sets when the user does not."""
    return {**SHARED_RUN_DEFAULTS, **RUN_DEFAULTS.get(name, {})}


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


def builder_for(name: str):
    """The builder of the scratch model `name` (imports its module, and so Keras)."""
    check_name(name)
    return getattr(importlib.import_module(f"textclf.models.{name}"), name)
