"""Run folders for serve.py and predict.py: the flags that name one, finding it and checking it.

Nothing here imports TensorFlow, which `load_predictor` starts only once the run folder
is known to be good: a bad flag or a wrong folder is reported at once, on one line.
"""

import argparse
import re
from pathlib import Path

from textclf.config import RunConfig
from textclf.errors import InputError

RUN_FILES = ("model.keras", "config.json", "classes.json")  # what a finished run leaves for serving
# In a run folder from the end of its fit until its report is written (`training.trainer.fit`), and in an
# ensemble's while it is written (`ensemble.combine`): a folder holding it is not finished, whatever else it holds.
EVALUATION_PENDING = "evaluation_pending"


def checked_files(run_dir: Path) -> Path:
    """`run_dir`, once it holds a run's model, config and classes (a run evaluating itself has them already)."""
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: not a finished run folder (no {name})")
    return run_dir


def checked_run(run_dir: Path) -> Path:
    """`run_dir`, once it holds a finished run's model, config and classes, and no `EVALUATION_PENDING`."""
    checked_files(run_dir)
    if (run_dir / EVALUATION_PENDING).exists():
        raise InputError(f"{run_dir}: an unfinished run (it holds {EVALUATION_PENDING}: stopped before its report "
                         "was written); run its command again (command.txt) to finish it")
    return run_dir


def _finished(run_dir: Path) -> bool:
    return all((run_dir / name).is_file() for name in RUN_FILES) and not (run_dir / EVALUATION_PENDING).exists()


def newest_run(output_dir: Path) -> Path:
    """The most recent finished run folder under `output_dir`: `run_<stamp>` or, started within the same
    second, `run_<stamp>_<n>`, ordered by (stamp, n); a folder that a run still trains or was killed in is
    passed over."""
    started = {}
    for run_dir in Path(output_dir).glob("run_*"):
        if (name := re.fullmatch(r"run_(\d{8}_\d{6})(?:_(\d+))?", run_dir.name)) and _finished(run_dir):
            started[run_dir] = (name[1], int(name[2] or 1))
    if not started:
        raise InputError(f"{output_dir}: no finished run folder; train one with src/server_main.py")
    return max(started, key=started.get)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, help="run folder (default: the newest under --output-dir)")
    parser.add_argument("--output-dir", type=Path, default=Path(RunConfig.output_dir),
                        help=f"where to look for the newest run (default: {RunConfig.output_dir})")


def chosen_run(args: argparse.Namespace) -> Path:
    """`--run`, checked, or the newest finished run folder under `--output-dir`."""
    return checked_run(args.run) if args.run else newest_run(args.output_dir)


def load_predictor(run_dir: Path):
    """The `Predictor` of a run folder (`chosen_run`)."""
    from textclf.serving.predictor import Predictor  # TensorFlow starts here

    return Predictor(run_dir)
