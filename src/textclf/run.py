"""One training run, start to finish: prepare, build, fit, evaluate, write.

The model's family (`textclf.families`, chosen once from `models.registry`) owns the steps that depend on
the kind of model: preprocessing, the build, the compile and the raw-text export. The trainer sees one
resolved `RunConfig` at a time; nothing here knows about matrices of runs.
"""

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf
from loguru import logger

from textclf import distillation, evaluation, families, run_folders
from textclf.config import DISTILLATION, OBJECTIVES, RunConfig
from textclf.data import registry, splits, text
from textclf.data.run_data import EvalSet, read_data
from textclf.errors import InputError
from textclf.explain import SHARE_OF_TRAINING, top_tokens
from textclf.explain.explainer import Explainer
from textclf.models.registry import family_of, run_defaults
from textclf.reporting import plots, report
from textclf.serving import export
from textclf.training import accumulation, calibration, devices, multi_worker, objectives, schedules, trainer


def family_for(model: str) -> families.Family:
    """The family module of `--model` `model`."""
    return families.family(family_of(model))


def check(config: RunConfig):
    """Fails on a setting that does not apply to the config's model, objective or epochs, before any data is read."""
    families.check_settings(config)
    family_for(config.model).check(config)
    objectives.check(config)
    distillation.check(config)
    _check_zero_shot(config)


def _check_zero_shot(config: RunConfig):
    """`--epochs 0` only where an untrained head already scores the classes: an LLM's label words."""
    if config.epochs == 0 and (config.model != "llm" or config.head != "label_words"):
        raise InputError("--epochs 0 evaluates a model without training it, which only --model llm --head "
                         "label_words can (its head starts as the language model's own); train at least one epoch")


def _config_columns(config: RunConfig) -> dict:
    """Every config value but the row's own dataset, model and seed; model_args as JSON text."""
    return {f"config_{k}": json.dumps(v) if isinstance(v, dict) else v for k, v in config.to_dict().items()
            if k not in ("dataset", "model", "seed")}


def score_columns(data: splits.Splits, val: dict, test: dict | None) -> dict:
    """The report's scores of a model on validation and test (`evaluation.scores`): the original's columns and
    scikit-learn's per-class report of test (validation's alone for a tuning trial, `test` None)."""
    columns = {f"best_val_{k}": val[k] for k in ("loss", "accuracy", "precision", "recall")}
    if test is None:
        return columns
    return {**columns, **{f"final_test_{k}": test[k] for k in ("loss", "accuracy", "precision", "recall")},
            **report.report_columns(data.test["label"].to_numpy(), test["y_pred"], data.class_names)}


def _row(config: RunConfig, data: splits.Splits, fitted: trainer.FitResult, val: dict, test: dict | None, *,
         setup: dict, extra: dict, run_dir: Path, command: str) -> dict:
    """The report row. `setup`: how the run trained (replicas, batch, rate, ...); `extra`: the family's columns."""
    return {
        "timestamp": run_dir.name.removeprefix("run_"),
        "best_epoch": fitted.best_epoch,
        **score_columns(data, val, test),
        "dataset": config.dataset, "model": config.model, "seed": config.seed,
        **{k: setup[k] for k in ("num_replicas", "global_batch_size", "examples_per_update")},
        "epochs_run": len(fitted.history), "train_seconds": round(fitted.train_seconds, 2),
        "train_samples_per_second": round(fitted.train_samples_per_second, 1),
        **{k: setup[k] for k in ("parameters", "peak_learning_rate", "ema_momentum_per_step", "dtype_policy")},
        **extra,
        **{f"{k}_size": v for k, v in data.sizes().items()}, "num_classes": len(data.class_names),
        **_config_columns(config),
        "fingerprint": config.fingerprint(), "data_fingerprint": splits.data_fingerprint(data),
        "run_dir": str(run_dir), "command": command,
    }


def export_model(run_dir: Path, serving_model: keras.Model, class_names: list[str]):
    """What serving loads: the raw-text model and the class names."""
    export.export(serving_model, run_dir)
    (run_dir / "classes.json").write_text(json.dumps(class_names, ensure_ascii=False))


def _transfer(run_dir: Path, data: splits.Splits, eval_sets: list[EvalSet]) -> dict:
    """The exported model, as served, on the `--eval-datasets`: their report columns."""
    if not eval_sets:
        return {}
    from textclf.serving.predictor import Predictor  # keras-hub too: only for runs that evaluate elsewhere

    training_texts = set(data.train["text"]) | set(data.val["text"])
    return evaluation.transfer_columns(Predictor(run_dir), eval_sets, training_texts, run_dir)


def write_test_outputs(run_dir: Path, row: dict, data: splits.Splits, test: dict) -> Path:
    """The test split's predictions, classification report and confusion matrix in `run_dir`, then the report."""
    y_true = data.test["label"].to_numpy()
    evaluation.predictions(data.test["text"], y_true, test, data.class_names).to_csv(
        run_dir / "test_predictions.csv", index=False)
    (run_dir / "classification_report.txt").write_text(report.classification_text(y_true, test["y_pred"], data.class_names))
    plots.confusion_matrix_png(y_true, test["y_pred"], data.class_names, run_dir / "confusion_matrix.png",
                               f"{row['model']} on {row['dataset']}: test")
    return report.write_report(row, run_dir)


def _training_curves(run_dir: Path, row: dict, fitted: trainer.FitResult) -> None:
    if len(fitted.history):  # a zero-shot run has no epoch to draw
        plots.training_curves_png(fitted.history, fitted.best_epoch, run_dir / "training_curves.png",
                                  f"{row['model']} on {row['dataset']}")


def resolved(config: RunConfig) -> RunConfig:
    """The config with the model's defaults, then the dataset's and the objective's (a --teacher's loss settings), in
    its unset fields."""
    config = config.resolve(run_defaults(config.model)).resolve(registry.spec_for(config.dataset).defaults)
    config = config.resolve(OBJECTIVES[config.objective])
    return config if config.teacher is None else config.resolve(DISTILLATION)


def _load(family: families.Family, config: RunConfig,
          trial: bool = False) -> tuple[RunConfig, splits.Splits, list[EvalSet]]:
    """The config resolved (`resolved`, then the family's), its data (with a --teacher's transfer set, not yet
    labelled) and its eval sets; a tuning trial's data without its test rows and without eval sets, so that
    nothing it does can read them."""
    config = resolved(config)
    devices.set_determinism(config.deterministic)
    data, eval_sets = read_data(config)
    data = distillation.with_transfer(config, data)  # without the test texts, a trial's too
    if trial:  # the test split's columns without its rows, taken from validation: test is not touched at all
        data, eval_sets = dataclasses.replace(data, test=data.val.iloc[:0]), []
    return family.resolve(config, data), data, eval_sets


def run(config: RunConfig, command: str, strategy: tf.distribute.Strategy, on_gpu: bool, *,
        reuse_finished: bool = False, trial: bool = False) -> Path | None:
    """Trains and evaluates one configuration; returns the path of its CSV report (None on a multi-worker
    job's workers other than the chief, which writes it).

    Args:
        config: the run; `config.devices` is already applied in `strategy`.
        command: the command line that reproduces this run, kept in the run folder.
        strategy, on_gpu: from `devices.setup_strategy`, called once per process.
        reuse_finished: return the report of an earlier finished run of the same config and data in the
            same output folder instead of training again (a matrix run a second time skips its done cells).
        trial: a tuning trial (`textclf.tuning`): scored on validation only, the test split never read; its
            report has the validation columns and no test ones.
    """
    family = family_for(config.model)
    check(config)
    accumulation.check(config.grad_accum, devices.resolve_precision(config.precision, on_gpu))
    config, data, eval_sets = _load(family, config, trial)
    output_dir = Path(config.output_dir)
    fingerprints = config.fingerprint(), splits.data_fingerprint(data)
    if reuse_finished and (done := run_folders.finished_report(output_dir, *fingerprints)):
        logger.info(f"{config.dataset} / {config.model} / seed {config.seed} already finished: {done}")
        return done  # before the teacher labels anything: a finished student of a matrix costs no teacher pass
    data, teacher = distillation.labelled(config, data)
    # Seeded once the data is read and a teacher has labelled it (loading the teacher's model moves Keras' random
    # state): a student starts alike whether its teacher ran here or came from the cache. Runs sharing a process
    # (a matrix) start from a clean slate.
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    policy = devices.set_precision(config.precision, on_gpu)
    # Claimed last: every check above that can fail leaves no run folder behind. In multi-worker training every
    # worker runs all of it; the chief writes the run folder, the others a folder of their own, removed at the end.
    task = multi_worker.worker_task(strategy)
    claim = (run_folders.claim_run_dir(output_dir, *fingerprints) if task is None
             else run_folders.worker_run_dir(output_dir, *fingerprints, task))
    with claim as (run_dir, resumed):
        sink = logger.add(run_dir / "run.log")
        try:
            logger.info(f"{'resuming' if resumed else 'starting'} run {run_dir}: {data.sizes()} rows, "
                        f"classes {data.class_names}")
            path = _train_and_report(family, config, data, eval_sets, teacher, strategy, policy, run_dir, command,
                                     trial)
        finally:
            logger.remove(sink)
    if task is not None:
        logger.info(f"{task}: done; the chief wrote the run folder and the report")
        return None
    return path


def _build(family: families.Family, config: RunConfig, prepared: families.Prepared, num_classes: int,
           strategy: tf.distribute.Strategy) -> tuple[keras.Model, keras.Model, dict]:
    """The compiled model that trains (the classifier, or its --objective's training model), the classifier, and
    how it trains: the rate and weight average scaled for the replicas (not for --grad-accum, which trains as a
    K-times batch would, with its rate: both count optimizer updates)."""
    replicas = strategy.num_replicas_in_sync
    steps_per_epoch = int(prepared.datasets["train"].cardinality())  # length buckets: a few more than rows / batch
    updates = max(1, steps_per_epoch * config.epochs // config.grad_accum)
    peak_lr = schedules.scaled_learning_rate(config.learning_rate, replicas)
    ema = schedules.scaled_ema_momentum(config.ema_momentum, replicas)
    with strategy.scope():
        classifier = family.build(config, prepared, num_classes)
        model = objectives.training_model(classifier, config)
        family.compile_model(model, config, peak_lr=peak_lr, total_steps=updates, ema_momentum=ema)
    return model, classifier, {"num_replicas": replicas, "global_batch_size": config.batch_size * replicas,
                   "examples_per_update": config.batch_size * replicas * config.grad_accum,
                   "parameters": model.count_params(), "peak_learning_rate": peak_lr, "ema_momentum_per_step": ema}


def _class_weights(config: RunConfig, data: splits.Splits) -> dict[int, float] | None:
    """`--class-weight balanced`'s weights of the training split, or None."""
    if config.class_weight != "balanced":
        return None
    return trainer.class_weights(data.train["label"].to_numpy(), len(data.class_names))


def _weights_column(weights: dict[int, float] | None, class_names: list[str]) -> dict:
    """The `class_weights` report column (class name -> weight, JSON), when the run weighed its classes."""
    if weights is None:
        return {}
    return {"class_weights": json.dumps({class_names[i]: round(w, 6) for i, w in weights.items()}, ensure_ascii=False)}


def _fit(model: keras.Model, config: RunConfig, prepared: families.Prepared, data: splits.Splits,
         run_dir: Path, class_weight: dict[int, float] | None) -> trainer.FitResult:
    return trainer.fit(model, prepared.datasets["train"], prepared.datasets["val"], epochs=config.epochs,
                       monitor=config.monitor, patience=config.patience, run_dir=run_dir,
                       train_size=len(data.train) + len(data.transfer),
                       callbacks=prepared.callbacks, class_weight=class_weight, keep_best=config.keep_best)


def _evaluate(model: keras.Model, prepared: families.Prepared, data: splits.Splits, name: str) -> dict:
    """The selected model on split `name`."""
    return evaluation.scores(model.predict(prepared.datasets[name], verbose=0), getattr(data, name)["label"].to_numpy(),
                             len(data.class_names))


def _calibrated(config: RunConfig, model: keras.Model, val: dict, test: dict, data: splits.Splits,
                run_dir: Path) -> tuple[keras.Model, dict, dict, dict]:
    """The selected model with `--calibrate temperature` (the default; T fitted on validation) or as it is, val and
    test scored on its probabilities, the report's calibration columns, and its test reliability diagram."""
    labels = {"val": data.val["label"].to_numpy(), "test": data.test["label"].to_numpy()}
    columns = {"temperature": None, "uncalibrated_val_loss": val["loss"], "uncalibrated_test_loss": test["loss"],
               "uncalibrated_test_ece": calibration.expected_calibration_error(test["probs"], labels["test"]),
               "uncalibrated_test_brier": calibration.brier_score(test["probs"], labels["test"])}
    curves = {"as trained": calibration.reliability(test["probs"], labels["test"])}
    if config.calibrate != "none":
        temperature = columns["temperature"] = calibration.fit_temperature(val["probs"], labels["val"])
        model = calibration.calibrated(model, temperature)
        val, test = (evaluation.scores(keras.ops.convert_to_numpy(calibration.scale(result["probs"], temperature)),
                                       labels[name], len(data.class_names))
                     for name, result in (("val", val), ("test", test)))
        curves[f"temperature {temperature:.3f}"] = calibration.reliability(test["probs"], labels["test"])
    columns.update(test_ece=calibration.expected_calibration_error(test["probs"], labels["test"]),
                   test_brier=calibration.brier_score(test["probs"], labels["test"]))
    plots.reliability_png(curves, run_dir / "reliability.png", f"{config.model} on {config.dataset}: test split")
    fitted = "none" if columns["temperature"] is None else f"{columns['temperature']:.3f} (fitted on validation)"
    logger.info(f"temperature {fitted}: test ECE {columns['uncalibrated_test_ece']:.4f} -> {columns['test_ece']:.4f}")
    return model, val, test, columns


def _top_tokens(run_dir: Path, serving_model: keras.Model, config: RunConfig, data: splits.Splits,
                predicted: Sequence[int], train_seconds: float) -> None:
    """top_tokens.csv and .png: what the run leans on over its test split (`predicted`: its classes), in a tenth of
    its training time."""
    explainer = Explainer(serving_model, config.tokenizer, data.class_names,
                          lambda texts: keras.ops.convert_to_numpy(serving_model(tf.constant(texts, dtype=tf.string))))
    texts = text.prepare(data.test["text"].tolist(), config.tokenizer, config.cache_dir)
    top_tokens.explain_and_write(lambda i: explainer.explain(texts[i], int(predicted[i])), len(texts),
                                 data.class_names, SHARE_OF_TRAINING * train_seconds, config.seed, run_dir,
                                 f"{config.model} on {config.dataset}: words by mean score", explainer.methods[0])


def _train_and_report(family: families.Family, config: RunConfig, data: splits.Splits, eval_sets: list[EvalSet],
                      teacher: distillation.Teacher | None, strategy: tf.distribute.Strategy, policy: str,
                      run_dir: Path, command: str, trial: bool) -> Path:
    """Fills the claimed `run_dir`: config, fit (or what is left of it), evaluation, exports and report; a tuning
    trial's on validation alone."""
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    (run_dir / "command.txt").write_text(command + "\n")
    replicas = strategy.num_replicas_in_sync
    prepared = family.prepare(config, data, global_batch=config.batch_size * replicas, replicas=replicas)
    model, classifier, setup = _build(family, config, prepared, len(data.class_names), strategy)
    weights = _class_weights(config, data)
    fitted = _fit(model, config, prepared, data, run_dir, weights)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        logger.info(f"weights digest {multi_worker.weights_digest(classifier)} (equal on every worker)")
    val = _evaluate(classifier, prepared, data, "val")
    if trial:
        row = _row(config, data, fitted, val, None, setup={**setup, "dtype_policy": policy},
                   extra={**prepared.report, **_weights_column(weights, data.class_names),
                          **(teacher.columns(config, data, None) if teacher else {})}, run_dir=run_dir, command=command)
        _training_curves(run_dir, row, fitted)
        path = report.write_report(row, run_dir)
        # Scored, not kept: the search's finals train the best settings again. Its weights (hundreds of MB for a
        # fastText's bigram table) go once its report is written, so a search of many trials fits on a disk.
        (run_dir / "best.weights.h5").unlink()
        logger.info(f"validation accuracy {val['accuracy']:.4f} (best epoch {fitted.best_epoch}); report {path}")
        return path
    test = _evaluate(classifier, prepared, data, "test")
    model, val, test, calibrated = _calibrated(config, classifier, val, test, data, run_dir)
    serving_model = family.serving_model(config, prepared, model)
    export_model(run_dir, serving_model, data.class_names)
    _top_tokens(run_dir, serving_model, config, data, test["y_pred"], fitted.train_seconds)
    row = _row(config, data, fitted, val, test, setup={**setup, "dtype_policy": policy},
               extra={**prepared.report, **_weights_column(weights, data.class_names), **calibrated,
                      **_transfer(run_dir, data, eval_sets),
                      **(teacher.columns(config, data, test["y_pred"]) if teacher else {})}, run_dir=run_dir,
               command=command)
    _training_curves(run_dir, row, fitted)
    path = write_test_outputs(run_dir, row, data, test)
    logger.info(f"test accuracy {test['accuracy']:.4f} (best epoch {fitted.best_epoch}); report {path}")
    return path
