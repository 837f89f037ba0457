"""--teacher: a from-scratch student distilled from a tiny random BERT run reports its teacher, exports and serves what
it tested, reuses the teacher's cached probabilities, and every teacher it cannot learn from is one error line."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf import cli
from textclf.config import RunConfig
from textclf.run import run
from textclf.run_folders import EVALUATION_PENDING
from textclf.serving import predictor

ROOT = Path(__file__).resolve().parents[1]
SST2 = ["--dataset", "sst2", "--data-dir", str(ROOT / "tests" / "fixtures" / "sst2_tiny")]
STUDENT = [*SST2, "--model", "fasttext", "--model-arg", "buckets=1024", "--epochs", "2", "--batch-size", "8"]


def main(*args) -> int:
    return cli.main([str(arg) for arg in args])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, bert_preset) -> Path:
    """A finished tiny BERT run on the SST-2 fixture, at the students' seed."""
    config = RunConfig(dataset="sst2", data_dir=str(ROOT / "tests" / "fixtures" / "sst2_tiny"), model="bert",
                       preset=str(bert_preset), epochs=1, batch_size=8, max_len=16,
                       output_dir=str(tmp_path_factory.mktemp("teacher")))
    return Path(pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False))["run_dir"].item())


def _report(out: Path) -> pd.Series:
    (path,) = out.glob("training_report_*.csv")
    return pd.read_csv(path).iloc[0]


@pytest.mark.large
def test_a_distilled_student_reports_its_teacher_and_serves_what_it_tested(tmp_path, teacher, monkeypatch,
                                                                           capsys):
    args = [*STUDENT, "--teacher", teacher, "--augment", "2", "--cache-dir", tmp_path / "cache"]
    assert main(*args, "--output-dir", tmp_path / "first") == 0
    row = _report(tmp_path / "first")
    assert (row["teacher_run"], row["teacher_model"]) == (str(teacher), "bert")
    assert row["teacher_test_accuracy"] == pd.read_csv(next(teacher.parent.glob("training_report_*.csv"))
                                                       )["final_test_accuracy"].item()
    assert (row["distil_alpha"], row["distil_temperature"]) == (0.5, 2.0) and row["transfer_rows"] > row["train_size"]
    tested = pd.read_csv(Path(row["run_dir"]) / "test_predictions.csv")
    texts = tested["text"].fillna("").tolist()
    by_teacher = predictor.Predictor(teacher).predict(texts).argmax(axis=1)
    by_student = tested.filter(like="p_").to_numpy().argmax(axis=1)
    assert row["teacher_agreement"] == pytest.approx(np.mean(by_teacher == by_student))
    served = predictor.Predictor(Path(row["run_dir"])).predict(texts)
    np.testing.assert_allclose(served, tested.filter(like="p_").to_numpy(), atol=1e-6)

    class Unreachable:  # a second student with the same teacher and texts must not load the teacher
        def __init__(self, run_dir):
            raise AssertionError(f"the teacher {run_dir} was called again")

    monkeypatch.setattr(predictor, "Predictor", Unreachable)
    capsys.readouterr()
    assert main(*args, "--output-dir", tmp_path / "second") == 0
    again = _report(tmp_path / "second")
    assert again["transfer_rows"] == row["transfer_rows"] and 0 <= again["teacher_agreement"] <= 1
    # the same student: loading the teacher to label texts, or not, leaves the student's seeds alone
    histories = [pd.read_csv(Path(report["run_dir"]) / "history.csv") for report in (row, again)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    assert "the teacher's probabilities of" in capsys.readouterr().err  # "... from the cache"
    # a matrix run again knows its finished student before the teacher labels anything, with or without a cache
    assert main(*args, "--output-dir", tmp_path / "second", "--seeds", 42, "--cache-dir", tmp_path / "none") == 0
    assert "already finished" in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.large
def test_an_ensemble_teaches_and_its_members_training_texts_are_checked(tmp_path, teacher, capsys):
    from textclf import ensemble

    fasttext = RunConfig(dataset="sst2", data_dir=str(ROOT / "tests" / "fixtures" / "sst2_tiny"), model="fasttext",
                         model_args={"buckets": 1024}, epochs=1, batch_size=8, output_dir=str(tmp_path / "member"))
    member = Path(pd.read_csv(run(fasttext, "cmd", tf.distribute.get_strategy(), False))["run_dir"].item())
    combined = Path(pd.read_csv(ensemble.combine([teacher, member], output_dir=tmp_path / "ensemble"))["run_dir"]
                    .item())
    assert main(*STUDENT, "--teacher", combined, "--output-dir", tmp_path / "student",
                "--cache-dir", tmp_path / "cache") == 0
    row = _report(tmp_path / "student")
    assert row["teacher_model"] == "bert+fasttext" and row["transfer_rows"] == 0
    with_member = json.loads((combined / "config.json").read_text())
    saw = _copy(member, tmp_path / "saw", dataset=str(_seen_csv(tmp_path)))  # a member that saw the test texts
    (combined / "config.json").write_text(json.dumps({**with_member, "members": [str(teacher), str(saw)]}))
    assert "trained or selected on" in _refused(capsys, tmp_path, *STUDENT, "--teacher", combined)


def _seen_csv(tmp_path: Path) -> Path:
    """The SST-2 fixture's train and test texts, as a user's file: a run of it trains or selects on test texts."""
    fixture = ROOT / "tests" / "fixtures" / "sst2_tiny"
    both = pd.concat([pd.read_csv(fixture / name, sep="\t") for name in ("train.tsv", "test_labeled.tsv")])
    seen = tmp_path / "seen.csv"
    both.rename(columns={"sentence": "text"})[["text", "label"]].to_csv(seen, index=False)
    return seen


def _refused(capsys, tmp_path, *args) -> str:
    capsys.readouterr()  # what earlier runs in this process wrote
    code = main(*args, "--output-dir", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    err = capsys.readouterr().err  # a refusal once the data is read follows the lines that logged its reading
    assert code == 2 and err.count("error: ") == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    return err


@pytest.mark.parametrize("args, message", [
    (["--model", "bert", "--teacher", "RUN"], "--teacher does not apply to --model bert"),
    (["--model", "gru", "--augment", "2"], "--augment is a setting of --teacher"),
    (["--model", "gru", "--distil-alpha", "0.2"], "--distil-alpha is a setting of --teacher"),
    (["--model", "gru", "--teacher", "EMPTY"], "not a finished run folder (no model.keras)"),
    (["--model", "gru", "--teacher", "RUN", "--objective", "rdrop"], "--objective rdrop is another loss"),
    (["--model", "gru", "--teacher", "RUN", "--class-weight", "balanced"], "leave it out with --teacher"),
    (["--model", "gru", "--teacher", "RUN", "--unlabeled", "no/such.csv"], "--unlabeled no/such.csv: no such file"),
])
def test_settings_a_distillation_cannot_take_are_refused_before_any_data_is_read(capsys, tmp_path, args, message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("model.keras", "config.json", "classes.json"):
        (run_dir / name).write_text("{}")
    (tmp_path / "empty").mkdir()
    given = [str(run_dir) if arg == "RUN" else str(tmp_path / "empty") if arg == "EMPTY" else arg for arg in args]
    assert message in _refused(capsys, tmp_path, *SST2, *given)


def _copy(teacher: Path, to: Path, **config) -> Path:
    shutil.copytree(teacher, to)
    (to / "config.json").write_text(json.dumps({**json.loads((teacher / "config.json").read_text()), **config}))
    return to


@pytest.mark.large
def test_a_teacher_of_other_classes_or_that_saw_the_test_texts_is_refused(capsys, tmp_path, teacher):
    r8 = ["--dataset", "r8", "--data-dir", ROOT / "tests" / "fixtures" / "r8_tiny", "--model", "gru"]
    assert "are not this dataset's" in _refused(capsys, tmp_path, *r8, "--teacher", teacher)
    # A teacher whose data (its config, read as it read it) holds the SST-2 fixture's test texts.
    saw = _copy(teacher, tmp_path / "saw", dataset=str(_seen_csv(tmp_path)))
    assert "trained or selected on" in _refused(capsys, tmp_path, *SST2, "--model", "gru", "--teacher", saw)
    gone = _copy(teacher, tmp_path / "gone", dataset=str(tmp_path / "moved.csv"))
    assert "cannot check that it never trained" in _refused(capsys, tmp_path, *SST2, "--model", "gru", "--teacher",
                                                           gone)
    (teacher / EVALUATION_PENDING).touch()
    try:
        assert "an unfinished run" in _refused(capsys, tmp_path, *SST2, "--model", "gru", "--teacher", teacher)
    finally:
        (teacher / EVALUATION_PENDING).unlink()


class FakeTeacher:
    """A teacher whose exported model answers 0.3 / 0.7 for any text (0.9 / 0.1 for "bad"), keeping what it read."""

    read: list[str] = []

    def __init__(self, run_dir):
        self.class_names = ["negative", "positive"]

    def predict(self, texts):
        FakeTeacher.read += texts
        return np.array([[0.9, 0.1] if text == "bad" else [0.3, 0.7] for text in texts], dtype="float32")


@pytest.fixture
def fake_teacher(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(predictor, "Predictor", FakeTeacher)
    monkeypatch.setattr(FakeTeacher, "read", [])
    (tmp_path / "model.keras").write_text("weights")
    return tmp_path


def test_the_teacher_labels_each_text_once_across_students_and_never_its_own_test_texts(fake_teacher):
    from textclf import distillation

    cache = str(fake_teacher / "cache")
    first = distillation.teacher_probabilities(fake_teacher, ["good", "bad", "fine"], 2, cache)
    np.testing.assert_allclose(first, [[0.3, 0.7], [0.9, 0.1], [0.3, 0.7]])
    # another student's texts (another seed's split, other augmented copies): only the new one is read
    again = distillation.teacher_probabilities(fake_teacher, ["bad", "new", "good"], 2, cache)
    np.testing.assert_allclose(again, [[0.9, 0.1], [0.3, 0.7], [0.3, 0.7]])
    assert sorted(FakeTeacher.read) == ["bad", "fine", "good", "new"]
    # the teacher's own test predictions are read from its folder, a blank text and a number-like one included
    pd.DataFrame({"text": ["a tested text", "", "12"], "label": ["positive"] * 3, "predicted": ["positive"] * 3,
                  "p_negative": [0.25, 0.5, 0.125], "p_positive": [0.75, 0.5, 0.875]}).to_csv(
        fake_teacher / "test_predictions.csv", index=False)
    tested = distillation.teacher_probabilities(fake_teacher, ["a tested text", "", "12", "fine"], 2, cache)
    np.testing.assert_allclose(tested, [[0.25, 0.75], [0.5, 0.5], [0.125, 0.875], [0.3, 0.7]])
    assert len(FakeTeacher.read) == 4
    assert distillation.teacher_probabilities(fake_teacher, [], 2, cache).shape == (0, 2)


def test_a_cache_that_cannot_be_used_is_computed_again_and_one_that_cannot_be_written_is_passed_over(
        fake_teacher, log_lines):
    from textclf import distillation

    texts, cache = ["good", "bad", "fine"], fake_teacher / "cache"
    first = distillation.teacher_probabilities(fake_teacher, texts, 2, str(cache))
    (path,) = cache.glob("teacher_*/*.npz")
    for damaged in (lambda: path.write_bytes(b"not a zip"),  # damaged
                    lambda: np.savez(path, keys=np.zeros((3, 16), np.uint8), probabilities=np.ones((3, 3))),
                    lambda: np.savez(path, keys=np.zeros((3, 16), np.uint8), probabilities=np.full((3, 2), np.nan)),
                    lambda: np.savez(path, keys=np.zeros(3), probabilities=np.ones((3, 2)))):
        damaged()
        FakeTeacher.read.clear()
        np.testing.assert_allclose(distillation.teacher_probabilities(fake_teacher, texts, 2, str(cache)), first)
        assert sorted(FakeTeacher.read) == sorted(texts)  # read again, and written again in its place
    assert any("is passed over" in line for line in log_lines)
    (fake_teacher / "test_predictions.csv").write_text("text,p_negative\nabc,high\n")  # no shortcut, no error
    np.testing.assert_allclose(distillation.teacher_probabilities(fake_teacher, texts, 2, str(cache)), first)
    (fake_teacher / "a_file").write_text("")  # a cache folder that cannot be made: not written, the run goes on
    np.testing.assert_allclose(distillation.teacher_probabilities(fake_teacher, texts, 2,
                                                                  str(fake_teacher / "a_file" / "cache")), first)
    assert any("are not cached" in line for line in log_lines)


def test_a_teachers_unreadable_report_gives_no_test_accuracy(tmp_path):
    from textclf import distillation

    run_dir = tmp_path / "run_20261206_101010"
    run_dir.mkdir()
    assert distillation._test_accuracy(run_dir) is None  # no report beside it
    for value in ("abc", ""):
        pd.DataFrame({"final_test_accuracy": [value]}).to_csv(tmp_path / "training_report_20261206_101010.csv")
        assert distillation._test_accuracy(run_dir) is None


@pytest.mark.parametrize("config, message", [
    ([1], "not a run's config"),
    ({"dataset": "sst2"}, "not a run's config"),
    ({"dataset": "sst2", "data_dir": "d", "seed": "abc"}, "seed: expected a whole number"),
    ({"dataset": "sst2", "data_dir": "d", "max_samples": "x"}, "max_samples: expected a whole number"),
    ({"dataset": "sst2", "data_dir": 5}, "not a run's config"),
    ({"members": 5}, "members: expected a list of run folders"),
    ({"members": ["no/such/run"]}, "no/such/run/config.json: cannot be read"),
])
def test_a_teachers_config_of_the_wrong_shape_is_one_error(config, message):
    from textclf.data.run_data import training_texts
    from textclf.errors import InputError

    with pytest.raises(InputError, match=re.escape(message)):
        training_texts(config, "run/config.json")


@pytest.mark.large
def test_a_trials_transfer_set_leaves_the_test_texts_out_and_the_teacher_never_labels_them(tmp_path, teacher):
    from textclf import distillation, families
    from textclf import run as runs

    test = pd.read_csv(ROOT / "tests" / "fixtures" / "sst2_tiny" / "test_labeled.tsv", sep="\t")["sentence"]
    unlabeled = tmp_path / "unlabeled.csv"
    pd.DataFrame({"text": [*test.str.upper(), "an unseen text"]}).to_csv(unlabeled, index=False)
    config = RunConfig(dataset="sst2", data_dir=str(ROOT / "tests" / "fixtures" / "sst2_tiny"), model="fasttext",
                       teacher=str(teacher), unlabeled=str(unlabeled), cache_dir=str(tmp_path / "cache"))
    _, data, eval_sets = runs._load(families.family("scratch"), config, trial=True)
    assert data.transfer == ["an unseen text"] and data.test.empty and not eval_sets
    data, taught = distillation.labelled(config, data)
    assert data.teacher.shape == (len(data.train) + 1, 2) and len(taught.test_predicted) == 0
