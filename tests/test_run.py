"""One run in process: options that change what the run builds."""

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf import run as run_module
from textclf.config import RunConfig
from textclf.data import registry, run_data
from textclf.errors import InputError
from textclf.run import run
from textclf.run_folders import EVALUATION_PENDING, newest_run
from textclf.training import trainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.large
def test_pretrained_embeddings_are_used_and_kept_frozen(tmp_path, fixtures):
    vectors = {"movie": [0.5, -0.5, 0.25], "film": [0.1, 0.2, 0.3], "good": [1.0, 0.0, -1.0]}
    glove = tmp_path / "tiny.glove.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model="lstm", epochs=1, batch_size=16,
                       embeddings=str(glove), freeze_embeddings=True, output_dir=str(tmp_path / "out"))
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    run_dir = tmp_path / "out" / f"run_{row['timestamp']}"
    assert 0 < row["embedding_coverage"] <= 3 / 100  # 3 words of a vocabulary of about a hundred or more
    model = keras.saving.load_model(run_dir / "model.keras")
    vocabulary = model.vectorizer.get_vocabulary()
    table = model.classifier.get_layer("token_embedding").embeddings.numpy()
    for word, vector in vectors.items():
        assert np.allclose(table[vocabulary.index(word)], vector)  # frozen: still the file's vector
    assert json.loads((run_dir / "config.json").read_text())["freeze_embeddings"] is True


@pytest.mark.large
@pytest.mark.parametrize(("model", "given", "expected"), [
    ("fasttext", {}, {"learning_rate": 1e-2, "ema_momentum": 0.0}),
    ("fasttext", {"learning_rate": 3e-4, "ema_momentum": 0.9}, {"learning_rate": 3e-4, "ema_momentum": 0.9}),
    ("stacked_lstm", {}, {"learning_rate": 1e-3, "ema_momentum": 0.99}),
    ("stacked_lstm", {"ema_momentum": 0.0}, {"learning_rate": 1e-3, "ema_momentum": 0.0}),
])
def test_a_model_sets_its_run_defaults_unless_the_user_does(tmp_path, fixtures, model, given, expected):
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model=model, epochs=1, max_len=16,
                       output_dir=str(tmp_path), **given)
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    assert row["peak_learning_rate"] == pytest.approx(expected["learning_rate"])
    written = json.loads((tmp_path / f"run_{row['timestamp']}" / "config.json").read_text())
    assert {k: written[k] for k in expected} == expected


class Killed(Exception):
    """Stands in for a kill: nothing after it runs in the run it stops."""


class KillAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Killed


def killed_at_epoch(monkeypatch, epoch: int):
    """The next runs are killed as their epoch `epoch` starts, once the epochs before it are backed up."""
    callbacks = trainer._callbacks
    monkeypatch.setattr(trainer, "_callbacks", lambda *a: callbacks(*a) + [KillAtEpoch(epoch)])
    return callbacks


class Steps(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.steps = [int(self.model.optimizer.iterations)]


def tiny_run(fixtures, out, **given) -> RunConfig:
    settings = dict(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model="lstm", epochs=3, batch_size=8,
                    patience=3, output_dir=str(out))
    return RunConfig(**{**settings, **given})


def run_folder(report) -> Path:
    return Path(pd.read_csv(report)["run_dir"].item())


METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]


@pytest.mark.large
def test_a_killed_and_resumed_run_trains_as_the_uninterrupted_one(tmp_path, fixtures, monkeypatch):
    # The stacked model has everything a resumed epoch must get back: dropout, BatchNorm, weight averaging.
    config = tiny_run(fixtures, tmp_path / "whole", model="stacked_lstm")
    total_steps, trained = [], Steps()
    compile_model, callbacks = trainer.compile_model, trainer._callbacks
    monkeypatch.setattr(trainer, "compile_model", lambda model, **kw: total_steps.append(kw["total_steps"])
                        or compile_model(model, **kw))
    monkeypatch.setattr(trainer, "_callbacks", lambda *a: callbacks(*a) + [trained])
    whole = run(config, "cmd", tf.distribute.get_strategy(), False)
    # the learning rate decays to 0 over exactly the batches trained on: length buckets make more than rows / batch
    assert trained.steps == total_steps == [6 + 6 + 6]  # 40 rows: 5 batches of 8, and one more for a second length
    monkeypatch.setattr(trainer, "_callbacks", callbacks)
    original = killed_at_epoch(monkeypatch, 2)
    config = dataclasses.replace(config, output_dir=str(tmp_path / "resumed"))
    with pytest.raises(Killed):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    monkeypatch.setattr(trainer, "_callbacks", original)
    resumed = run(config, "cmd", tf.distribute.get_strategy(), False)
    assert "resuming run" in (run_folder(resumed) / "run.log").read_text()
    histories = [pd.read_csv(run_folder(report) / "history.csv") for report in (whole, resumed)]
    assert histories[1]["epoch"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(histories[1][METRICS], histories[0][METRICS], rtol=1e-6, atol=1e-7)
    rows = [pd.read_csv(report).iloc[0] for report in (whole, resumed)]
    for column in ("best_epoch", "final_test_loss", "final_test_accuracy"):
        assert rows[1][column] == pytest.approx(rows[0][column], rel=1e-6)


@pytest.mark.large
def test_a_run_killed_after_its_fit_resumes_at_the_evaluation(tmp_path, fixtures, monkeypatch):
    config = tiny_run(fixtures, tmp_path, epochs=2)
    evaluate = run_module._evaluate
    monkeypatch.setattr(run_module, "_evaluate", lambda *a: (_ for _ in ()).throw(Killed))
    with pytest.raises(Killed):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    (run_dir,) = tmp_path.glob("run_*")
    assert (run_dir / EVALUATION_PENDING).is_file() and not (run_dir / "backup").exists()
    monkeypatch.setattr(run_module, "_evaluate", evaluate)
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **kw: pytest.fail("trained again"))
    report = run(config, "cmd", tf.distribute.get_strategy(), False)
    assert run_folder(report) == run_dir and pd.read_csv(report)["epochs_run"].item() == 2
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [0, 1]
    assert not (run_dir / EVALUATION_PENDING).exists() and newest_run(tmp_path) == run_dir


@pytest.mark.large
def test_a_run_killed_before_its_first_epoch_ended_starts_again_in_its_folder(tmp_path, fixtures, monkeypatch):
    config = tiny_run(fixtures, tmp_path, epochs=1)
    original = killed_at_epoch(monkeypatch, 1)
    with pytest.raises(Killed):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    (killed,) = tmp_path.glob("run_*")
    monkeypatch.setattr(trainer, "_callbacks", original)
    report = run(config, "cmd", tf.distribute.get_strategy(), False)
    assert list(tmp_path.glob("run_*")) == [killed] and run_folder(report) == killed  # no orphan beside it
    assert (killed / "run.log").read_text().count("starting run") == 2
    assert pd.read_csv(killed / "history.csv")["epoch"].tolist() == [0]


@pytest.mark.large
def test_a_killed_run_whose_data_changed_starts_again(tmp_path, fixtures, monkeypatch):
    table = tmp_path / "reviews.csv"
    frame = pd.read_csv(fixtures / "sst2_tiny" / "train.tsv", sep="\t")
    frame.to_csv(table, index=False)
    config = tiny_run(fixtures, tmp_path / "out", dataset=str(table), vocab_size=2000)
    original = killed_at_epoch(monkeypatch, 2)
    with pytest.raises(Killed):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    (killed,) = (tmp_path / "out").glob("run_*")
    frame.assign(sentence=frame["sentence"] + " again").to_csv(table, index=False)
    monkeypatch.setattr(trainer, "_callbacks", original)
    report = run(config, "cmd", tf.distribute.get_strategy(), False)
    assert run_folder(report) != killed
    assert "starting run" in (run_folder(report) / "run.log").read_text()
    assert pd.read_csv(run_folder(report) / "history.csv")["epoch"].tolist() == [0, 1, 2]  # from epoch 1
    assert pd.read_csv(report)["data_fingerprint"].notna().all()


@pytest.mark.large
def test_a_loss_that_goes_nan_stops_the_run_with_one_line_and_no_report(tmp_path, fixtures):
    config = tiny_run(fixtures, tmp_path, learning_rate=1e38)
    with pytest.raises(InputError, match=r"loss became nan in epoch 1: .*try a lower --learning-rate"):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    assert not list(tmp_path.glob("training_report_*")) and not list(tmp_path.glob("run_*"))
    assert not list((tmp_path / ".unfinished").iterdir())  # the next command starts afresh


@pytest.mark.large
def test_a_second_identical_command_is_refused_while_the_first_trains(tmp_path, fixtures):
    command = [sys.executable, "src/server_main.py", "--dataset", "sst2", "--data-dir", str(fixtures / "sst2_tiny"),
               "--model", "lstm", "--epochs", "500", "--patience", "500", "--batch-size", "4",
               "--output-dir", str(tmp_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not any(path.stat().st_size for path in tmp_path.glob("run_*/history.csv")):
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not start training"
            time.sleep(0.5)
        (run_dir,) = tmp_path.glob("run_*")
        before = sorted(tmp_path.iterdir()), sorted((tmp_path / ".unfinished").iterdir())
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first run ended before the second one started"
    finally:
        first.kill()
        first.wait(timeout=60)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {run_dir}: another process is training this run (same command, same data); "
        "wait for it to finish or stop it, then run the command again")
    assert (sorted(tmp_path.iterdir()), sorted((tmp_path / ".unfinished").iterdir())) == before  # nothing new
    # The OS released the killed run's lock with its process: the same command can resume it at once.
    (marker,) = (tmp_path / ".unfinished").iterdir()
    with marker.open() as file:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.large
def test_the_texts_a_run_is_evaluated_on_are_kept_out_of_its_training(tmp_path, fixtures, log_lines):
    train = pd.read_csv(fixtures / "sst2_tiny" / "train.tsv", sep="\t")
    mine = tmp_path / "mine.csv"  # six training sentences and two new ones, labelled as the run names its classes
    pd.DataFrame({"text": train["sentence"].head(6).tolist() + ["a new one", "another new one"],
                  "label": ["positive", "negative"] * 4}).to_csv(mine, index=False)
    report = run(tiny_run(fixtures, tmp_path, epochs=1, eval_datasets=str(mine)), "cmd",
                 tf.distribute.get_strategy(), False)
    row = pd.read_csv(report).iloc[0]
    assert (row["train_size"], row["eval_mine_rows"], row["eval_mine_seen_in_training"]) == (40 - 6, 8, 0)
    assert any(f"removed 6 training and 0 validation rows whose text is in the all split of {mine}" in line
               for line in log_lines)
    predictions = pd.read_csv(run_folder(report) / "eval_mine_predictions.csv")
    assert predictions["text"].tolist() == pd.read_csv(mine)["text"].tolist()


def test_an_eval_dataset_file_whose_name_holds_a_comma_is_read_whole(tmp_path, fixtures):
    mine = tmp_path / "reviews,2026.csv"
    pd.DataFrame({"text": ["a new one", "another new one"], "label": ["positive", "negative"]}).to_csv(mine, index=False)
    _, eval_sets = run_data.read_data(tiny_run(fixtures, tmp_path, eval_datasets=str(mine)))
    assert [(one.source, one.texts) for one in eval_sets] == [(str(mine), ["a new one", "another new one"])]


def test_a_run_never_trains_on_its_own_test_or_validation_texts(tmp_path, log_lines):
    # A file that repeats texts, as ChnSentiCorp's train repeats 331 of its test and 338 of its validation texts:
    # the carved splits share some, and those rows leave training (and validation, for test texts).
    texts = [f"review number {i % 60}" for i in range(100)]
    mine = tmp_path / "repeats.csv"
    pd.DataFrame({"text": texts, "label": ["positive", "negative"] * 50}).to_csv(mine, index=False)
    config = RunConfig(dataset=str(mine), test_fraction=0.2, val_fraction=0.2)
    carved = registry.spec_for(str(mine)).load(config)
    data, _ = run_data.read_data(config)
    train, val, test = (set(frame["text"]) for frame in (data.train, data.val, data.test))
    assert data.test.equals(carved.test) and not test & (train | val) and not val & train
    removed_by_test = carved.val["text"].isin(test).sum()
    assert len(data.val) == len(carved.val) - removed_by_test
    assert len(data.train) < len(carved.train) and removed_by_test > 0  # the checks can fail: there were repeats
    assert any("training and" in line and f"{removed_by_test} validation rows whose text is in the test split of"
               in line for line in log_lines)
    assert any("training rows whose text is in the validation split of" in line for line in log_lines)


@pytest.mark.large
def test_balanced_class_weights_reach_the_fit_and_the_report(tmp_path, fixtures, monkeypatch):
    path = tmp_path / "skewed.csv"  # 9:1, as a user's imbalanced file
    texts = [f"this film is bad number {i}" for i in range(45)] + [f"a great film number {i}" for i in range(5)]
    pd.DataFrame({"text": texts, "label": ["negative"] * 45 + ["positive"] * 5}).to_csv(path, index=False)
    given = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **kw: given.append(kw["class_weight"]) or fit(self, *a, **kw))
    config = tiny_run(fixtures, tmp_path, dataset=str(path), epochs=1, class_weight="balanced")
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    from textclf.data import registry

    counts = registry.spec_for(str(path)).load(config).train["label"].value_counts()  # the run's split, same seed
    expected = {i: counts.sum() / (2 * counts[i]) for i in (0, 1)}  # rows / (classes x the class's rows)
    assert given == [pytest.approx(expected)] and expected[1] > 4 * expected[0]
    assert json.loads(row["class_weights"]) == pytest.approx({"negative": expected[0], "positive": expected[1]},
                                                            abs=1e-6)


@pytest.mark.large
def test_grad_accum_schedules_and_counts_optimizer_updates(tmp_path, fixtures, monkeypatch):
    total_steps, trained = [], Steps()
    compile_model, callbacks = trainer.compile_model, trainer._callbacks
    monkeypatch.setattr(trainer, "compile_model", lambda model, **kw: total_steps.append(kw["total_steps"])
                        or compile_model(model, **kw))
    monkeypatch.setattr(trainer, "_callbacks", lambda *a: callbacks(*a) + [trained])
    report = run(tiny_run(fixtures, tmp_path, grad_accum=3), "cmd", tf.distribute.get_strategy(), False)
    assert trained.steps == total_steps == [18 // 3]  # 6 batches an epoch, 3 epochs, an update every 3 batches
    row = pd.read_csv(report).iloc[0]
    assert (row["config_grad_accum"], row["global_batch_size"], row["examples_per_update"]) == (3, 8, 24)


@pytest.mark.large
def test_deterministic_runs_repeat_their_metrics_and_the_flag_is_per_run(tmp_path, fixtures):
    from tensorflow.python.framework.config import is_op_determinism_enabled

    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model="text_cnn", epochs=1, batch_size=8,
                       deterministic=True, output_dir=str(tmp_path))
    rows = [pd.read_csv(run(dataclasses.replace(config, output_dir=str(tmp_path / str(n))), "cmd",
                            tf.distribute.get_strategy(), False)).iloc[0] for n in range(2)]
    assert is_op_determinism_enabled()
    metrics = ["best_val_loss", "final_test_loss", "uncalibrated_test_loss", "temperature"]
    assert rows[0][metrics].tolist() == rows[1][metrics].tolist()
    assert rows[0]["config_deterministic"]
    assert config.fingerprint() != dataclasses.replace(config, deterministic=False).fingerprint()
    run(dataclasses.replace(config, deterministic=False), "cmd", tf.distribute.get_strategy(), False)
    assert not is_op_determinism_enabled()
