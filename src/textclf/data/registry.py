"""The dataset registry: a plain dict of name -> the module that loads it.

A new dataset is one module with a `load(config) -> Splits` function and a
`DEFAULTS` dict, plus one line here.
"""

import dataclasses
import importlib
from typing import Callable

from textclf.config import RunConfig
from textclf.data import splits, user_file
from textclf.errors import InputError


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    load: Callable[[RunConfig], splits.Splits]
    defaults: dict  # fills the RunConfig fields a user left unset


# Imported on use, so an unknown name is answered before anything loads TensorFlow (imdb.py does).
DATASETS = {
    "weibo": "textclf.data.weibo",
    "imdb": "textclf.data.imdb",
    "sst2": "textclf.data.sst2",
    "r8": "textclf.data.r8",
    "chnsenticorp": "textclf.data.chnsenticorp",
    "online_shopping": "textclf.data.online_shopping",
}


def check_name(name: str):
    """Raises InputError unless `name` is a registered dataset or looks like a file path."""
    if name not in DATASETS and not user_file.looks_like_path(name):
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} or give a file path")


def spec_for(name: str) -> DatasetSpec:
    """The registered dataset `name`, or a user's file when `name` looks like a path."""
    check_name(name)
    module = importlib.import_module(DATASETS.get(name, "textclf.data.user_file"))
    return DatasetSpec(module.load, module.DEFAULTS)
