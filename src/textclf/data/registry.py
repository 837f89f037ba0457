"""The dataset registry: a plain dict of name -> the module that loads it.

A new dataset is one module with a `load(config) -> Splits` function and a
`DEFAULTS` dict, plus one line here. Names joined by `+` are a union of datasets
trained as one (`data/union.py`).
"""

import dataclasses
import functools
import importlib
from pathlib import Path
from typing import Callable

from textclf.config import RunConfig
from textclf.data import splits, union, user_file
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


def is_union(name: str) -> bool:
    """Whether `name` joins datasets with `+` (a file of that name is a file)."""
    return union.SEPARATOR in name and not Path(name).exists()


def check_name(name: str):
    """Raises InputError unless `name` is a registered dataset, looks like a file path, or joins such names
    with `+`, each once."""
    names = union.parts(name) if is_union(name) else [name]
    for part in names:
        if part not in DATASETS and not user_file.looks_like_path(part):
            raise InputError(f"unknown dataset {part!r}; choose one of {', '.join(DATASETS)} or give a file path"
                             f"{', or join them with +' if len(names) == 1 else ''}")
    if len(set(names)) < len(names):
        raise InputError(f"--dataset {name}: a union names each dataset once")


def _load_one(name: str, config: RunConfig) -> splits.Splits:
    return spec_for(name).load(config)


def spec_for(name: str) -> DatasetSpec:
    """The registered dataset `name`, a user's file when `name` looks like a path, or the union of the datasets
    that `name` joins with `+` (with the first one's defaults)."""
    check_name(name)
    if is_union(name):
        names = union.parts(name)
        return DatasetSpec(functools.partial(union.load, names, _load_one), spec_for(names[0]).defaults)
    module = importlib.import_module(DATASETS.get(name, "textclf.data.user_file"))
    return DatasetSpec(module.load, module.DEFAULTS)
