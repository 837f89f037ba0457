"""Compile, fit with selection on validation, and evaluate.

Selection sees only the validation split: the checkpoint keeps the epoch with the
best `monitor` (val_accuracy or val_loss) and early stopping watches the same number. Test is evaluated once,
by the caller, on the selected weights. A killed run resumes from its last epoch
(BackupAndRestore): its weights, optimizer and dropout seeds, the epoch log, the best checkpoint and early
stopping's count carry over, so it goes on as the uninterrupted run would have; a run killed after its fit
(`EVALUATION_PENDING` in its folder) is not fitted again. BatchNormalization
statistics are re-estimated before each validation (`precise_bn`). With `ema_momentum` the optimizer keeps an
exponential moving average of the weights (Polyak averaging), and that average is what is validated, selected,
saved and served; training goes on from the raw weights.
"""

import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from loguru import logger

from textclf.config import MONITORS
from textclf.errors import InputError
from textclf.files import replacing
from textclf.run_folders import EVALUATION_PENDING
from textclf.training import accumulation
from textclf.training.precise_bn import PreciseBatchNorm
from textclf.training.schedules import warmup_cosine


@dataclasses.dataclass
class FitResult:
    history: pd.DataFrame  # one row per epoch, resumed epochs included; `epoch` counts from 1
    best_epoch: int
    train_seconds: float  # wall time of every epoch, validation included, resumed epochs too
    train_samples_per_second: float  # training steps only


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs: `train_seconds` up to where validation starts and
    `seconds` in all, so the epoch log keeps them across a resume."""

    def __init__(self):
        super().__init__()
        self._train_seconds = 0.0  # None while an epoch trains

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_seconds = None

    def on_test_begin(self, logs=None):
        if self._train_seconds is None:  # fit's validation, not a standalone evaluate
            self._train_seconds = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        logs.update(seconds=seconds, train_seconds=seconds if self._train_seconds is None else self._train_seconds)


class ProgressLog(keras.callbacks.Callback):
    """A log line every `every` seconds of an epoch: its step, the running metrics and the time left.

    Without a terminal (a log file, nohup, a pod's output), Keras prints one line at each epoch's end, and an
    encoder's epoch on a big dataset is a quarter of an hour of silence.
    """

    def __init__(self, every: float = 60.0):
        super().__init__()
        self.every = every

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._start = epoch, time.perf_counter()
        self._last = self._start

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._last < self.every:
            return
        self._last, steps, done = now, self.params.get("steps"), batch + 1
        metrics = ", ".join(f"{name} {float(value):.4f}" for name, value in (logs or {}).items())
        left = f", about {(now - self._start) / done * (steps - done) / 60:.1f} min left in the epoch" if steps else ""
        logger.info(f"epoch {self._epoch + 1}/{self.params['epochs']}, step {done}/{steps or '?'}: {metrics}{left}")


def seed_states(layer) -> list:
    """The state variables of the SeedGenerators in `layer` (a model or a layer): what its dropout draws next."""
    return [v for v in layer.variables if v.name == "seed_generator_state"]


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' backup of the weights and the optimizer, plus what `save_weights` leaves out: the random seed
    states of the dropout layers, and the LoRA adapters.

    Without the seeds, a resumed epoch would draw the dropout masks of the run's first epoch again. A LoRA
    layer saves its adapters merged into its kernel and loads them back as zeros, which get no gradient:
    the adapters are saved beside the weights, and on restore put back and taken out of the kernel again.
    """

    def _lora_layers(self) -> list:
        return [layer for layer in self.model._flatten_layers() if getattr(layer, "lora_enabled", False)]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        folder = Path(self.backup_dir)
        if (folder / "seeds.npy").is_file():
            for variable, value in zip(seed_states(self.model), np.load(folder / "seeds.npy")):
                variable.assign(value)
        if (folder / "lora.npz").is_file():
            with np.load(folder / "lora.npz") as saved:
                for layer in self._lora_layers():
                    _restore_adapters(layer, saved[layer.lora_kernel_a.path], saved[layer.lora_kernel_b.path])

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        folder = Path(self.backup_dir)
        seeds = [keras.ops.convert_to_numpy(v) for v in seed_states(self.model)]
        np.save(folder / "seeds.npy", np.array(seeds).reshape(len(seeds), 2))
        if adapters := self._lora_layers():
            np.savez(folder / "lora.npz", **{
                variable.path: keras.ops.convert_to_numpy(variable)
                for layer in adapters for variable in (layer.lora_kernel_a, layer.lora_kernel_b)
            })


def _restore_adapters(layer, a: np.ndarray, b: np.ndarray) -> None:
    """A LoRA layer as it was before its weights were saved and loaded: its adapters back, and their update
    (merged into the kernel by the save) taken out of the kernel."""
    layer.lora_kernel_a.assign(a)
    layer.lora_kernel_b.assign(b)
    # The update as Dense's and EinsumDense's `kernel` property adds it, here in float32 (the property casts
    # to the compute dtype, float16 under mixed precision).
    layer._kernel.assign(layer._kernel - layer.lora_alpha / layer.lora_rank * np.matmul(a, b))


class KeepBest(keras.callbacks.Callback):
    """Keeps the weights of the `keep` best epochs by `monitor` in `folder` (`epoch_003.weights.h5`, ...) and
    deletes the others as training goes (`--keep-best K`); the best of them is best.weights.h5 too, which test
    uses. The kept epochs and their values are in `folder/kept.json`, so a resumed run goes on from them.
    Ties go to the earlier epoch, as in the checkpoint and early stopping.
    """

    def __init__(self, folder: Path, monitor: str, keep: int):
        super().__init__()
        self.folder, self.monitor, self.keep = Path(folder), monitor, keep
        self.index = self.folder / "kept.json"

    def _path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:03d}.weights.h5"

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        scores = json.loads(self.index.read_text()) if self.index.is_file() else {}
        scores[str(epoch + 1)] = float(logs[self.monitor])
        sign = -1 if MONITORS[self.monitor] == "max" else 1
        kept = dict(sorted(scores.items(), key=lambda item: (sign * item[1], int(item[0])))[: self.keep])
        if str(epoch + 1) in kept:
            self.model.save_weights(str(self._path(epoch + 1)))
        for dropped in set(scores) - set(kept):
            self._path(int(dropped)).unlink(missing_ok=True)
        with replacing(self.index) as temporary:
            temporary.write_text(json.dumps(kept, indent=1))


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stopping, which on a resumed run starts from the epochs before the resume: their best
    value, and how many epochs have gone by without beating it.

    Args:
        previous: the monitored value of each epoch before the resume, or None.
    """

    def __init__(self, previous: pd.Series | None, **kwargs):
        super().__init__(**kwargs)
        self.previous = previous

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.previous is not None and self.previous.notna().any():
            values = self.previous.reset_index(drop=True)
            self.best_epoch = int(values.idxmax() if self.mode == "max" else values.idxmin())  # the first best
            self.best = float(values[self.best_epoch])
            self.wait = len(values) - 1 - self.best_epoch


def compile_model(model: keras.Model, *, peak_lr: float, total_steps: int, warmup_ratio: float, clipnorm: float,
                  ema_momentum: float = 0.0, accumulation_steps: int = 1,
                  optimizer: type[keras.optimizers.Optimizer] = keras.optimizers.Adam, **settings):
    """The shared recipe: `optimizer` (Adam unless a family passes another, e.g. AdamW and its `settings`) on the
    warmup + cosine schedule over `total_steps` updates, with clipping; `ema_momentum` > 0 also keeps the weights'
    moving average; `accumulation_steps` > 1 averages that many batches' gradients per update
    (`training.accumulation`). The loss expects probabilities: every family's model ends in a float32 softmax."""
    if accumulation_steps > 1:
        optimizer, settings = accumulation.ACCUMULATING[optimizer], {**settings,
                                                                     "accumulation_steps": accumulation_steps}
    optimizer = optimizer(
        learning_rate=warmup_cosine(peak_lr, total_steps, warmup_ratio), clipnorm=clipnorm,
        use_ema=ema_momentum > 0, ema_momentum=ema_momentum, **settings,
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _epoch_log(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / "history.csv"
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else None


def _callbacks(run_dir: Path, train_ds, monitor: str, patience: int, use_ema: bool,
               keep_best: int = 1) -> list[keras.callbacks.Callback]:
    previous = _epoch_log(run_dir)
    before = previous[monitor] if previous is not None else None  # from before a resume
    mode = MONITORS[monitor]
    best_so_far = float(before.agg(mode)) if before is not None else None
    # The order matters. The backup, before the swap, keeps the raw weights that training resumes from; the
    # swap then puts the averaged weights in for validation and for the checkpoint that follows it, and
    # precise BN estimates the statistics of the weights being validated.
    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if use_ema else []
    return [
        EpochTimer(),  # first: the epoch's training time ends where validation begins, its logs reach the rest
        keras.callbacks.TerminateOnNaN(),
        BackupAndRestore(str(run_dir / "backup")),
        *averaging,
        PreciseBatchNorm(train_ds),  # before validation, so selection sees the statistics that are saved
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.weights.h5"), monitor=monitor, mode=mode, save_best_only=True,
            save_weights_only=True, initial_value_threshold=best_so_far,
        ),
        *([KeepBest(run_dir / "checkpoints", monitor, keep_best)] if keep_best > 1 else []),
        EarlyStopping(before, monitor=monitor, mode=mode, patience=patience),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
    ]


def _check_loss(history: pd.DataFrame):
    """Stops a run whose loss went NaN (TerminateOnNaN ended its fit), as bad input most often causes it."""
    last = history.iloc[-1]
    if not np.isfinite(last["loss"]):
        raise InputError(f"the training loss became {last['loss']} in epoch {int(last['epoch']) + 1}: the learning "
                         "rate is too high for this model and data (try a lower --learning-rate), or the input "
                         "(e.g. --embeddings vectors) holds NaN or huge values")


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """scikit-learn's "balanced" weights: rows / (classes x the class's rows), so that every class weighs as much
    in the training loss."""
    from sklearn.utils.class_weight import compute_class_weight

    weights = compute_class_weight("balanced", classes=np.arange(num_classes), y=labels)
    return {label: float(weight) for label, weight in enumerate(weights)}


def fit(model: keras.Model, train_ds, val_ds, *, epochs: int, monitor: str, patience: int, run_dir: Path,
        train_size: int, callbacks: tuple[keras.callbacks.Callback, ...] = (),
        class_weight: dict[int, float] | None = None, keep_best: int = 1) -> FitResult:
    """Fits, unless an earlier run in `run_dir` finished its fit, then loads the weights of the best epoch
    on validation into `model`. With `epochs` 0 (zero-shot), the model as it is: no epoch, best epoch 0.

    Args:
        callbacks: the caller's own, run before fit's (e.g. the training data's `EpochShuffle`).
        class_weight: class index -> weight of its rows in the training loss (`class_weights`); None: all 1.
        keep_best: with K > 1, also keep the weights of the K best epochs in run_dir/checkpoints (`KeepBest`).
    """
    if epochs == 0:  # zero-shot: the weights as built are the selected ones
        model.save_weights(str(run_dir / "best.weights.h5"))
        return FitResult(pd.DataFrame(columns=["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]), 0, 0.0, 0.0)
    if (run_dir / EVALUATION_PENDING).is_file():
        with model.distribute_strategy.scope():  # the checkpoint holds the optimizer's state too
            model.optimizer.build(model.trainable_variables)
    else:
        bar = sys.stderr.isatty()  # a progress bar on a terminal; in logs, a line a minute and one per epoch
        with contextlib.redirect_stdout(sys.stderr):  # progress beside the logs; stdout carries only results
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=epochs,
                class_weight=class_weight,
                shuffle=False,  # the tf.data pipeline shuffles
                callbacks=[*callbacks, *_callbacks(run_dir, train_ds, monitor, patience, model.optimizer.use_ema,
                                                   keep_best),
                           *([] if bar else [ProgressLog()])],
                verbose=1 if bar else 2,
            )
        _check_loss(_epoch_log(run_dir))
        (run_dir / EVALUATION_PENDING).touch()  # Keras deleted the backup: from here a rerun goes to evaluation
    model.load_weights(str(run_dir / "best.weights.h5"))
    history = _epoch_log(run_dir).assign(epoch=lambda h: h["epoch"] + 1)
    best = history[monitor].idxmax() if MONITORS[monitor] == "max" else history[monitor].idxmin()
    best_epoch = int(history.loc[best, "epoch"])
    speed = train_size * len(history) / history["train_seconds"].sum()
    return FitResult(history, best_epoch, float(history["seconds"].sum()), speed)
