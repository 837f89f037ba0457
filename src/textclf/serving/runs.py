"""Run folders for serve.py and predict.py: the flags that name one, finding it and checking it.

Nothing here imports TensorFlow, which `load_predictor` starts only once the run folder
is known to be good: a bad flag or a wrong folder is reported at once, on one line.
"""

import argparse
from pathlib import Path

from textclf.config import RunConfig
from textclf.errors import InputError

RUN_FILES = ("model.keras", "config.json", "classes.json")  # what a finished run leaves for serving


def checked_run(run_dir: Path) -> Path:
    """`run_dir`, once it holds a finished run's model, config and classes."""
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: not a finished run folder (no {name})")
    return run_dir


def newest_run(output_dir: Path) -> Path:
    """The most recent run folder under `output_dir` that holds an exported model."""
    runs = sorted(p.parent for p in Path(output_dir).glob("run_*/model.keras"))
    if not runs:
        raise InputError(f"{output_dir}: no run folder with a model.keras; train one with src/server_main.py")
    return checked_run(runs[-1])


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, help="run folder (default: the newest under --output-dir)")
    parser.add_argument("--output-dir", type=Path, default=Path(RunConfig.output_dir),
                        help=f"where to look for the newest run (default: {RunConfig.output_dir})")


def load_predictor(args: argparse.Namespace):
    """The `Predictor` of `--run`, or of the newest run folder under `--output-dir`."""
    run_dir = checked_run(args.run) if args.run else newest_run(args.output_dir)
    from textclf.serving.predictor import Predictor  # TensorFlow starts here

    return Predictor(run_dir)
