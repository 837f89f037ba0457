"""The timestamped CSV report: one row per run, the Weibo project's columns first.

Files are written atomically and never overwrite an earlier result: the run folder
is claimed with mkdir (which fails if it exists) and the report is linked into place
under a name nobody holds yet. Derived files that may be replaced (comparisons,
leaderboards) go through `write_atomically`.
"""

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, precision_score, recall_score

from textclf.files import replacing, temporary_beside
from textclf.run_folders import report_path

# The original project's columns, in its order; per-class report columns follow them.
LEADING = [
    "timestamp", "best_epoch", "best_val_loss", "best_val_accuracy", "best_val_precision", "best_val_recall",
    "final_test_loss", "final_test_accuracy", "final_test_precision", "final_test_recall",
]


def _present(y_true: np.ndarray) -> list[int]:
    """The classes the averages are over: those with a true test row. A class absent from the test split
    has no recall to measure; counted as 0 it would sink the macro average (0.33 for 3 classes at 95/4/1)."""
    return sorted(int(label) for label in np.unique(y_true))


def _absent(y_true: np.ndarray, class_names: list[str]) -> list[str]:
    present = set(_present(y_true))
    return [name for i, name in enumerate(class_names) if i not in present]


def precision_recall(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> tuple[float, float]:
    """Of the positive class (index 1) for two classes, as the original's Keras metrics; otherwise the macro
    average over the classes present in `y_true`."""
    if num_classes == 2:
        kwargs = dict(average="binary", labels=[0, 1], zero_division=0)
    else:
        kwargs = dict(average="macro", labels=_present(y_true), zero_division=0)
    return float(precision_score(y_true, y_pred, **kwargs)), float(recall_score(y_true, y_pred, **kwargs))


def report_columns(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """sklearn's classification report flattened to `report_<class>_<metric>` columns: every class, and
    averages over the classes present in `y_true`, with those absent named in `classes_absent_from_test`."""
    per_class = classification_report(
        y_true, y_pred, labels=list(range(len(class_names))), target_names=class_names,
        output_dict=True, zero_division=0,
    )
    present = _present(y_true)
    averages = classification_report(
        y_true, y_pred, labels=present, target_names=[class_names[i] for i in present], output_dict=True,
        zero_division=0,
    )
    report = {**per_class, "macro avg": averages["macro avg"], "weighted avg": averages["weighted avg"]}
    columns = {}
    for key, value in report.items():
        name = f"report_{key.replace(' ', '_')}"
        if isinstance(value, dict):
            columns.update({f"{name}_{metric}": v for metric, v in value.items()})
        else:
            columns[name] = value
    return {**columns, "classes_absent_from_test": ", ".join(_absent(y_true, class_names))}


def classification_text(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> str:
    """sklearn's text report over the classes present in `y_true`, and a line naming any absent one."""
    present = _present(y_true)
    text = classification_report(
        y_true, y_pred, labels=present, target_names=[class_names[i] for i in present], digits=4, zero_division=0
    )
    if absent := _absent(y_true, class_names):
        text += f"\nabsent from the test split, so left out of the averages: {', '.join(absent)}\n"
    return text


def write_report(row: dict, run_dir: Path) -> Path:
    """Writes the one-row CSV atomically, the LEADING columns it has first; never replaces an existing file."""
    columns = [c for c in LEADING if c in row] + [c for c in row if c not in LEADING]
    target = report_path(run_dir)
    with temporary_beside(target) as tmp:
        pd.DataFrame([row], columns=columns).to_csv(tmp, index=False)
        for n in itertools.count(1):
            path = target if n == 1 else target.with_name(f"{target.stem}_{n}.csv")
            try:
                os.link(tmp, path)  # unlike a rename, fails if the name is taken
                return path
            except FileExistsError:
                continue


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Calls `write` on a temporary path beside `path` (with its suffix, so matplotlib knows
    the format), then renames it into place. Unlike `write_report`, this replaces an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        write(tmp)
    return path
