"""Pictures: a run folder's confusion matrix and training curves, and the charts comparing runs."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_matrix_png(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], path: Path, title: str):
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(class_names))), display_labels=class_names,
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45,
    )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def training_curves_png(history: pd.DataFrame, best_epoch: int, path: Path, title: str):
    """Loss and accuracy per epoch, train against validation, the selected epoch marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history["epoch"], history[metric], marker="o", label=f"train {metric}")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label=f"validation {metric}")
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"selected epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def comparison_png(labels: list[str], accuracies: list[float], path: Path, title: str):
    """One horizontal bar of test accuracy per run, the first run on top; a missing value draws no bar."""
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.4 * len(labels)))
    y = np.arange(len(labels))
    bars = ax.barh(y, accuracies, color="tab:blue")
    ax.bar_label(bars, fmt="%.4f", padding=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)  # room for the value labels right of a bar at 1.0
    ax.set_xlabel("test accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def leaderboard_png(table: pd.DataFrame, path: Path, title: str):
    """Grouped bars: one group per dataset, one bar per model, mean test accuracy with std error bars.

    Args:
        table: one row per (dataset, model) with `accuracy_mean` and `accuracy_std`; a cell
            with no successful seed has no mean and draws no bar, one seed draws no error bar.
    """
    means = table.pivot(index="dataset", columns="model", values="accuracy_mean")
    stds = table.pivot(index="dataset", columns="model", values="accuracy_std").fillna(0.0)
    x = np.arange(len(means.index))
    width = 0.8 / max(1, len(means.columns))
    fig, ax = plt.subplots(figsize=(max(6.0, 2.0 + 0.5 * len(means.index) * max(1, len(means.columns))), 4.5))
    for i, model in enumerate(means.columns):
        offset = (i - (len(means.columns) - 1) / 2) * width
        ax.bar(x + offset, means[model], width, yerr=stds[model], capsize=3, label=model)
    ax.set_xticks(x, means.index)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy, mean ± std over seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="model", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars reach 1.0
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
