"""One training run, start to finish: data, pipeline, model, fit, evaluate, report.

The trainer sees one resolved `RunConfig` at a time; nothing here knows about
matrices of runs.
"""

import dataclasses
import inspect
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from loguru import logger

from textclf.config import RunConfig
from textclf.data import embeddings, pipeline, registry, splits, text
from textclf.models.registry import builder_for, run_defaults
from textclf.reporting import plots, report
from textclf.serving import export
from textclf.training import devices, resume, schedules, trainer


def evaluate(model: keras.Model, ds, labels: np.ndarray, num_classes: int) -> dict:
    """Loss (cross-entropy, without the L2 terms), accuracy, precision, recall and predictions
    on one split, from a single prediction pass."""
    probs = model.predict(ds, verbose=0)
    y_pred = probs.argmax(axis=1)
    loss = float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probs)))
    precision, recall = report.precision_recall(labels, y_pred, num_classes)
    return {"loss": loss, "accuracy": float((y_pred == labels).mean()), "precision": precision,
            "recall": recall, "y_pred": y_pred, "probs": probs}


def _datasets(config: RunConfig, data: splits.Splits, global_batch: int, replicas: int):
    """The vectorizer (vocabulary from train only), the three batched datasets and the training order."""
    texts = {name: text.prepare(getattr(data, name)["text"].tolist(), config.tokenizer, config.cache_dir)
             for name in ("train", "val", "test")}
    vectorizer = text.make_vectorizer(config.tokenizer, config.vocab_size)
    vectorizer.adapt(texts["train"], batch_size=pipeline.VECTORIZE_CHUNK)
    shuffle = pipeline.EpochShuffle(config.seed)
    datasets = {
        name: pipeline.make_dataset(
            texts[name], getattr(data, name)["label"].to_numpy(), vectorizer, max_len=config.max_len,
            truncate=config.truncate, global_batch=global_batch, shuffle=shuffle if name == "train" else None,
            replicas=replicas,
        )
        for name in texts
    }
    return vectorizer, datasets, shuffle


def _hyperparameters(config: RunConfig, builder, vectorizer) -> tuple[dict, float | None]:
    """What the run decides for the builder: --embeddings (with the share of the vocabulary the file
    covers), and the longest input for models with a position table."""
    args = {"max_len": config.max_len} if "max_len" in inspect.signature(builder).parameters else {}
    if config.embeddings is None:
        return args, None
    matrix, coverage = embeddings.load_vectors(config.embeddings, vectorizer.get_vocabulary(), seed=config.seed)
    logger.info(f"{config.embeddings}: vectors for {coverage:.1%} of the vocabulary, width {matrix.shape[1]}")
    return {**args, "embeddings": matrix, "freeze_embeddings": config.freeze_embeddings}, coverage


def _row(config, data, fitted, val, test, *, model, strategy, global_batch, peak_lr, ema, policy, coverage, run_dir,
         command):
    return {
        "timestamp": run_dir.name.removeprefix("run_"),
        "best_epoch": fitted.best_epoch,
        **{f"best_val_{k}": val[k] for k in ("loss", "accuracy", "precision", "recall")},
        **{f"final_test_{k}": test[k] for k in ("loss", "accuracy", "precision", "recall")},
        **report.report_columns(data.test["label"].to_numpy(), test["y_pred"], data.class_names),
        "dataset": config.dataset, "model": config.model, "seed": config.seed,
        "num_replicas": strategy.num_replicas_in_sync, "global_batch_size": global_batch,
        "epochs_run": len(fitted.history), "train_seconds": round(fitted.train_seconds, 2),
        "train_samples_per_second": round(fitted.train_samples_per_second, 1),
        "parameters": model.count_params(), "peak_learning_rate": peak_lr,
        "ema_momentum_per_step": ema, "dtype_policy": policy,
        "embedding_coverage": coverage,
        **{f"{k}_size": v for k, v in data.sizes().items()}, "num_classes": len(data.class_names),
        **{f"config_{k}": v for k, v in config.to_dict().items() if k not in ("dataset", "model", "seed")},
        "fingerprint": config.fingerprint(), "data_fingerprint": resume.data_fingerprint(data),
        "run_dir": str(run_dir), "command": command,
    }


def _predictions(data: splits.Splits, test: dict) -> pd.DataFrame:
    """The test split's texts with their true and predicted labels and the probabilities."""
    names = np.asarray(data.class_names)
    frame = pd.DataFrame({"text": data.test["text"].to_numpy(), "label": names[data.test["label"].to_numpy()],
                          "predicted": names[test["y_pred"]]})
    return frame.join(pd.DataFrame(test["probs"], columns=[f"p_{n}" for n in names]))


def _write_outputs(run_dir: Path, row: dict, data: splits.Splits, fitted: trainer.FitResult, test: dict,
                   serving_model: export.RawTextClassifier) -> Path:
    title = f"{row['model']} on {row['dataset']}"
    y_true = data.test["label"].to_numpy()
    export.export(serving_model, run_dir)
    (run_dir / "classes.json").write_text(json.dumps(data.class_names, ensure_ascii=False))
    _predictions(data, test).to_csv(run_dir / "test_predictions.csv", index=False)
    (run_dir / "classification_report.txt").write_text(report.classification_text(y_true, test["y_pred"], data.class_names))
    plots.confusion_matrix_png(y_true, test["y_pred"], data.class_names, run_dir / "confusion_matrix.png", f"{title}: test")
    plots.training_curves_png(fitted.history, fitted.best_epoch, run_dir / "training_curves.png", title)
    return report.write_report(row, run_dir)


def run(config: RunConfig, command: str, strategy: tf.distribute.Strategy, on_gpu: bool, *,
        reuse_finished: bool = False) -> Path:
    """Trains and evaluates one configuration; returns the path of its CSV report.

    Args:
        config: the run; `config.devices` is already applied in `strategy`.
        command: the command line that reproduces this run, kept in the run folder.
        strategy, on_gpu: from `devices.setup_strategy`, called once per process.
        reuse_finished: return the report of an earlier finished run of the same config and data in the
            same output folder instead of training again (a matrix run a second time skips its done cells).
    """
    spec = registry.spec_for(config.dataset)
    builder = builder_for(config.model)
    config = config.resolve(run_defaults(config.model)).resolve(spec.defaults)
    keras.backend.clear_session()  # runs sharing a process (a matrix) start from a clean slate
    keras.utils.set_random_seed(config.seed)
    data = splits.cap(spec.load(config), config.max_samples, config.seed)
    config = dataclasses.replace(config, tokenizer=text.resolve_tokenizer(config.tokenizer, data.language))
    output_dir = Path(config.output_dir)
    fingerprints = config.fingerprint(), resume.data_fingerprint(data)
    if reuse_finished and (done := resume.finished_report(output_dir, *fingerprints)):
        logger.info(f"{config.dataset} / {config.model} / seed {config.seed} already finished: {done}")
        return done
    policy = devices.set_precision(config.precision, on_gpu)
    with resume.claim_run_dir(output_dir, *fingerprints) as (run_dir, resumed):
        sink = logger.add(run_dir / "run.log")
        try:
            logger.info(f"{'resuming' if resumed else 'starting'} run {run_dir}: {data.sizes()} rows, "
                        f"classes {data.class_names}")
            return _train_and_report(config, data, builder, strategy, policy, run_dir, command)
        finally:
            logger.remove(sink)


def _train_and_report(config: RunConfig, data: splits.Splits, builder, strategy: tf.distribute.Strategy,
                      policy: str, run_dir: Path, command: str) -> Path:
    """Fills the claimed `run_dir`: config, fit (or what is left of it), evaluation, exports and report."""
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    (run_dir / "command.txt").write_text(command + "\n")
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    vectorizer, ds, shuffle = _datasets(config, data, global_batch, strategy.num_replicas_in_sync)
    steps_per_epoch = int(ds["train"].cardinality())  # length buckets make a few more than rows / batch
    peak_lr = schedules.scaled_learning_rate(config.learning_rate, strategy.num_replicas_in_sync)
    ema = schedules.scaled_ema_momentum(config.ema_momentum, strategy.num_replicas_in_sync)
    hyperparameters, coverage = _hyperparameters(config, builder, vectorizer)
    with strategy.scope():
        model = builder(vectorizer.vocabulary_size(), len(data.class_names), **hyperparameters)
        trainer.compile_model(model, peak_lr=peak_lr, total_steps=steps_per_epoch * config.epochs,
                              warmup_ratio=config.warmup_ratio, clipnorm=config.clipnorm,
                              ema_momentum=ema)
    fitted = trainer.fit(model, ds["train"], ds["val"], epochs=config.epochs, monitor=config.monitor,
                         patience=config.patience, run_dir=run_dir, train_size=len(data.train), callbacks=(shuffle,))
    val = evaluate(model, ds["val"], data.val["label"].to_numpy(), len(data.class_names))
    test = evaluate(model, ds["test"], data.test["label"].to_numpy(), len(data.class_names))
    row = _row(config, data, fitted, val, test, model=model, strategy=strategy, global_batch=global_batch,
               peak_lr=peak_lr, ema=ema, policy=policy, coverage=coverage, run_dir=run_dir, command=command)
    serving_model = export.RawTextClassifier(vectorizer, model, config.max_len, config.truncate)
    path = _write_outputs(run_dir, row, data, fitted, test, serving_model)
    logger.info(f"test accuracy {test['accuracy']:.4f} (best epoch {fitted.best_epoch}); report {path}")
    return path
