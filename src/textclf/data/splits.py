"""Train / validation / test splits with integer class indices.

Model selection only ever sees `val`; `test` is touched once, for the report.
"""

import dataclasses

import pandas as pd
from loguru import logger
from sklearn.model_selection import train_test_split

from textclf.errors import InputError


@dataclasses.dataclass
class Splits:
    """Three frames with columns `text` (str) and `label` (int index into `class_names`)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    class_names: list[str]
    language: str  # "en" or "zh": picks the tokenizer when --tokenizer auto

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def carve(frame: pd.DataFrame, size: float | int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits off `size` rows (a fraction when a float) of `frame`, stratified by label and seeded.

    Falls back to an unstratified split when a class is too rare to stratify.
    """
    try:
        rest, part = train_test_split(frame, test_size=size, random_state=seed, stratify=frame["label"])
    except ValueError:
        logger.warning("a class is too rare to stratify the split; splitting at random")
        rest, part = train_test_split(frame, test_size=size, random_state=seed)
    return rest.reset_index(drop=True), part.reset_index(drop=True)


def _label_order(labels: pd.Series) -> list[str]:
    names = sorted(labels.astype(str).unique())
    try:
        return sorted(names, key=int)
    except ValueError:
        return names


def encode_labels(
    frames: dict[str, pd.DataFrame], names: dict[str, str] | None, source: str
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Maps raw labels to 0..K-1, in numeric order when they are numbers.

    Args:
        frames: split name -> frame with raw labels.
        names: raw label -> class name for datasets with known classes (e.g. "1" -> "positive");
            a raw label outside it is an error. None: class names are the raw labels.
        source: what to name in an error.
    """
    raw = pd.concat([f["label"] for f in frames.values()]).astype(str).str.strip()
    order = _label_order(raw)
    if names is not None:
        unknown = sorted(set(order) - set(names))
        if unknown:
            raise InputError(f"{source}: unexpected labels {unknown}; expected {sorted(names)}")
        order = list(names)
    if len(set(frames["train"]["label"].astype(str).str.strip())) < 2:
        raise InputError(f"{source}: the training data holds only one class; a classifier needs two or more")
    index = {label: i for i, label in enumerate(order)}
    encoded = {
        split: f.assign(label=f["label"].astype(str).str.strip().map(index).astype("int32"))
        for split, f in frames.items()
    }
    class_names = [names[label] for label in order] if names is not None else order
    return encoded, class_names


def make_splits(
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    test: pd.DataFrame | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    names: dict[str, str] | None,
    language: str,
    source: str,
) -> Splits:
    """Carves the missing splits; both fractions are of all the labelled rows given.

    With neither split given, 0.1 and 0.1 give 80/10/10.
    """
    val_size = round(len(train) * val_fraction)  # counted before test is carved from the same rows
    if test is None:
        train, test = carve(train, test_fraction, seed)
    if val is None:
        train, val = carve(train, val_size, seed)
    frames, class_names = encode_labels({"train": train, "val": val, "test": test}, names, source)
    return Splits(frames["train"], frames["val"], frames["test"], class_names, language)


def cap(splits: Splits, max_samples: int | None, seed: int) -> Splits:
    """Keeps at most `max_samples` random rows of each split (for smoke runs)."""
    if max_samples is None:
        return splits

    def take(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if len(frame) <= max_samples else frame.sample(max_samples, random_state=seed)

    return dataclasses.replace(splits, train=take(splits.train), val=take(splits.val), test=take(splits.test))
