"""How a finished run does on texts it was not trained on: another dataset's split, or a user's labelled file.

`python src/evaluate.py --run DIR --dataset NAME_OR_FILE` writes, beside the run folder, one row in
`evaluation_report_<stamp>.csv` (the metrics and sklearn's per-class report, as a training report has them, with
`train_dataset`, `eval_dataset` and how many of the texts the run trained on) and a folder `eval_<stamp>/` with the
predictions, the classification report, the confusion matrix and the words the run leaned on over those texts
(`top_tokens.csv` and `.png`, as in a run folder); with `--explain-errors N`, `errors.html`: the N most confident
errors, their words shaded by their explanation scores. `server_main.py --eval-datasets a,b` evaluates the selected
model of every run on those datasets' test splits, into its report's `eval_<name>_*` columns.

The texts go through the run's exported raw-text model, as served (`serving.predictor.Predictor`). Classes are
matched by name: the sentiment datasets all call theirs negative and positive, whatever their files say, and a
user's file can rename its labels (`--label-map 0=negative,1=positive`). A label the run does not know is an
`InputError`; a class of the run that the texts lack is left out of the averages, as in training's reports.
"""

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from loguru import logger

from textclf.config import OneLineParser, at_least
from textclf.data import registry
from textclf.data.run_data import EvalSet, class_indices, default_split, load_set, seen_in_training, training_texts
from textclf.errors import InputError, exit_code
from textclf.explain import SHARE_OF_TRAINING
from textclf.files import check_writable
from textclf.logs import log_to_stderr
from textclf.reporting import plots, report
from textclf.run_folders import report_row, reserve_run_dir
from textclf.serving.batch import predict_by_length
from textclf.serving.runs import add_run_flags, chosen_run, load_predictor

SPLITS = ("train", "val", "test", "all")
MACRO_F1 = "report_macro_avg_f1-score"
TOP_TOKENS_SECONDS = 60  # the top tokens' time budget for a run without a report to take its training time from


def parse_label_map(text: str) -> dict[str, str]:
    """`0=negative,1=positive` -> {"0": "negative", "1": "positive"}."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not sep or not old.strip() or not new.strip() for old, sep, new in pairs):
        raise argparse.ArgumentTypeError(f"expected LABEL=CLASS pairs such as 0=negative,1=positive, got {text!r}")
    return {old.strip(): new.strip() for old, _, new in pairs}


def scores(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Loss (cross-entropy), accuracy, precision, recall and the predicted classes, from class probabilities."""
    import keras  # TensorFlow: loaded with a model, not to answer a bad flag of evaluate.py

    y_pred = probs.argmax(axis=1)
    loss = float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probs)))
    precision, recall = report.precision_recall(labels, y_pred, num_classes)
    return {"loss": loss, "accuracy": float((y_pred == labels).mean()), "precision": precision,
            "recall": recall, "y_pred": y_pred, "probs": probs}


def score_set(predictor, eval_set: EvalSet, label_map: dict[str, str] | None = None) -> tuple[np.ndarray, dict]:
    """The run's class index of each of `eval_set`'s labels, and `scores` of the predictor's probabilities."""
    labels = class_indices(eval_set, predictor.class_names, label_map)
    return labels, scores(predict_by_length(predictor, eval_set.texts), labels, len(predictor.class_names))


def predictions(texts, labels: np.ndarray, result: dict, class_names: list[str]) -> pd.DataFrame:
    """Each text with its true and predicted class and the probabilities."""
    names = np.asarray(class_names)
    frame = pd.DataFrame({"text": np.asarray(texts, dtype=object), "label": names[labels],
                          "predicted": names[result["y_pred"]]})
    return frame.join(pd.DataFrame(result["probs"], columns=[f"p_{n}" for n in names]))


def transfer_columns(predictor, eval_sets: list[EvalSet], training_texts: set[str], run_dir: Path) -> dict:
    """The selected model on each of `eval_sets`: `eval_<name>_{accuracy,macro_f1,rows,seen_in_training}`
    report columns, and `eval_<name>_predictions.csv` in `run_dir`."""
    columns = {}
    for eval_set in eval_sets:
        labels, result = score_set(predictor, eval_set)
        macro_f1 = report.report_columns(labels, result["y_pred"], predictor.class_names)[MACRO_F1]
        seen = seen_in_training(eval_set.texts, training_texts)
        predictions(eval_set.texts, labels, result, predictor.class_names).to_csv(
            run_dir / f"eval_{eval_set.name}_predictions.csv", index=False)
        logger.info(f"{eval_set.source} {eval_set.split}: accuracy {result['accuracy']:.4f}, macro-F1 {macro_f1:.4f}"
                    + (f" ({seen} of its {len(labels)} texts were in training)" if seen else ""))
        columns.update({f"eval_{eval_set.name}_accuracy": result["accuracy"], f"eval_{eval_set.name}_macro_f1": macro_f1,
                        f"eval_{eval_set.name}_rows": len(labels), f"eval_{eval_set.name}_seen_in_training": seen})
    return columns


def _training_texts(config: dict, source: str) -> set[str] | None:
    """The texts the run trained and selected on (`run_data.training_texts`; `config` read from `source`), or None
    (logged) when its data cannot be read here."""
    try:
        return training_texts(config, source)
    except InputError as err:
        logger.warning(f"cannot count the texts the run trained on: {err}")
        return None


def _explain(predictor, frame: pd.DataFrame, predicted: np.ndarray, errors: int, seconds: float, eval_dir: Path,
             title: str) -> None:
    """top_tokens.csv and .png over the evaluated texts (`frame`, as predictions.csv); with `errors`, errors.html."""
    from textclf.explain import errors_page  # TensorFlow: the explainer's

    predictor.top_tokens(frame["text"].tolist(), predicted, seconds, predictor.config["seed"], eval_dir,
                         f"{title}: words by mean score")
    if errors:
        wrong = errors_page.most_confident_errors(frame, errors)
        targets = [predictor.class_names.index(name) for name in wrong["predicted"]]
        path = errors_page.write(wrong, predictor.explain(wrong["text"].tolist(), targets), eval_dir / "errors.html",
                                 f"{title}: the {len(wrong)} most confident errors")
        logger.info(f"{path}: the {len(wrong)} most confident of {int((frame['label'] != frame['predicted']).sum())} "
                    "errors, explained")


def evaluate_run(args: argparse.Namespace, command: str) -> Path:
    """Evaluates the run of `args` on `args.dataset`; returns the path of the evaluation report."""
    run_dir = chosen_run(args)
    # Checked before TensorFlow starts, not found once the work is done: where the evaluation is written, and a
    # renamed run folder (whose report no name finds)
    check_writable(run_dir.parent, f"{run_dir}: the evaluation is written beside it")
    run_row = report_row(run_dir)
    predictor = load_predictor(run_dir)
    config = predictor.config
    split = args.split or default_split(args.dataset)
    eval_set = load_set(args.dataset, split, data_dir=args.data_dir or config["data_dir"], seed=config["seed"],
                        text_column=args.text_column, label_column=args.label_column)
    labels, result = score_set(predictor, eval_set, args.label_map)
    training_texts = _training_texts(config, str(predictor.run_dir / "config.json"))
    eval_dir = reserve_run_dir(predictor.run_dir.parent, prefix="eval")
    row = {
        "timestamp": eval_dir.name.removeprefix("eval_"),
        **{f"eval_{k}": result[k] for k in ("loss", "accuracy", "precision", "recall")},
        **report.report_columns(labels, result["y_pred"], predictor.class_names),
        "train_dataset": config["dataset"], "eval_dataset": args.dataset, "eval_split": split,
        "eval_rows": len(labels),
        "seen_in_training": None if training_texts is None else seen_in_training(eval_set.texts, training_texts),
        "model": config["model"], "seed": config["seed"], "run_test_accuracy": run_row.get("final_test_accuracy"),
        "run_dir": str(predictor.run_dir), "eval_dir": str(eval_dir), "command": command,
    }
    (eval_dir / "command.txt").write_text(command + "\n", encoding="utf-8")
    frame = predictions(eval_set.texts, labels, result, predictor.class_names)
    frame.to_csv(eval_dir / "predictions.csv", index=False)
    (eval_dir / "classification_report.txt").write_text(
        report.classification_text(labels, result["y_pred"], predictor.class_names))
    title = f"{config['model']} trained on {config['dataset']}: {eval_set.name} {split}"
    plots.confusion_matrix_png(labels, result["y_pred"], predictor.class_names, eval_dir / "confusion_matrix.png",
                               title)
    seconds = SHARE_OF_TRAINING * run_row["train_seconds"] if "train_seconds" in run_row else TOP_TOKENS_SECONDS
    _explain(predictor, frame, result["y_pred"], args.explain_errors, seconds, eval_dir, title)
    path = report.write_report(row, eval_dir)
    logger.info(f"{config['dataset']} -> {eval_set.source} {split}: accuracy {result['accuracy']:.4f}, "
                f"macro-F1 {row[MACRO_F1]:.4f} on {len(labels):,} texts; report {path}")
    return path


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="evaluate.py",
                      description="Evaluate a trained run on another dataset's split or a labelled file.")
    add_run_flags(p)
    p.add_argument("--dataset", required=True, help=f"a dataset name ({', '.join(registry.DATASETS)}) or a "
                   "labelled file (CSV, TSV, JSON Lines, Parquet)")
    p.add_argument("--data-dir", help="root holding the datasets' folders (default: the run's)")
    p.add_argument("--split", choices=SPLITS, help="which split (default: test of a dataset, all rows of a file)")
    p.add_argument("--text-column", help="text column of a file (default: guessed)")
    p.add_argument("--label-column", help="label column of a file (default: guessed)")
    p.add_argument("--label-map", type=parse_label_map, default={},
                   help="rename labels to the run's class names, e.g. 0=negative,1=positive")
    p.add_argument("--explain-errors", type=at_least(0), default=0, metavar="N",
                   help="also write errors.html: the N most confident errors, their words shaded by their scores "
                   "towards the wrong class (default: 0, none)")
    return p


def _evaluate(args: argparse.Namespace, command: str) -> int:
    registry.check_name(args.dataset)  # a bad name is answered before TensorFlow loads a model
    print(evaluate_run(args, command))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)  # a bad flag: one line and exit code 2
    log_to_stderr()
    return exit_code(_evaluate, args, shlex.join([sys.executable, "src/evaluate.py", *argv]))
