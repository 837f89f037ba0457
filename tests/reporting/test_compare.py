import datetime
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf.reporting import compare, report
from textclf.run_folders import reserve_run_dir

ROOT = Path(__file__).resolve().parents[2]
BINARY = ["negative", "positive"]
EIGHT = [f"topic{k}" for k in range(8)]
# (dataset, seed, classes, test accuracy), written in this order, one second apart
RUNS = [("weibo", 1, BINARY, 0.91), ("reuters", 1, EIGHT, 0.78), ("weibo", 2, BINARY, 0.93)]


def write_run(out: Path, n: int, dataset: str, seed: int, classes: list[str], accuracy: float) -> Path:
    y = np.arange(4 * len(classes)) % len(classes)
    row = {
        **{c: 0.5 for c in report.LEADING}, "final_test_accuracy": accuracy,
        **report.report_columns(y, y, classes), "dataset": dataset, "model": "lstm", "seed": seed,
        "epochs_run": 3, "train_seconds": 12.5, "train_samples_per_second": 400.0, "parameters": 1000 + n,
    }
    run_dir = reserve_run_dir(out, datetime.datetime(2026, 11, 23, 9, 30, n))
    return report.write_report({**row, "timestamp": run_dir.name.removeprefix("run_")}, run_dir)


@pytest.fixture
def reports(tmp_path) -> list[Path]:
    return [write_run(tmp_path / "output", n, *run) for n, run in enumerate(RUNS)]


def table_rows(out: str) -> list[list[str]]:
    """The printed table's rows (header excluded) split on whitespace."""
    lines = [line for line in out.splitlines() if line and not line.startswith(("plot: ", "table: "))]
    return [line.split() for line in lines[1:]]


def test_reports_with_different_classes_are_aligned_by_name(reports, tmp_path, capsys):
    merged, png = tmp_path / "merged.csv", tmp_path / "plots" / "cmp.png"
    columns = "dataset,seed,report_positive_f1-score,report_topic7_support"
    argv = [str(reports[0].parent), "--columns", columns, "--output", str(merged), "--plot", str(png)]
    assert compare.main(argv) == 0
    assert table_rows(capsys.readouterr().out) == [
        ["weibo", "1", "1.0", "-"], ["reuters", "1", "-", "4.0"], ["weibo", "2", "1.0", "-"],
    ]
    table = pd.read_csv(merged, dtype={"timestamp": str})
    assert len(table) == 3 and list(table.columns[: len(report.LEADING)]) == report.LEADING
    assert table["report_positive_f1-score"].isna().tolist() == [False, True, False]
    assert table["report_topic0_precision"].isna().tolist() == [True, False, True]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_default_columns_and_plot_beside_the_first_report(reports, capsys):
    assert compare.main([str(p) for p in reports]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == compare.DEFAULT_COLUMNS
    assert table_rows(out)[1][:5] == [reports[1].stem.removeprefix("training_report_"), "reuters", "lstm", "1", "0.78"]
    assert (reports[0].parent / compare.PLOT_NAME).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("flags, expected", [
    (["--sort", "final_test_accuracy"], [["weibo", "2"], ["weibo", "1"], ["reuters", "1"]]),
    (["--sort", "final_test_accuracy", "--ascending"], [["reuters", "1"], ["weibo", "1"], ["weibo", "2"]]),
    (["--sort", "report_positive_recall"], [["weibo", "1"], ["weibo", "2"], ["reuters", "1"]]),  # missing last
    (["--filter", "dataset=weibo"], [["weibo", "1"], ["weibo", "2"]]),
    (["--filter", "dataset=weibo", "--filter", "seed=2"], [["weibo", "2"]]),
    (["--filter", "dataset=weibo", "--filter", "dataset=reuters", "--filter", "seed=1"],
     [["weibo", "1"], ["reuters", "1"]]),
])
def test_sort_and_filter(reports, tmp_path, capsys, flags, expected):
    argv = [str(reports[0].parent), "--columns", "dataset,seed", "--plot", str(tmp_path / "c.png"), *flags]
    assert compare.main(argv) == 0
    assert table_rows(capsys.readouterr().out) == expected


@pytest.mark.parametrize("flags, message", [
    (["--sort", "accuracy"], "--sort: no report has a column 'accuracy'"),
    (["--sort", "final_test_acuracy"], "did you mean 'final_test_accuracy'?"),
    (["--filter", "dataset"], "--filter 'dataset': expected key=value"),
    (["--filter", "=imdb"], "expected key=value"),
    (["--filter", "colour=red"], "--filter: no report has a column 'colour'"),
    (["--filter", "dataset=imdb"], "no report matches --filter dataset=imdb"),
    (["--columns", "dataset,nope"], "--columns: no report has a column 'nope'"),
])
def test_bad_flags_exit_2_with_one_line(reports, tmp_path, capsys, flags, message):
    assert compare.main([str(reports[0].parent), "--plot", str(tmp_path / "c.png"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize("content, message", [
    (b"text,label\nhello,1\n", "not a training report (no timestamp, best_epoch, best_val_loss and 10 more columns)"),
    (b"", "not a readable CSV file"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary", "not a readable CSV file"),
])
def test_a_file_that_is_not_a_report_exits_2(reports, tmp_path, capsys, content, message):
    other = tmp_path / "other.csv"
    other.write_bytes(content)
    assert compare.main([str(reports[0]), str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {other}: {message}") and err.count("\n") == 1


def run_entry_point(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "src" / "compare_reports.py"), *args], cwd=cwd,
                          env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True, timeout=120)


@pytest.mark.large
def test_entry_point_expands_a_quoted_glob_and_fails_cleanly(reports, tmp_path):
    done = run_entry_point("output/*.csv", "--sort", "seed", "--columns", "dataset,seed", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert table_rows(done.stdout) == [["weibo", "2"], ["weibo", "1"], ["reuters", "1"]]
    failed = run_entry_point("nowhere/*.csv", cwd=tmp_path)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr == "error: nowhere/*.csv: no report matches\n"
