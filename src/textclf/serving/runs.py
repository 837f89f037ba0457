"""Run folders for serve.py and predict.py: the flags that name one, finding it and checking it.

Nothing here imports TensorFlow, which `load_predictor` starts only once the run folder
is known to be good: a bad flag or a wrong folder is reported at once, on one line.
"""

import argparse
from pathlib import Path

from textclf.config import RunConfig
from textclf.run_folders import checked_run, newest_run


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
