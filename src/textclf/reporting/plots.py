"""Pictures: a run folder's confusion matrix and training curves, and the charts comparing runs."""

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_matrix_png(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], path: Path, title: str):
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(class_names))), display_labels=class_names,
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45,
    )
    ax.set_title(title)
    _save(fig, path)


def training_curves_png(history: pd.DataFrame, best_epoch: int, path: Path, title: str) -> Figure:
    """Loss and accuracy per epoch, train against validation, the selected epoch marked; returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history["epoch"], history[metric], marker="o", label=f"train {metric}")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label=f"validation {metric}")
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"selected epoch {best_epoch}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.2, 1.4, ...
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def _accuracy_limits(low: float, high: float) -> tuple[float, float]:
    """An axis fitted to values between `low` and `high`, so 0.89 and 0.925 do not look alike (an axis
    from 0 makes them), with room on the right for the printed values."""
    margin = max(0.01, 0.1 * (high - low))
    left, right = max(0.0, low - margin), min(1.0, high + margin)
    return left, right + 0.35 * (right - left)


def _value_text(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "no result"
    return f"{mean:.4f}" if np.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _accuracy_bars(ax, labels: list[str], means: np.ndarray, stds: np.ndarray | None = None):
    """Horizontal bars, the first on top, each with its value printed; a missing mean draws no bar."""
    stds = np.full(len(means), np.nan) if stds is None else stds
    errors = np.nan_to_num(stds)
    shown = ~np.isnan(means)
    left, right = _accuracy_limits(*(((means - errors)[shown].min(), (means + errors)[shown].max())
                                     if shown.any() else (0.0, 1.0)))
    y = np.arange(len(labels))
    # nan, not 0, where there is no deviation: matplotlib draws no error bar there (0 draws a stray cap)
    bars = ax.barh(y, np.nan_to_num(means - left), left=left, xerr=stds, capsize=3, color="tab:blue")
    ax.bar_label(bars, [_value_text(m, s) for m, s in zip(means, stds)], padding=4)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(left, right)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def comparison_png(labels: list[str], accuracies: list[float], path: Path, title: str) -> Figure:
    """One horizontal bar of test accuracy per run, in the given order, the first on top; returns the figure."""
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.4 * len(labels)))
    _accuracy_bars(ax, labels, np.asarray(accuracies, dtype=float))
    ax.set_xlabel("test accuracy")
    ax.set_title(title)
    return _save(fig, path)


def leaderboard_png(table: pd.DataFrame, path: Path, title: str) -> Figure:
    """One panel per dataset, one bar per model, best mean test accuracy on top, with std error bars
    and each value printed; each panel's axis is fitted to its own values. Returns the figure.

    Args:
        table: one row per (dataset, model) with `accuracy_mean` and `accuracy_std`; a cell
            with no successful seed has no mean and draws no bar, one seed draws no error bar.
    """
    datasets = list(dict.fromkeys(table["dataset"]))
    heights = [1.0 + 0.45 * (table["dataset"] == d).sum() for d in datasets]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(9, 1.0 + sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, dataset in zip(axes[:, 0], datasets):
        cells = table[table["dataset"] == dataset].sort_values("accuracy_mean", ascending=False, na_position="last")
        _accuracy_bars(ax, cells["model"].tolist(), cells["accuracy_mean"].to_numpy(float),
                       cells["accuracy_std"].to_numpy(float))
        ax.set_title(dataset, loc="left")
    axes[-1, 0].set_xlabel("test accuracy, mean ± std over seeds")
    fig.suptitle(title)
    return _save(fig, path)


def reliability_png(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str) -> Figure:
    """A reliability diagram: accuracy against mean confidence per confidence bin, one line per set of
    probabilities (`training.calibration.reliability`'s bins), the diagonal being perfect calibration, and the
    rows per bin below. Returns the figure."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    for (label, (confidence, accuracy, rows)), offset in zip(curves.items(), (-0.15, 0.15)):
        used = rows > 0
        top.plot(confidence[used], accuracy[used], marker="o", label=label)
        width = 0.3 / len(rows)
        bottom.bar(np.arange(len(rows))[used] / len(rows) + (0.5 + offset) / len(rows), rows[used], width=width,
                   label=label)
    top.set_ylabel("accuracy")
    top.legend()
    bottom.set_xlabel("confidence (the predicted class's probability)")
    bottom.set_ylabel("rows")
    bottom.set_yscale("log")
    fig.suptitle(title)
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Figure:
    """Writes `fig` to `path` and closes it; the figure is returned for tests to read."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


# Chinese words need a CJK font: matplotlib falls back from DejaVu Sans to the first of these that is installed.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei"]


def _fonts() -> list[str]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in CJK_FONTS if name in installed)]


def top_tokens_png(table: pd.DataFrame, path: Path, title: str) -> Figure:
    """One bar chart per class of `table` (class, token, score, count): its words by mean score, highest on top."""
    classes = list(dict.fromkeys(table["class"])) or ["(none)"]
    tallest = max([len(table[table["class"] == name]) for name in classes] + [1])
    with plt.rc_context({"font.family": _fonts()}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing", UserWarning)  # Chinese words without a CJK font
        fig, axes = plt.subplots(1, len(classes), figsize=(4 * len(classes), 1.2 + 0.3 * tallest), squeeze=False)
        for ax, name in zip(axes[0], classes):
            rows = table[table["class"] == name]
            ax.barh(range(len(rows)), rows["score"], color=np.where(rows["score"] >= 0, "tab:green", "tab:red"))
            ax.set_yticks(range(len(rows)), [f"{token} ({count})"
                                             for token, count in zip(rows["token"], rows["count"])])
            ax.invert_yaxis()
            ax.set_title(name)
            ax.set_xlabel("mean score (texts)")
        fig.suptitle(title)
        return _save(fig, path)


def trials_png(trials: pd.DataFrame, score: str, direction: str, path: Path, title: str) -> Figure:
    """Each trial's validation `score` in the order the trials ran, and the best so far (`direction`: max or min);
    failed trials (no score) are left out."""
    scored = trials.dropna(subset=[score]) if score in trials else pd.DataFrame({"trial": [], score: []})
    numbers, scores = scored["trial"].astype(int).to_numpy(), scored[score].astype(float).to_numpy()
    best = (np.maximum if direction == "max" else np.minimum).accumulate(scores)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(numbers, scores, "o", label="trial")
    ax.step(numbers, best, where="post", color="grey", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(score)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)
