"""The model registry: a plain dict of `--model` name -> builder.

Every builder has the signature `builder(vocab_size, num_classes, **hyperparameters)`,
returns an uncompiled `keras.Model` taking right-padded int ids (0 = padding) and
giving float32 class probabilities, and owns its hyperparameters' defaults.
"""

from textclf.errors import InputError
from textclf.models.lstm import lstm
from textclf.models.stacked_lstm import stacked_lstm

MODELS = {
    "stacked_lstm": stacked_lstm,
    "lstm": lstm,
}


def builder_for(name: str):
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
