"""Datasets trained as one: `--dataset weibo+online_shopping`, and texts kept out of training.

Each of a union's train, validation and test splits is the union of its datasets' splits, as each
loads them (a dataset without an official split carves its own with the run's seed). Classes are
matched by name, so every dataset must have the same class names; the first dataset's defaults
(`max_len`, `vocab_size`, ...) are the union's.

`without` removes texts from training and validation: a union's own test texts (its datasets
overlap: online_shopping holds 1,025 of ChnSentiCorp's test texts) and those of every dataset a
run is evaluated on (`--eval-datasets`), so that no test text is trained on.
"""

import dataclasses
from collections.abc import Callable, Iterable

import pandas as pd
from loguru import logger

from textclf.config import RunConfig
from textclf.data import splits
from textclf.errors import InputError

SEPARATOR = "+"


def parts(name: str) -> list[str]:
    """The datasets of a union's name; a single dataset's name is its only part."""
    return [part.strip() for part in name.split(SEPARATOR)]


def load(names: list[str], load_one: Callable[[str, RunConfig], splits.Splits], config: RunConfig) -> splits.Splits:
    """The datasets `names` as one `Splits`, each loaded by `load_one(name, config)`."""
    loaded = {name: load_one(name, dataclasses.replace(config, dataset=name)) for name in names}
    first = loaded[names[0]]
    for name, data in loaded.items():
        if sorted(data.class_names) != sorted(first.class_names):
            raise InputError(f"--dataset {config.dataset}: {name}'s classes {data.class_names} are not "
                             f"{names[0]}'s {first.class_names}; a union needs the same class names")
        if data.language != first.language:
            raise InputError(f"--dataset {config.dataset}: {name} is in '{data.language}', {names[0]} in "
                             f"'{first.language}'; a union is of datasets in one language")

    def joined(split: str) -> pd.DataFrame:
        frames = []
        for data in loaded.values():
            index = {i: first.class_names.index(class_name) for i, class_name in enumerate(data.class_names)}
            frame = getattr(data, split)
            frames.append(frame.assign(label=frame["label"].map(index).astype("int32")))
        return pd.concat(frames, ignore_index=True)

    return splits.Splits(joined("train"), joined("val"), joined("test"), first.class_names, first.language)


SPLIT_NAMES = {"train": "training", "val": "validation"}


def without(data: splits.Splits, texts: Iterable[str], what: str, from_splits=("train", "val")) -> splits.Splits:
    """`data` with the rows of `from_splits` (train and validation) whose text is among `texts` removed (counted
    in the log)."""
    texts = set(texts)
    kept = {split: getattr(data, split)[lambda frame: ~frame["text"].isin(texts)].reset_index(drop=True)
            for split in from_splits}
    removed = {split: len(getattr(data, split)) - len(frame) for split, frame in kept.items()}
    if any(removed.values()):
        counts = " and ".join(f"{n:,} {SPLIT_NAMES[split]}" for split, n in removed.items())
        logger.info(f"removed {counts} rows whose text is in {what}")
    return dataclasses.replace(data, **kept)
