"""Ensembles: validation-chosen weights, the average of the members' served probabilities, the raw-text export,
`--model a+b` reusing the members a matrix trains, and the members it refuses."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from textclf import cli, ensemble, run
from textclf.config import RunConfig
from textclf.data import run_data
from textclf.errors import InputError
from textclf.models.registry import check_name
from textclf.run_folders import checked_run, newest_run
from textclf.serving.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]


def probabilities(path: Path) -> np.ndarray:
    return pd.read_csv(path, dtype={"text": str}, keep_default_na=False).filter(regex="^p_").to_numpy()


def _run(out: Path, fixtures: Path, model: str, **settings) -> Path:
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model=model, epochs=1, batch_size=16,
                       output_dir=str(out), **settings)
    return Path(pd.read_csv(run.run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]["run_dir"])


@pytest.fixture(scope="module")
def members(tmp_path_factory, fixtures) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("members")
    return {"fasttext": _run(out, fixtures, "fasttext"), "nbsvm": _run(out, fixtures, "nbsvm"),
            "other_seed": _run(out, fixtures, "nbsvm", seed=7),
            "other_split": _run(out, fixtures, "fasttext", max_samples=30)}


def test_simplex_and_weights_chosen_on_validation():
    grid = ensemble.simplex(3)
    assert len(grid) == 66 and np.allclose(grid.sum(axis=1), 1) and grid.min() == 0
    labels = np.array([0, 1, 1, 0, 1])
    right = np.eye(2)[labels] * 0.8 + 0.1
    wrong = np.eye(2)[1 - labels] * 0.98 + 0.01  # so confident that the average is wrong too
    assert ensemble.choose_weights([wrong, right], labels).tolist() == [0.0, 1.0]
    assert ensemble.choose_weights([wrong, right], labels, mode="equal").tolist() == [0.5, 0.5]
    # Both members as accurate as their average: no weighting is strictly better, so equal weights.
    assert ensemble.choose_weights([right, right * 0.5 + 0.25], labels).tolist() == [0.5, 0.5]


@pytest.mark.large
def test_an_ensemble_is_the_weighted_average_and_round_trips_through_its_export(members, tmp_path):
    report = ensemble.combine([members["fasttext"], members["nbsvm"]], output_dir=tmp_path, mode="equal",
                              command="cmd")
    row = pd.read_csv(report).iloc[0]
    run_dir = Path(row["run_dir"])
    expected = np.mean([probabilities(members[m] / "test_predictions.csv") for m in ("fasttext", "nbsvm")], axis=0)
    written = pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
    np.testing.assert_allclose(written.filter(regex="^p_").to_numpy(), expected, atol=1e-6)
    assert row["model"] == "fasttext+nbsvm" and json.loads(row["ensemble_weights"]) == [0.5, 0.5]
    assert row["final_test_accuracy"] == pytest.approx((expected.argmax(1) == written["label"].map(
        {"negative": 0, "positive": 1})).mean())
    member_rows = [pd.read_csv(next(members[m].parent.glob(f"training_report_{members[m].name[4:]}.csv"))).iloc[0]
                   for m in ("fasttext", "nbsvm")]
    assert row["train_seconds"] == pytest.approx(sum(r["train_seconds"] for r in member_rows), abs=0.02)
    loaded = keras.saving.load_model(run_dir / "model.keras", compile=False)
    np.testing.assert_allclose(loaded(tf.constant(written["text"].tolist())).numpy(), expected, atol=1e-6)
    top = pd.read_csv(run_dir / "top_tokens.csv", keep_default_na=False)  # by occlusion: nbsvm has no gradients
    assert list(top.columns) == ["class", "token", "score", "count"] and len(top)
    assert (run_dir / "top_tokens.png").is_file()
    assert set(top["class"]) <= {"negative", "positive"} and (top["count"] >= 3).all()
    (served,) = tf.saved_model.load(str(run_dir / "saved_model")).signatures["serve"](
        texts=tf.constant(written["text"].tolist())).values()
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-6)


@pytest.mark.large
def test_auto_weights_are_the_validation_choice(members, tmp_path):
    row = pd.read_csv(ensemble.combine([members["nbsvm"], members["fasttext"]], output_dir=tmp_path)).iloc[0]
    data, _ = run_data.read_data(ensemble.load_member(members["nbsvm"]).config)
    val = [Predictor(members[m]).predict(data.val["text"].tolist()) for m in ("nbsvm", "fasttext")]
    labels = data.val["label"].to_numpy()
    assert json.loads(row["ensemble_weights"]) == pytest.approx(ensemble.choose_weights(val, labels).tolist())
    assert row["model"] == "nbsvm+fasttext"


@pytest.mark.parametrize("other, message", [
    ("other_seed", "differ in seed: 7 against 42"),
    ("other_split", r"differ in split \(data fingerprint\)"),
    ("fasttext", "a run is given twice"),
])
def test_members_of_another_seed_or_split_are_refused(members, other, message, tmp_path):
    with pytest.raises(InputError, match=message):
        ensemble.combine([members["fasttext"], members[other]], output_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # refused before any folder is written


def test_a_folder_not_named_as_a_run_is_refused(members, tmp_path):
    copy = tmp_path / "model_copy"  # its files are a run's, but no report can be found by its name
    shutil.copytree(members["nbsvm"], copy)
    with pytest.raises(InputError, match="not a run folder"):
        ensemble.combine([members["fasttext"], copy], output_dir=tmp_path / "out")


@pytest.mark.large
def test_ensemble_py_bad_input_is_one_line(members, tmp_path):
    for args, message in (([str(members["nbsvm"])], "at least two runs"),
                          ([str(members["nbsvm"]), str(tmp_path)], "not a finished run folder")):
        done = subprocess.run([sys.executable, "src/ensemble.py", "--runs", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": "src", "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name, message", [("fasttext+fasttext", "named twice"), ("fasttext+nope", "'nope'")])
def test_ensemble_names_are_checked(name, message):
    with pytest.raises(InputError, match=message):
        check_name(name)


@pytest.mark.large
def test_a_matrix_ensemble_cell_reuses_the_member_cells_with_their_own_settings(tmp_path, fixtures):
    experiment = tmp_path / "e.yaml"
    experiment.write_text(yaml.safe_dump({
        "matrix": {"dataset": ["imdb"], "model": ["fasttext", "nbsvm", "fasttext+nbsvm"]},
        "config": {"data_dir": str(fixtures / "imdb_tiny"), "epochs": 1, "batch_size": 16},
        "per_model": {"fasttext": {"model_args": {"embedding_dim": 3}}}}))
    assert cli.main(["--experiment", str(experiment), "--output-dir", str(tmp_path / "out")]) == 0
    rows = pd.concat(pd.read_csv(p) for p in (tmp_path / "out").glob("training_report_*.csv"))
    assert sorted(rows["model"]) == ["fasttext", "fasttext+nbsvm", "nbsvm"]  # no member trained twice
    combined = rows[rows["model"] == "fasttext+nbsvm"].iloc[0]
    assert json.loads(combined["ensemble_members"]) == rows.set_index("model").loc[["fasttext", "nbsvm"],
                                                                                   "run_dir"].tolist()
    leaderboard = pd.read_csv(next((tmp_path / "out").glob("matrix_*/leaderboard.csv")))
    assert "fasttext+nbsvm" in leaderboard["model"].tolist()


@pytest.mark.large
def test_an_output_dir_that_is_a_file_is_one_line(members, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a folder\n")
    done = subprocess.run([sys.executable, "src/ensemble.py", "--runs", str(members["fasttext"]), str(members["nbsvm"]),
                           "--output-dir", str(taken / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": "src", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]  # TensorFlow chats too
    assert errors == [f"error: --output-dir {taken / 'out'}: {taken} is a file, not a folder"]
    assert "Traceback" not in done.stderr
    assert taken.read_text() == "not a folder\n"


@pytest.mark.large
def test_an_ensemble_stopped_while_its_folder_is_written_is_refused_by_every_reader(members, tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as SIGKILL would, once the model, config and classes are written

    with monkeypatch.context() as patch:
        patch.setattr(run, "write_test_outputs", killed)
        with pytest.raises(KeyboardInterrupt):
            ensemble.combine([members["fasttext"], members["nbsvm"]], output_dir=tmp_path, command="cmd")
    (stopped,) = tmp_path.glob("run_*")
    assert {"model.keras", "config.json", "classes.json", "evaluation_pending"} <= {p.name for p in stopped.iterdir()}
    with pytest.raises(InputError, match=f"{stopped}: an unfinished run"):
        checked_run(stopped)
    with pytest.raises(InputError, match="no finished run folder"):
        newest_run(tmp_path)
    finished = Path(pd.read_csv(ensemble.combine([members["fasttext"], members["nbsvm"]], output_dir=tmp_path,
                                                 command="cmd")).iloc[0]["run_dir"])
    assert not (finished / "evaluation_pending").exists() and newest_run(tmp_path) == finished
