"""One run in process: options that change what the run builds."""

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf.config import RunConfig
from textclf.run import run
from textclf.training import trainer


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


@pytest.mark.parametrize(("model", "given", "expected"), [
    ("fasttext", {}, {"learning_rate": 1e-2, "ema_momentum": 0.0}),
    ("fasttext", {"learning_rate": 3e-4, "ema_momentum": 0.9}, {"learning_rate": 3e-4, "ema_momentum": 0.9}),
    ("stacked_lstm", {}, {"learning_rate": 1e-3, "ema_momentum": 0.99}),
    ("stacked_lstm", {"ema_momentum": 0.0}, {"learning_rate": 1e-3, "ema_momentum": 0.0}),
])
def test_a_model_sets_its_run_defaults_unless_the_user_does(tmp_path, fixtures, model, given, expected):
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model=model, epochs=1,
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
