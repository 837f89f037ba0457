import datetime

import numpy as np
import pandas as pd
import pytest

from textclf.reporting import report
from textclf.run_folders import report_path, reserve_run_dir

NOW = datetime.datetime(2026, 11, 23, 9, 30, 0)


def test_run_dirs_in_the_same_second_are_distinct(tmp_path):
    dirs = [reserve_run_dir(tmp_path, NOW) for _ in range(3)]
    assert [d.name for d in dirs] == ["run_20261123_093000", "run_20261123_093000_2", "run_20261123_093000_3"]
    assert report_path(dirs[1]).name == "training_report_20261123_093000_2.csv"


def test_report_never_overwrites_and_keeps_the_leading_columns(tmp_path):
    run_dir = reserve_run_dir(tmp_path, NOW)
    row = {"dataset": "x", **{c: 0.5 for c in report.LEADING}}
    first = report.write_report(row, run_dir)
    second = report.write_report({**row, "dataset": "y"}, run_dir)
    assert first != second
    assert pd.read_csv(first)["dataset"].item() == "x"
    assert pd.read_csv(second)["dataset"].item() == "y"
    assert list(pd.read_csv(first).columns)[: len(report.LEADING)] == report.LEADING
    assert not list(tmp_path.rglob(".*tmp*"))


def test_report_columns_per_class_and_averages():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    cols = report.report_columns(y_true, y_pred, ["earn", "money fx", "ship"])
    assert cols["report_earn_precision"] == pytest.approx(0.5)
    assert cols["report_money_fx_recall"] == pytest.approx(1.0)
    assert cols["report_ship_support"] == 2
    assert cols["report_accuracy"] == pytest.approx(4 / 6)
    assert {"report_macro_avg_f1-score", "report_weighted_avg_precision"} <= set(cols)


def test_precision_recall_binary_positive_class_and_macro():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([1, 0, 1, 1])
    assert report.precision_recall(y_true, y_pred, 2) == (pytest.approx(2 / 3), pytest.approx(1.0))
    p, r = report.precision_recall(np.array([0, 1, 2]), np.array([0, 1, 1]), 3)
    assert p == pytest.approx((1 + 0.5 + 0) / 3) and r == pytest.approx(2 / 3)


def test_averages_leave_out_a_class_absent_from_the_test_split():
    y_true = np.array([0] * 95 + [1] * 5)  # 95/4/1 in the data: "ship" has no test row
    y_pred = y_true.copy()
    names = ["earn", "money fx", "ship"]
    cols = report.report_columns(y_true, y_pred, names)
    assert cols["report_macro_avg_f1-score"] == pytest.approx(1.0)  # 0.67 when ship counted as 0
    assert cols["report_macro_avg_support"] == 100 and cols["report_ship_support"] == 0
    assert cols["classes_absent_from_test"] == "ship"
    assert report.precision_recall(y_true, y_pred, 3) == (pytest.approx(1.0), pytest.approx(1.0))
    text = report.classification_text(y_true, y_pred, names)
    assert "ship" in text.splitlines()[-1] and "left out of the averages" in text
    macro = next(line for line in text.splitlines() if "macro avg" in line)
    assert macro.split()[2:5] == ["1.0000", "1.0000", "1.0000"]


def test_a_prediction_of_an_absent_class_still_costs_precision():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    cols = report.report_columns(y_true, y_pred, ["a", "b", "c"])
    assert cols["report_macro_avg_precision"] == pytest.approx(1.0) and cols["report_a_recall"] == 0.5
    assert cols["report_macro_avg_recall"] == pytest.approx(0.75) and cols["report_accuracy"] == 0.75


def test_no_absent_class_leaves_the_column_empty():
    assert report.report_columns(np.array([0, 1]), np.array([0, 1]), ["a", "b"])["classes_absent_from_test"] == ""
