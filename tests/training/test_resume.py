"""finished_report: which earlier report a matrix cell reuses."""

import pandas as pd

from textclf.training import resume


def write(path, **columns):
    pd.DataFrame([columns]).to_csv(path, index=False)


def test_the_newest_report_with_the_fingerprint_is_reused(tmp_path):
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="00a1", final_test_accuracy=0.5)
    write(tmp_path / "training_report_20261102_000000.csv", fingerprint="00a1", final_test_accuracy=0.6)
    write(tmp_path / "training_report_20261103_000000.csv", fingerprint="ffff", final_test_accuracy=0.7)
    assert resume.finished_report(tmp_path, "00a1") == tmp_path / "training_report_20261102_000000.csv"
    assert resume.finished_report(tmp_path, "0001") is None


def test_a_report_without_a_fingerprint_never_matches(tmp_path):
    # As the original Weibo project wrote them into data/output: same name pattern, no fingerprint column.
    write(tmp_path / "training_report_20261104_000000.csv", best_epoch=2, final_test_accuracy=0.97)
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="123456789012")
    assert resume.finished_report(tmp_path, "123456789012") == tmp_path / "training_report_20261101_000000.csv"
