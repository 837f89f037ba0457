"""The texts a run is trained, selected and scored on: its splits with the held-out texts kept out, and the
labelled sets it is evaluated on (`--eval-datasets`, evaluate.py).

`run.py` and `evaluation.py` both read their data here, so evaluate.py counts the texts a run trained on exactly as
the run read them.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from textclf.config import RunConfig, saved_config, split_names
from textclf.data import registry, splits, tables, union
from textclf.errors import InputError
from textclf.files import read_json


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """Labelled texts to evaluate on; `labels` are class names."""

    name: str  # for column and file names: the dataset's name, or a file's stem
    source: str  # the dataset name or the file path, as given
    split: str
    texts: list[str]
    labels: list[str]


def set_name(dataset: str) -> str:
    """`dataset` as it appears in column names: a registered name as it is, a file's stem or a union's names
    in word characters."""
    if dataset in registry.DATASETS:
        return dataset
    stem = dataset if registry.is_union(dataset) else Path(dataset).name.split(".")[0]
    return re.sub(r"\W+", "_", stem).strip("_") or "file"


def is_file(dataset: str) -> bool:
    """Whether `dataset` names a user's file, not a registered dataset or a union of datasets."""
    return dataset not in registry.DATASETS and not registry.is_union(dataset)


def default_split(dataset: str) -> str:
    """`test` of a dataset; all of a user's file (which no run trained on)."""
    return "all" if is_file(dataset) else "test"


def load_set(dataset: str, split: str, *, data_dir: str, seed: int, text_column: str | None = None,
             label_column: str | None = None) -> EvalSet:
    """A split of a registered dataset or of a user's file, as training would split it with `seed`
    (datasets without an official test split carve theirs with the seed); `all` is every labelled row."""
    if split == "all" and is_file(dataset):  # a whole file: nothing to carve, however small
        frame = tables.load_labelled(Path(dataset), text_column, label_column)
        spelling, _ = splits.canonical_labels(frame["label"])
        return EvalSet(set_name(dataset), dataset, split, frame["text"].astype(str).tolist(),
                       frame["label"].astype(str).map(spelling).tolist())
    config = RunConfig(dataset=dataset, data_dir=data_dir, seed=seed, text_column=text_column,
                       label_column=label_column)
    data = registry.spec_for(dataset).load(config)
    frame = pd.concat([data.train, data.val, data.test]) if split == "all" else getattr(data, split)
    names = np.asarray(data.class_names, dtype=object)
    return EvalSet(set_name(dataset), dataset, split, frame["text"].tolist(), names[frame["label"].to_numpy()].tolist())


def class_indices(eval_set: EvalSet, class_names: list[str], label_map: dict[str, str] | None = None) -> np.ndarray:
    """The run's class index of every label of `eval_set`, renamed by `label_map` first.

    Raises:
        InputError: for a label that is not one of the run's classes, or a `label_map` key the set lacks.
    """
    label_map = label_map or {}
    if missing := sorted(set(label_map) - set(eval_set.labels)):
        raise InputError(f"{eval_set.source}: --label-map renames {missing}, but its labels are "
                         f"{sorted(set(eval_set.labels))}")
    renamed = [label_map.get(label, label) for label in eval_set.labels]
    if unknown := sorted(set(renamed) - set(class_names)):
        raise InputError(f"{eval_set.source}: labels {unknown} are not among the run's classes {class_names}; "
                         f"rename them with --label-map, e.g. --label-map {unknown[0]}={class_names[0]}")
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[label] for label in renamed], dtype=np.int64)


def seen_in_training(texts: list[str], training_texts: set[str]) -> int:
    """How many of `texts` also occur among `training_texts` (train and validation of the run)."""
    return sum(text in training_texts for text in texts)


def training_texts(config: dict, source: str) -> set[str]:
    """The texts a run trained and selected on (train and validation), read and split as it read them, from its
    config.json's `config` (read from `source`); an ensemble's are its members' (`members`: their run folders).

    Raises:
        InputError: its data (or a member's config) cannot be read here.
    """
    if isinstance(config, dict) and "members" in config:
        if not isinstance(config["members"], list) or not all(isinstance(m, str) for m in config["members"]):
            raise InputError(f"{source}: members: expected a list of run folders, got {config['members']!r}")
        texts = set()
        for member in config["members"]:
            path = Path(member) / "config.json"
            texts |= training_texts(read_json(path), str(path))
        return texts
    data, _ = read_data(saved_config(config, source))
    return set(data.train["text"]) | set(data.val["text"])


def read_data(config: RunConfig) -> tuple[splits.Splits, list[EvalSet]]:
    """The splits a run of `config` trains on (--max-samples applied, the texts it is scored on kept out of
    training and validation) and its `--eval-datasets`."""
    data = splits.cap(registry.spec_for(config.dataset).load(config), config.max_samples, config.seed)
    eval_sets = _eval_sets(config, data.class_names)
    return _kept_out(config, data, eval_sets), eval_sets


def _eval_sets(config: RunConfig, class_names: list[str]) -> list[EvalSet]:
    """The `--eval-datasets`, read and their classes matched before training, so neither fails after it."""
    eval_sets = []
    for name in split_names(config.eval_datasets or ""):
        eval_set = load_set(name, default_split(name), data_dir=config.data_dir, seed=config.seed)
        class_indices(eval_set, class_names)
        eval_sets.append(eval_set)
    return eval_sets


def _kept_out(config: RunConfig, data: splits.Splits, eval_sets: list[EvalSet]) -> splits.Splits:
    """Training and validation without the texts of the test splits the run is scored on: its own (ChnSentiCorp's
    train holds 331 of its test texts; a union's datasets overlap; a file may repeat a text) and those of the
    `--eval-datasets`; and training without its validation texts (ChnSentiCorp's train holds 338), so that
    selection is not on memorised texts."""
    data = union.without(data, data.test["text"], f"the test split of {config.dataset}")
    data = union.without(data, data.val["text"], f"the validation split of {config.dataset}", from_splits=("train",))
    for eval_set in eval_sets:
        data = union.without(data, eval_set.texts, f"the {eval_set.split} split of {eval_set.source}")
    return data
