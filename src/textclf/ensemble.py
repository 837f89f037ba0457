"""Ensembles of finished runs: the members' served probabilities, averaged with weights chosen on validation.

The members are run folders of one dataset, split and seed (checked on their reports' data fingerprint). Each
is scored as it is served (its exported raw-text model, calibration included) on the validation and test
texts; the weights that score best on validation are kept, and equal weights unless others are strictly
better there. The ensemble is written like any run: a run folder (`EnsembleClassifier` as model.keras and
SavedModel, so serve.py and predict.py take it) and a report row whose model is `a+b`. Until its report is
written, the folder holds `evaluation_pending`, as a run's does, so that no reader takes a half-written ensemble.

`src/ensemble.py --runs RUN1 RUN2` combines existing runs; `server_main.py --model a+b` trains the members
(or reuses their finished runs) and combines them (`cli`).
"""

import argparse
import dataclasses
import hashlib
import itertools
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from loguru import logger

from textclf import evaluation, run_folders
from textclf.config import OneLineParser, RunConfig, saved_config
from textclf.data import splits
from textclf.data.run_data import read_data
from textclf.errors import InputError, exit_code
from textclf.files import check_output_dir, read_json
from textclf.logs import log_to_stderr
from textclf.models.registry import ENSEMBLE_SEPARATOR
from textclf.serving.batch import predict_by_length

WEIGHT_STEPS = 10  # validation tries every weighting in tenths (66 of them for three members)
WEIGHTS = ("auto", "equal")


@dataclasses.dataclass(frozen=True)
class Member:
    run_dir: Path
    config: RunConfig  # as resolved by its run
    row: dict  # its report row


def load_member(run_dir: Path) -> Member:
    """A finished run folder with its resolved config and its report row."""
    run_dir = run_folders.checked_run(Path(run_dir))
    if not run_dir.name.startswith("run_"):
        raise InputError(f"{run_dir}: not a run folder (run_<stamp>), so no report names it")
    row = run_folders.report_row(run_dir)
    if not row:
        raise InputError(f"{run_dir}: not a finished run folder (no readable {run_folders.report_path(run_dir).name} "
                         "beside it)")
    if ENSEMBLE_SEPARATOR in str(row.get("model")):
        raise InputError(f"{run_dir}: an ensemble; give its members instead")
    path = run_dir / "config.json"
    return Member(run_dir, saved_config(read_json(path), str(path)), row)


def _preparation(config: RunConfig) -> str:
    """What serving does to a text before the member's model: jieba, or nothing (`text.prepare`)."""
    return "jieba" if config.tokenizer == "jieba" else "none"


def check_members(members: list[Member]):
    """Refuses fewer than two runs, a run given twice, and members of different datasets, splits, seeds or
    text preparation."""
    if len(members) < 2:
        raise InputError("an ensemble needs at least two runs")
    if len({m.run_dir.resolve() for m in members}) < len(members):
        raise InputError("a run is given twice")
    first = members[0]
    for member in members[1:]:
        for what, key in (("dataset", "dataset"), ("seed", "seed"), ("split (data fingerprint)", "data_fingerprint")):
            if member.row[key] != first.row[key]:
                raise InputError(f"{member.run_dir.name} and {first.run_dir.name} differ in {what}: "
                                 f"{member.row[key]} against {first.row[key]}; an ensemble's members share "
                                 "dataset, split and seed")
        if _preparation(member.config) != _preparation(first.config):
            raise InputError(f"{member.run_dir.name} and {first.run_dir.name} prepare texts differently (jieba "
                             "words against raw text); the ensemble's model takes one kind of text")


def simplex(members: int, steps: int = WEIGHT_STEPS) -> np.ndarray:
    """Every weighting of `members` in multiples of 1 / steps that sums to 1, one per row."""
    rows = [c for c in itertools.product(range(steps + 1), repeat=members) if sum(c) == steps]
    return np.asarray(rows, dtype="float64") / steps


def choose_weights(val_probs: list[np.ndarray], labels: np.ndarray, mode: str = "auto") -> np.ndarray:
    """The weighting of `val_probs` with the best validation accuracy (then the lowest loss); equal weights
    unless another is strictly more accurate on validation, or when `mode` is "equal"."""
    equal = np.full(len(val_probs), 1 / len(val_probs))
    if mode == "equal":
        return equal
    stacked = np.stack(val_probs)  # (members, rows, classes)

    def score(weights):
        mixed = np.tensordot(weights, stacked, axes=1)
        loss = -np.log(np.maximum(mixed[np.arange(len(labels)), labels], 1e-7)).mean()
        return (mixed.argmax(axis=1) == labels).mean(), -loss

    best = max(simplex(len(val_probs)), key=score)
    return best if score(best)[0] > score(equal)[0] else equal


def fingerprint(members: list[Member], mode: str) -> str:
    """Of the members' configs, in order (the ensemble's name follows it), and the weighting."""
    key = json.dumps({"members": [m.row["fingerprint"] for m in members], "weights": mode})
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _data(member: Member):
    """The splits the members were trained and scored on, read again from the first one's config; the data on
    disk must not have changed since."""
    data, _ = read_data(member.config)
    if splits.data_fingerprint(data) != member.row["data_fingerprint"]:
        raise InputError(f"{member.config.dataset} under {member.config.data_dir} is not the data the members "
                         "were trained on (another data fingerprint)")
    return data


def _row(members: list[Member], weights: np.ndarray, val: dict, test: dict, data, *, mode: str, run_dir: Path,
         command: str) -> dict:
    """The report row: a run's leading and scoring columns, the members, their weights and total training."""
    from textclf.run import score_columns
    from textclf.training import calibration

    first, labels = members[0], data.test["label"].to_numpy()
    return {
        "timestamp": run_dir.name.removeprefix("run_"), "best_epoch": None, **score_columns(data, val, test),
        "dataset": first.row["dataset"], "model": ENSEMBLE_SEPARATOR.join(m.row["model"] for m in members),
        "seed": first.row["seed"],
        # Members train one after another: the ensemble's training is theirs, summed.
        "train_seconds": round(sum(float(m.row["train_seconds"]) for m in members), 2),
        "parameters": sum(int(m.row["parameters"]) for m in members),
        "ensemble_members": json.dumps([str(m.run_dir) for m in members]),
        "ensemble_weights": json.dumps([round(float(w), 4) for w in weights]), "ensemble_weights_mode": mode,
        "member_train_seconds": json.dumps([float(m.row["train_seconds"]) for m in members]),
        "member_test_accuracy": json.dumps([float(m.row["final_test_accuracy"]) for m in members]),
        "test_ece": calibration.expected_calibration_error(test["probs"], labels),
        "test_brier": calibration.brier_score(test["probs"], labels),
        **{f"{k}_size": v for k, v in data.sizes().items()}, "num_classes": len(data.class_names),
        "fingerprint": fingerprint(members, mode), "data_fingerprint": first.row["data_fingerprint"],
        "run_dir": str(run_dir), "command": command,
    }


def _write(run_dir: Path, members: list[Member], predictors: list, weights: np.ndarray, data, test: dict, *,
           mode: str, row: dict) -> Path:
    """The run folder (config, exported model, classes, top tokens, test predictions, plots) and the report."""
    from textclf import run
    from textclf.explain import SHARE_OF_TRAINING
    from textclf.models.raw_text import EnsembleClassifier
    from textclf.serving.predictor import Predictor

    first = members[0].config
    (run_dir / "config.json").write_text(json.dumps(
        {"dataset": first.dataset, "model": row["model"], "tokenizer": first.tokenizer, "seed": first.seed,
         "data_dir": first.data_dir, "members": [str(m.run_dir) for m in members],
         "weights": [float(w) for w in weights], "weights_mode": mode}, indent=2))
    (run_dir / "command.txt").write_text(row["command"] + "\n")
    run.export_model(run_dir, EnsembleClassifier([p.model for p in predictors], [float(w) for w in weights]),
                     data.class_names)
    Predictor(run_dir).top_tokens(data.test["text"].tolist(), test["y_pred"],
                                  SHARE_OF_TRAINING * row["train_seconds"], first.seed, run_dir,
                                  f"{row['model']} on {first.dataset}: words by mean score")
    return run.write_test_outputs(run_dir, row, data, test)


def combine(run_dirs: list[Path], *, output_dir: Path | None = None, mode: str = "auto", command: str = "",
            reuse_finished: bool = False) -> Path:
    """Scores the members on validation and test, chooses the weights on validation, writes the ensemble's run
    folder and report (in `output_dir`, by default the first member's) and returns the report's path.

    Args:
        run_dirs: the members' run folders.
        mode: "auto" (weights chosen on validation) or "equal".
        reuse_finished: return an earlier report of the same members and mode in `output_dir` instead.
    """
    from textclf.serving.predictor import Predictor

    members = [load_member(run_dir) for run_dir in run_dirs]
    check_members(members)
    output_dir = Path(output_dir or members[0].run_dir.parent)
    check_output_dir(str(output_dir))
    done = reuse_finished and run_folders.finished_report(output_dir, fingerprint(members, mode),
                                                     members[0].row["data_fingerprint"])
    if done:
        logger.info(f"ensemble of {', '.join(m.run_dir.name for m in members)} already finished: {done}")
        return done
    data = _data(members[0])
    predictors = [Predictor(m.run_dir) for m in members]
    labels = {name: getattr(data, name)["label"].to_numpy() for name in ("val", "test")}
    probs = {name: [predict_by_length(p, getattr(data, name)["text"].tolist()) for p in predictors]
             for name in labels}
    weights = choose_weights(probs["val"], labels["val"], mode)
    val, test = (evaluation.scores(np.tensordot(weights, np.stack(probs[name]), axes=1), labels[name],
                                   len(data.class_names)) for name in ("val", "test"))
    run_dir = run_folders.reserve_run_dir(output_dir)
    (run_dir / run_folders.EVALUATION_PENDING).touch()  # as a run's: every reader refuses the folder until it is whole
    row = _row(members, weights, val, test, data, mode=mode, run_dir=run_dir, command=command)
    path = _write(run_dir, members, predictors, weights, data, test, mode=mode, row=row)
    (run_dir / run_folders.EVALUATION_PENDING).unlink()
    logger.info(f"ensemble {row['model']}: weights {row['ensemble_weights']}, validation {val['accuracy']:.4f}, "
                f"test accuracy {test['accuracy']:.4f}; report {path}")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(description="Average the probabilities of finished runs of one dataset, split and seed, "
                           "with weights chosen on validation, and write the ensemble as a run.")
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="the members' run folders")
    parser.add_argument("--weights", choices=WEIGHTS, default="auto",
                        help="auto: the most accurate on validation in tenths (equal unless another is strictly "
                        "better); equal: 1 / members each (default: auto)")
    parser.add_argument("--output-dir", type=Path, help="where the run folder and report go (default: the first "
                        "member's folder, beside its report)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    log_to_stderr()
    line = shlex.join([sys.executable, "src/ensemble.py", *argv])

    def body() -> int:
        print(combine(args.runs, output_dir=args.output_dir, mode=args.weights, command=line))
        return 0

    return exit_code(body)
