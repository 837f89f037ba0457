"""Train / validation / test splits with integer class indices.

Model selection only ever sees `val`; `test` is touched once, for the report.
"""

import collections
import dataclasses
import hashlib
import itertools
import math
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
from loguru import logger

from textclf.config import RunConfig
from textclf.errors import InputError


@dataclasses.dataclass
class Splits:
    """Three frames with columns `text` (str) and `label` (int index into `class_names`); with --teacher, the
    transfer set and the teacher's probabilities (`textclf.distillation`)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    class_names: list[str]
    language: str  # "en" or "zh": picks the tokenizer when --tokenizer auto
    transfer: list[str] = dataclasses.field(default_factory=list)  # texts without labels, trained on beside train
    teacher: np.ndarray | None = None  # (train + transfer rows, classes): the teacher's probabilities, in that order

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test),
                **({"transfer": len(self.transfer)} if self.transfer else {})}


def carve(frame: pd.DataFrame, size: float | int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits off `size` rows (a fraction when a float) of `frame`, stratified by label and seeded.

    Falls back to an unstratified split when a class is too rare to stratify.
    """
    from sklearn.model_selection import train_test_split  # 1.5 s: a bad flag is answered without it

    try:
        rest, part = train_test_split(frame, test_size=size, random_state=seed, stratify=frame["label"])
    except ValueError:
        logger.warning("a class is too rare to stratify the split; splitting at random")
        rest, part = train_test_split(frame, test_size=size, random_state=seed)
    return rest.reset_index(drop=True), part.reset_index(drop=True)


def _number_name(label: str) -> str | None:
    """The canonical spelling of a numeric label ("01", "1.0" -> "1"; "0.50" -> "0.5"), or None."""
    try:
        value = Decimal(label)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value.adjusted()) > 18:  # no class label is that long; int() stays cheap
        return None
    return str(int(value)) if value == value.to_integral_value() else str(value.normalize())


def canonical_labels(labels: pd.Series) -> tuple[dict[str, str], list[str]]:
    """How each raw label is named, and the class names in order.

    Labels are stripped; when every one of them is a number they are compared as numbers
    (1, 01 and 1.0 are one class, "1") and ordered numerically, otherwise as text, in sorted order.
    Case is kept: pos and POS stay two classes (`encode_labels` warns).
    """
    raw = sorted(set(labels.astype(str)))
    stripped = {label: label.strip() for label in raw}
    numbers = {label: _number_name(text) for label, text in stripped.items()}
    if all(name is not None for name in numbers.values()):
        return numbers, sorted(set(numbers.values()), key=Decimal)
    return stripped, sorted(set(stripped.values()))


def _warn_of_case_clashes(names: list[str], source: str):
    by_case = collections.defaultdict(list)
    for name in names:
        by_case[name.casefold()].append(name)
    if clashes := ["/".join(group) for group in by_case.values() if len(group) > 1]:
        logger.warning(f"{source}: labels that differ only by case are kept as different classes: {', '.join(clashes)}")


def encode_labels(
    frames: dict[str, pd.DataFrame], names: dict[str, str] | None, source: str
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Maps raw labels to 0..K-1 (see `canonical_labels`).

    Args:
        frames: split name -> frame with raw labels.
        names: raw label -> class name for datasets with known classes (e.g. "1" -> "positive");
            a raw label outside it is an error. None: class names are the raw labels.
        source: what to name in an error.
    """
    spelling, order = canonical_labels(pd.concat([f["label"] for f in frames.values()]))
    _warn_of_case_clashes(order, source)
    if names is not None:
        unknown = sorted(set(order) - set(names))
        if unknown:
            raise InputError(f"{source}: unexpected labels {unknown}; expected {sorted(names)}")
        order = list(names)
    index = {label: i for i, label in enumerate(order)}
    encoded = {
        split: f.assign(label=f["label"].astype(str).map(spelling).map(index).astype("int32"))
        for split, f in frames.items()
    }
    class_names = [names[label] for label in order] if names is not None else order
    return encoded, class_names


def _carved_sizes(rows: int, *, val_fraction: float | None, test_fraction: float | None) -> dict[str, int]:
    """The sizes `make_splits` gives train and the splits it carves (a None fraction: that split is given)."""
    carved = {}
    if val_fraction is not None:
        carved["validation"] = round(rows * val_fraction)
    if test_fraction is not None:
        carved["test"] = math.ceil(rows * test_fraction)  # as train_test_split rounds a fraction
    return {"train": rows - sum(carved.values()), **carved}


def check_enough_rows(rows: int, classes: int, source: str, **fractions: float | None):
    """Each carved split needs a row of every class, or stratifying fails (and a class can go missing).

    Args:
        fractions: `val_fraction` and `test_fraction`, None for a split the dataset gives.
    """
    def enough(n: int) -> bool:
        return min(_carved_sizes(n, **fractions).values()) >= classes

    if enough(rows):
        return
    shares = [f for f in fractions.values() if f is not None] + [1 - sum(f for f in fractions.values() if f)]
    start = max(rows + 1, *(math.floor((classes - 1) / share) for share in shares))  # none is enough below
    needed = next(n for n in itertools.count(start) if enough(n))
    sizes = ", ".join(f"{size} {name}" for name, size in _carved_sizes(rows, **fractions).items())
    raise InputError(
        f"{source}: {rows} rows: too few to split into train/validation/test with {classes} classes "
        f"(need at least {needed} rows, so that each split holds every class; this gives {sizes})"
    )


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

    With neither split given, 0.1 and 0.1 give 80/10/10. Too few rows or a single class fail
    before any split is carved.
    """
    classes = len(canonical_labels(train["label"])[1])
    if classes < 2:
        raise InputError(f"{source}: the training data holds only one class; a classifier needs two or more")
    check_enough_rows(len(train), classes, source, val_fraction=val_fraction if val is None else None,
                      test_fraction=test_fraction if test is None else None)
    val_size = round(len(train) * val_fraction)  # counted before test is carved from the same rows
    if test is None:
        train, test = carve(train, test_fraction, seed)
    if val is None:
        train, val = carve(train, val_size, seed)
    frames, class_names = encode_labels({"train": train, "val": val, "test": test}, names, source)
    return Splits(frames["train"], frames["val"], frames["test"], class_names, language)


def for_run(
    config: RunConfig,
    train: pd.DataFrame,
    val: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    *,
    names: dict[str, str] | None,
    language: str,
    source: str,
) -> Splits:
    """`make_splits` with the run's seed and fractions: what a dataset's `load` returns.

    Example:
        return splits.for_run(config, train, test=test, names=NAMES, language="en", source=str(folder))
    """
    return make_splits(
        train, val, test, seed=config.seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
        names=names, language=language, source=source,
    )


def cap(splits: Splits, max_samples: int | None, seed: int) -> Splits:
    """Keeps at most `max_samples` random rows of each split (for smoke runs), and every class the split holds.

    Raises:
        InputError: `max_samples` is below the number of classes: a split would lose one.
    """
    if max_samples is None:
        return splits
    classes = len(splits.class_names)
    if max_samples < classes:
        raise InputError(f"--max-samples {max_samples}: too few to keep {classes} classes in each split (need at "
                         f"least {classes} rows, so that each split holds every class)")

    def take(frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) <= max_samples:
            return frame
        sample = frame.sample(max_samples, random_state=seed)
        if sample["label"].nunique() == frame["label"].nunique():
            return sample  # the rows cap always took: earlier runs keep their data fingerprint
        return _with_every_class(frame, max_samples, seed)

    return dataclasses.replace(splits, train=take(splits.train), val=take(splits.val), test=take(splits.test))


def _with_every_class(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """`size` random rows of `frame`: a row of each of its classes, then the others, in a seeded random order."""
    shuffled = frame.sample(frac=1, random_state=seed)
    first_of_class = ~shuffled["label"].duplicated()
    others = (~first_of_class).cumsum() <= size - first_of_class.sum()
    return shuffled[(first_of_class | others).to_numpy()]


def data_fingerprint(data: Splits) -> str:
    """A hash of the splits' texts and labels, in order, and of the class names."""
    digest = hashlib.sha256(repr(data.class_names).encode())
    for name in ("train", "val", "test"):
        frame = getattr(data, name)[["text", "label"]]
        digest.update(f"{name}:{len(frame)}".encode())  # a row moved from one split to the next changes it
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if data.transfer:  # only then: the runs before transfer sets keep their fingerprint
        digest.update(f"transfer:{len(data.transfer)}".encode())
        digest.update(pd.util.hash_pandas_object(pd.Series(data.transfer), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:12]
