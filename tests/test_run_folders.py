"""finished_report: which earlier report a matrix cell reuses; claim_run_dir: which folder a run owns;
newest_run: which folder serving picks among finished and half ones."""

import pandas as pd
import pytest

from textclf import run_folders
from textclf.errors import InputError
from textclf.run_folders import EVALUATION_PENDING, RUN_FILES, newest_run


def write(path, **columns):
    pd.DataFrame([columns]).to_csv(path, index=False)


def test_the_newest_report_with_the_same_config_and_data_is_reused(tmp_path):
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="00a1", data_fingerprint="d1")
    write(tmp_path / "training_report_20261102_000000.csv", fingerprint="00a1", data_fingerprint="d1")
    write(tmp_path / "training_report_20261103_000000.csv", fingerprint="ffff", data_fingerprint="d1")
    write(tmp_path / "training_report_20261104_000000.csv", fingerprint="00a1", data_fingerprint="d2")
    assert run_folders.finished_report(tmp_path, "00a1", "d1") == tmp_path / "training_report_20261102_000000.csv"
    assert run_folders.finished_report(tmp_path, "0001", "d1") is None
    assert run_folders.finished_report(tmp_path, "00a1", "d3") is None  # same config, other data


def test_a_report_from_before_data_fingerprints_matches_on_its_config(tmp_path):
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="00a1", final_test_accuracy=0.5)
    assert run_folders.finished_report(tmp_path, "00a1", "d1") == tmp_path / "training_report_20261101_000000.csv"


def test_a_report_without_a_fingerprint_never_matches(tmp_path):
    # As the original Weibo project wrote them into data/output: same name pattern, no fingerprint column.
    write(tmp_path / "training_report_20261104_000000.csv", best_epoch=2, final_test_accuracy=0.97)
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="123456789012")
    assert run_folders.finished_report(tmp_path, "123456789012", "d1") == tmp_path / "training_report_20261101_000000.csv"


def test_a_second_claim_of_a_run_in_progress_is_refused_and_leaves_nothing(tmp_path):
    with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (run_dir, resumed):
        before = sorted(tmp_path.rglob("*"))
        with pytest.raises(InputError, match=f"{run_dir}: another process is training this run"):
            with run_folders.claim_run_dir(tmp_path, "c1", "d1"):
                pass
        assert sorted(tmp_path.rglob("*")) == before
        with run_folders.claim_run_dir(tmp_path, "c1", "d2") as (other, _):  # other data: another run
            assert other != run_dir
    assert not resumed and not list((tmp_path / ".unfinished").iterdir())  # both finished


def test_bad_input_found_in_a_new_run_leaves_no_folder_and_in_a_resumed_run_keeps_its_epochs(tmp_path):
    with pytest.raises(InputError, match="bad vectors"):
        with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (run_dir, resumed):
            (run_dir / "config.json").write_text("{}")
            raise InputError("bad vectors")
    assert not resumed and not run_dir.exists() and not list((tmp_path / ".unfinished").iterdir())
    with pytest.raises(KeyboardInterrupt):
        with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (run_dir, _):
            (run_dir / "backup").mkdir()  # an epoch finished, then the process was killed
            raise KeyboardInterrupt
    with pytest.raises(InputError, match="loss became nan"):
        with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (again, resumed):
            raise InputError("loss became nan")
    assert resumed and again == run_dir and (run_dir / "backup").is_dir()


def test_a_run_killed_before_its_first_epoch_ended_starts_again_in_its_folder(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (killed, _):
            (killed / "run.log").write_text("starting run\n")
            raise KeyboardInterrupt  # no epoch finished: no backup, nothing to resume
    with run_folders.claim_run_dir(tmp_path, "c1", "d1") as (run_dir, resumed):
        assert run_dir == killed and not resumed and (run_dir / "run.log").is_file()
    assert list(tmp_path.glob("run_*")) == [killed] and not list((tmp_path / ".unfinished").iterdir())


def finished_run(run_dir):
    run_dir.mkdir(parents=True)
    for name in RUN_FILES:
        (run_dir / name).write_text("{}")
    return run_dir


def test_newest_run_orders_runs_of_one_second_by_number_and_passes_over_unfinished_ones(tmp_path):
    finished_run(tmp_path / "run_20261101_120000")
    second = finished_run(tmp_path / "run_20261101_120000_2")
    finished_run(tmp_path / "run_20261101_115959_10")
    assert newest_run(tmp_path) == second
    tenth = finished_run(tmp_path / "run_20261101_120000_10")
    assert newest_run(tmp_path) == tenth
    (tmp_path / "run_20261101_120001").mkdir()
    (tmp_path / "run_20261101_120001" / "model.keras").write_text("")  # killed during its export
    (finished_run(tmp_path / "run_20261101_120002") / EVALUATION_PENDING).touch()  # killed before its report
    assert newest_run(tmp_path) == tenth


def test_a_runs_report_row_is_read_beside_it_and_empty_when_missing_or_damaged(tmp_path):
    run_dir = tmp_path / "run_20261101_000000"
    assert run_folders.report_row(run_dir) == {}  # not written yet
    write(tmp_path / "training_report_20261101_000000.csv", fingerprint="00a1", final_test_accuracy=0.5)
    assert run_folders.report_row(run_dir) == {"fingerprint": "00a1", "final_test_accuracy": 0.5}
    for damaged in (b"", b"\xff\xfe\x00", b"fingerprint\n"):  # empty, not text, a header without a row
        (tmp_path / "training_report_20261101_000000.csv").write_bytes(damaged)
        assert run_folders.report_row(run_dir) == {}
    with pytest.raises(InputError, match="not named as a run folder"):
        run_folders.report_row(tmp_path / "best_run")
