"""The model registry: a plain dict of `--model` name -> the module of its builder.

Every builder has the signature `builder(vocab_size, num_classes, **hyperparameters)`,
returns an uncompiled `keras.Model` taking right-padded int32 ids (0 = padding, 1 = OOV) and
giving float32 class probabilities, and owns its hyperparameters' defaults. Its predictions do
not depend on how much padding follows a text.

Every builder accepts `embeddings` (an initial (vocab_size, dim) matrix, which sets the width; see
`textclf.data.embeddings.load_vectors`) and `freeze_embeddings`; all but `lstm` and `transformer`
also accept `l2`.

`RUN_DEFAULTS` holds what a model needs from the run other than the shared defaults, such as its
learning rate or weight averaging; a flag the user gives still wins.
"""

import importlib

from textclf.errors import InputError

# `--model` name -> the module holding the builder of the same name. Imported on use, so an unknown
# name is answered before Keras and TensorFlow load (15 s on a small CPU).
MODELS = {
    "stacked_lstm": "textclf.models.stacked_lstm",
    "lstm": "textclf.models.lstm",
    "gru": "textclf.models.gru",
    "bilstm": "textclf.models.bilstm",
    "text_cnn": "textclf.models.text_cnn",
    "cnn_lstm": "textclf.models.cnn_lstm",
    "attention_lstm": "textclf.models.attention_lstm",
    "capsule_lstm": "textclf.models.capsule_lstm",
    "transformer": "textclf.models.transformer",
    "fasttext": "textclf.models.fasttext",
}

# Fills RunConfig fields the user left unset, before the dataset's defaults do.
SHARED_RUN_DEFAULTS = {"learning_rate": 1e-3, "ema_momentum": 0.0}
RUN_DEFAULTS = {
    # Validating and keeping the weights' moving average lifted IMDB test accuracy from 0.858 to 0.868.
    "stacked_lstm": {"ema_momentum": 0.99},
    # One linear layer over averaged vectors learns slowly: at 1e-3 it underfit R8 (train accuracy 0.77).
    "fasttext": {"learning_rate": 1e-2},
}


def run_defaults(name: str) -> dict:
    """The RunConfig fields model `name` sets when the user does not."""
    return {**SHARED_RUN_DEFAULTS, **RUN_DEFAULTS.get(name, {})}


def check_name(name: str):
    """Raises InputError for a name that is not in MODELS, without importing any model."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def builder_for(name: str):
    """The builder of model `name` (imports its module, and so Keras)."""
    check_name(name)
    return getattr(importlib.import_module(MODELS[name]), name)
