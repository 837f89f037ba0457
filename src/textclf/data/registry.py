"""The dataset registry: a plain dict of name -> (loader, defaults).

A new dataset is one module with a `load(config) -> Splits` function and a
`DEFAULTS` dict, plus one line here.
"""

import dataclasses
from typing import Callable

from textclf.config import RunConfig
from textclf.data import chnsenticorp, imdb, online_shopping, r8, splits, sst2, user_file, weibo
from textclf.errors import InputError


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    load: Callable[[RunConfig], splits.Splits]
    defaults: dict  # fills the RunConfig fields a user left unset


DATASETS = {
    "weibo": DatasetSpec(weibo.load, weibo.DEFAULTS),
    "imdb": DatasetSpec(imdb.load, imdb.DEFAULTS),
    "sst2": DatasetSpec(sst2.load, sst2.DEFAULTS),
    "r8": DatasetSpec(r8.load, r8.DEFAULTS),
    "chnsenticorp": DatasetSpec(chnsenticorp.load, chnsenticorp.DEFAULTS),
    "online_shopping": DatasetSpec(online_shopping.load, online_shopping.DEFAULTS),
}


def spec_for(name: str) -> DatasetSpec:
    """The registered dataset `name`, or a user's file when `name` looks like a path."""
    if name in DATASETS:
        return DATASETS[name]
    if user_file.looks_like_path(name):
        return DatasetSpec(user_file.load, user_file.DEFAULTS)
    raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} or give a file path")
