"""The pictures say what they show: fitted axes, bars best first, values printed, whole epochs."""

import numpy as np
import pandas as pd

from textclf.reporting import plots

# ChnSentiCorp's table: at an axis from 0 these three bars looked the same height.
TABLE = pd.DataFrame({
    "dataset": ["chnsenticorp"] * 4 + ["imdb"],
    "model": ["lstm", "fasttext", "text_cnn", "bert", "gru"],
    "accuracy_mean": [0.89, 0.925, 0.905, np.nan, 0.86],
    "accuracy_std": [0.004, np.nan, 0.002, np.nan, np.nan],
})


def test_leaderboard_sorts_fits_the_axis_and_prints_each_value(tmp_path):
    fig = plots.leaderboard_png(TABLE, tmp_path / "l.png", "t")
    chn, imdb = fig.axes
    assert chn.get_title(loc="left") == "chnsenticorp" and imdb.get_title(loc="left") == "imdb"
    assert [t.get_text() for t in chn.get_yticklabels()] == ["fasttext", "text_cnn", "lstm", "bert"]  # best on top
    assert chn.yaxis_inverted()
    assert [t.get_text() for t in chn.texts] == ["0.9250", "0.9050 ± 0.0020", "0.8900 ± 0.0040", "no result"]
    left, right = chn.get_xlim()
    assert 0.85 < left < 0.886 and right > 0.925  # fitted: 0.89 vs 0.925 is a third of the axis, not 4%
    assert (0.925 - 0.89) / (right - left) > 0.3
    assert (tmp_path / "l.png").read_bytes().startswith(b"\x89PNG")


def test_a_dataset_whose_every_run_failed_still_draws(tmp_path):
    table = pd.DataFrame({"dataset": ["x"], "model": ["bert"], "accuracy_mean": [np.nan], "accuracy_std": [np.nan]})
    (ax,) = plots.leaderboard_png(table, tmp_path / "l.png", "t").axes
    assert [t.get_text() for t in ax.texts] == ["no result"]


def test_comparison_keeps_the_order_and_fits_the_axis(tmp_path):
    (ax,) = plots.comparison_png(["b", "a"], [0.89, 0.925], tmp_path / "c.png", "t").axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    assert [t.get_text() for t in ax.texts] == ["0.8900", "0.9250"]
    assert ax.get_xlim()[0] > 0.85


def test_training_curves_tick_whole_epochs(tmp_path):
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.6, 0.4, 0.3], "val_loss": [0.5, 0.45, 0.5],
                            "accuracy": [0.7, 0.8, 0.9], "val_accuracy": [0.75, 0.8, 0.79]})
    fig = plots.training_curves_png(history, 2, tmp_path / "c.png", "t")
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1, 2, 3]
