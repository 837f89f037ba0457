"""fit: selection on validation, the epoch log, and resuming a killed run."""

import json
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.training import trainer


class KillAfterEpoch(keras.callbacks.Callback):
    """Stands in for a killed process: stops fit by raising once epoch `epoch` has been logged."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


class RawWeights(keras.callbacks.Callback):
    """Records the weights each training batch starts from and ends with (the raw, not the averaged, ones)."""

    def __init__(self):
        super().__init__()
        self.begin, self.end = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.begin.append([w.copy() for w in self.model.get_weights()])

    def on_train_batch_end(self, batch, logs=None):
        self.end.append([w.copy() for w in self.model.get_weights()])


def tiny_model(seed: int, ema_momentum: float = 0.0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    trainer.compile_model(model, peak_lr=0.05, total_steps=40, warmup_ratio=0.1, clipnorm=1.0,
                          ema_momentum=ema_momentum)
    return model


FIT_CALLBACKS = trainer._callbacks


def with_callbacks(monkeypatch, *extra: keras.callbacks.Callback):
    """The next fits run with fit's own callbacks followed by `extra` (none: fit's own alone)."""
    monkeypatch.setattr(trainer, "_callbacks", lambda *a: FIT_CALLBACKS(*a) + list(extra))


def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=64)
    x = np.where(y[:, None] == 1, rng.integers(2, 10, (64, 6)), rng.integers(10, 20, (64, 6))).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    return ds, ds


@pytest.mark.parametrize("monitor, pick, index", [("val_loss", "idxmin", 0), ("val_accuracy", "idxmax", 1)])
def test_best_epoch_is_chosen_on_validation(tmp_path, monitor, pick, index):
    model = tiny_model(0)
    train, val = data()
    fitted = trainer.fit(model, train, val, epochs=4, monitor=monitor, patience=4, run_dir=tmp_path, train_size=64)
    assert list(fitted.history["epoch"]) == [1, 2, 3, 4]
    best = getattr(fitted.history[monitor], pick)()
    assert fitted.best_epoch == int(fitted.history.loc[best, "epoch"])
    # the best epoch's weights are the ones loaded
    assert model.evaluate(val, verbose=0)[index] == pytest.approx(fitted.history.loc[best, monitor], rel=1e-4)
    assert fitted.train_samples_per_second > 0


SLOW_BATCH = 0.5


class SlowBatches(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(SLOW_BATCH)


@pytest.mark.large
def test_a_killed_run_resumes_from_its_last_epoch_and_counts_the_time_before_the_kill(tmp_path, monkeypatch):
    train, val = data()  # 4 batches an epoch
    with_callbacks(monkeypatch, SlowBatches(), KillAfterEpoch(2))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(tiny_model(0), train, val, epochs=4, monitor="val_loss", patience=4, run_dir=tmp_path, train_size=64)
    assert (tmp_path / "backup").is_dir()
    with_callbacks(monkeypatch)
    fitted = trainer.fit(tiny_model(1), train, val, epochs=4, monitor="val_loss", patience=4, run_dir=tmp_path, train_size=64)
    assert list(fitted.history["epoch"]) == [1, 2, 3, 4]  # epochs 1-2 from before, 3-4 after the resume
    assert not (tmp_path / "backup").exists()
    # the two slow epochs before the kill are in the run's time and speed
    assert (fitted.history["train_seconds"][:2] >= 4 * SLOW_BATCH).all()
    assert (fitted.history["seconds"] >= fitted.history["train_seconds"]).all()
    assert fitted.train_seconds == pytest.approx(fitted.history["seconds"].sum())
    assert fitted.train_seconds >= 8 * SLOW_BATCH
    assert fitted.train_samples_per_second == pytest.approx(4 * 64 / fitted.history["train_seconds"].sum())


def test_same_seed_same_result(tmp_path):
    train, val = data()
    results = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        fitted = trainer.fit(tiny_model(7), train, val, epochs=2, monitor="val_loss", patience=2, run_dir=tmp_path / run, train_size=64)
        results.append(fitted.history["val_loss"].tolist())
    assert results[0] == results[1]


def test_the_weights_moving_average_is_validated_and_kept_while_training_goes_on_from_the_raw_weights(
        tmp_path, monkeypatch):
    train, val = data()
    raw = RawWeights()
    with_callbacks(monkeypatch, raw)
    model = tiny_model(0, ema_momentum=0.9)
    fitted = trainer.fit(model, train, val, epochs=2, monitor="val_accuracy", patience=2, run_dir=tmp_path,
                         train_size=64)
    steps = 4  # 64 rows in batches of 16

    def average(history):  # Keras': the first step's weights, then avg = 0.9 avg + 0.1 w after each step
        result = history[0]
        for weights in history[1:]:
            result = [0.9 * a + 0.1 * w for a, w in zip(result, weights)]
        return result

    after_epoch_1 = average(raw.end[:steps])
    expected = after_epoch_1 if fitted.best_epoch == 1 else average(raw.end)
    for kept, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(kept, want, rtol=1e-5, atol=1e-6)
    # the epoch logged (and selected) was validated with those averaged weights
    best = fitted.history.set_index("epoch").loc[fitted.best_epoch]
    assert model.evaluate(val, verbose=0)[1] == pytest.approx(best["val_accuracy"])
    # epoch 2 trained on from epoch 1's raw weights, not from their average (Keras swaps the two by
    # additions, which may move the last bit)
    for start, end in zip(raw.begin[steps], raw.end[steps - 1]):
        np.testing.assert_allclose(start, end, rtol=1e-6, atol=1e-7)
    assert not np.allclose(raw.end[steps - 1][0], after_epoch_1[0])  # the two differ, so the check can fail


def test_a_killed_run_with_weight_averaging_resumes_from_the_raw_weights(tmp_path, monkeypatch):
    train, val = data()
    killed = RawWeights()
    with_callbacks(monkeypatch, killed, KillAfterEpoch(1))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(tiny_model(0, 0.9), train, val, epochs=3, monitor="val_loss", patience=3, run_dir=tmp_path,
                    train_size=64)
    resumed = RawWeights()
    with_callbacks(monkeypatch, resumed)
    trainer.fit(tiny_model(1, 0.9), train, val, epochs=3, monitor="val_loss", patience=3, run_dir=tmp_path,
                train_size=64)
    for start, end in zip(resumed.begin[0], killed.end[-1]):
        np.testing.assert_allclose(start, end, rtol=1e-6, atol=1e-7)


@pytest.mark.large
def test_a_resumed_run_stops_early_at_the_epoch_the_uninterrupted_one_does(tmp_path, monkeypatch):
    train, val = data()

    def still_model():  # a learning rate of 0: validation never beats epoch 1
        model = tiny_model(0)
        trainer.compile_model(model, peak_lr=0.0, total_steps=40, warmup_ratio=0.1, clipnorm=1.0)
        return model

    settings = dict(epochs=8, monitor="val_loss", patience=2, train_size=64)
    (tmp_path / "whole").mkdir()
    whole = trainer.fit(still_model(), train, val, run_dir=tmp_path / "whole", **settings)
    assert list(whole.history["epoch"]) == [1, 2, 3]
    with_callbacks(monkeypatch, KillAfterEpoch(2))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(still_model(), train, val, run_dir=tmp_path, **settings)
    with_callbacks(monkeypatch)
    resumed = trainer.fit(still_model(), train, val, run_dir=tmp_path, **settings)
    assert list(resumed.history["epoch"]) == [1, 2, 3]


def test_a_family_can_bring_its_own_optimizer_on_the_shared_schedule():
    model = tiny_model(0)
    trainer.compile_model(model, peak_lr=0.05, total_steps=40, warmup_ratio=0.1, clipnorm=0.5, ema_momentum=0.9,
                          optimizer=keras.optimizers.AdamW, weight_decay=0.01)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == 0.01
    assert (optimizer.clipnorm, optimizer.use_ema, optimizer.ema_momentum) == (0.5, True, 0.9)
    assert float(optimizer.learning_rate) == 0.0  # the warmup starts at 0, as Adam's does


def test_without_a_terminal_progress_is_logged_within_an_epoch(log_lines):
    train, _ = data()  # 4 batches
    model = tiny_model(0)
    model.fit(train, epochs=2, callbacks=[trainer.ProgressLog(every=0)], verbose=0)
    progress = [line for line in log_lines if "step" in line]
    assert len(progress) == 8
    assert "epoch 2/2, step 3/4: " in progress[6] and "loss " in progress[6] and "min left in the epoch" in progress[6]


def test_keep_best_keeps_the_two_best_epochs_of_a_scripted_run_and_goes_on_after_a_resume(tmp_path):
    model = tiny_model(0)
    folder = tmp_path / "checkpoints"
    keep = trainer.KeepBest(folder, "val_accuracy", keep=2)
    keep.set_model(model)
    for epoch, value in enumerate([0.5, 0.7, 0.6, 0.7, 0.9]):  # epochs 1..5; 2 and 4 tie, the earlier wins
        if epoch == 3:  # a killed run resumes with a new callback
            keep = trainer.KeepBest(folder, "val_accuracy", keep=2)
            keep.set_model(model)
        model.layers[-1].bias.assign([float(epoch), 0.0])  # each epoch's weights told apart by one number
        keep.on_epoch_end(epoch, {"val_accuracy": value})
        if epoch == 2:
            assert sorted(p.name for p in folder.glob("*.h5")) == ["epoch_002.weights.h5", "epoch_003.weights.h5"]
    assert sorted(p.name for p in folder.glob("*.h5")) == ["epoch_002.weights.h5", "epoch_005.weights.h5"]
    assert json.loads((folder / "kept.json").read_text()) == {"5": 0.9, "2": 0.7}
    model.load_weights(str(folder / "epoch_002.weights.h5"))
    assert float(model.layers[-1].bias[0]) == 1.0  # epoch 2's own weights
    lowest = trainer.KeepBest(tmp_path / "by_loss", "val_loss", keep=2)
    lowest.set_model(model)
    for epoch, value in enumerate([0.3, 0.2, 0.4]):
        lowest.on_epoch_end(epoch, {"val_loss": value})
    assert json.loads((tmp_path / "by_loss" / "kept.json").read_text()) == {"2": 0.2, "1": 0.3}


def test_a_fit_with_keep_best_keeps_the_best_epoch_as_test_uses_it(tmp_path):
    model = tiny_model(0)
    train, val = data()
    fitted = trainer.fit(model, train, val, epochs=4, monitor="val_loss", patience=4, run_dir=tmp_path,
                         train_size=64, keep_best=2)
    kept = json.loads((tmp_path / "checkpoints" / "kept.json").read_text())
    assert len(kept) == 2 and int(next(iter(kept))) == fitted.best_epoch
    best = [w.copy() for w in model.get_weights()]  # fit loaded best.weights.h5
    model.load_weights(str(tmp_path / "checkpoints" / f"epoch_{fitted.best_epoch:03d}.weights.h5"))
    assert all(np.array_equal(a, b) for a, b in zip(best, model.get_weights()))
