"""The task matrix: expands datasets x models x seeds into runs, runs them, writes a leaderboard.

This is the only module that knows about matrices; each run is an ordinary `run.run`
of one `RunConfig`. A matrix comes from comma-separated `--dataset`/`--model` and
`--seeds`, or from a file in experiments/ (see experiments/README.md):

    python src/server_main.py --dataset imdb,sst2 --model text_cnn,lstm --seeds 0,42,123
    python src/server_main.py --experiment experiments/imdb_table.yaml

An experiment may also name `recipes` (ways to train: LoRA, R-Drop, ...), a fourth axis between models and seeds.

A cell that fails (bad data, out of memory) is recorded with its error in the
leaderboard and the remaining cells still run.
"""

import dataclasses
import itertools
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml
from loguru import logger

from textclf.config import Command, RunConfig, checked_seeds, checked_setting, split_names
from textclf.errors import InputError
from textclf.models.registry import members

AXES = ("dataset", "model", "recipe", "seed")
# Settings by the name of a dataset, a model or a recipe, weakest first: a cell takes those of its dataset, then its
# model's, then its recipe's (a per_dataset --teacher, a per_model --max-len, a recipe's --lora-rank).
NAMED = ("per_dataset", "per_model", "recipes")
FILE_KEYS = {"description", "matrix", "config", *NAMED, "tune"}  # tune: --tune's ranges


def _named_settings(spec: dict, key: str, path: str) -> dict[str, dict]:
    """One of the file's `NAMED` sections: names -> settings."""
    named = spec.get(key) or {}
    if not isinstance(named, dict) or not all(isinstance(v, dict) for v in named.values()):
        raise InputError(f"{path}: '{key}' must map names to settings")
    return named


def read_experiment(path: str) -> tuple[dict, dict, dict[str, dict]]:
    """The (axes, fixed config, `NAMED` sections) of an experiment file, every setting checked as its flag checks it;
    unknown keys fail loudly."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such experiment file") from None
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("matrix"), dict):
        raise InputError(f"{path}: expected a mapping with a 'matrix' section")
    named = {key: _named_settings(spec, key, path) for key in NAMED}
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    settings = set(spec.get("config") or {}).union(*(s for section in named.values() for s in section.values()))
    unknown = (set(spec) - FILE_KEYS) | (set(spec["matrix"]) - set(AXES)) | (settings - fields)
    if unknown:
        raise InputError(f"{path}: unknown keys {sorted(unknown)}")
    axes = _checked_axes(spec["matrix"], path)
    if missing := [name for name in axes.get("recipe", []) if name not in named["recipes"]]:
        raise InputError(f"{path}: the matrix names recipe {missing[0]!r}, which 'recipes' does not define")
    fixed = {k: checked_setting(k, v, path) for k, v in (spec.get("config") or {}).items()}
    named = {key: {name: {k: checked_setting(k, v, f"{path}: {key} {name}") for k, v in settings.items()}
                   for name, settings in section.items()} for key, section in named.items()}
    return axes, fixed, named


def _checked_axes(matrix: dict, path: str) -> dict[str, list]:
    """The file's axes, each a list (a single value is one), checked as their flags check them: seeds as --seeds,
    names as strings (a YAML number or list is not a dataset, model or recipe name)."""
    axes = {axis: values if isinstance(values, list) else [values] for axis, values in matrix.items()}
    for axis, values in axes.items():
        if axis == "seed":
            axes[axis] = list(checked_seeds(values, f"{path}: matrix"))
        elif wrong := [value for value in values if not isinstance(value, str)]:
            raise InputError(f"{path}: matrix: {axis}: {wrong[0]!r} is not a name; list names as text (quoted, "
                             "where YAML would read a number)")
    return axes


def _layers(command: Command) -> tuple[dict, dict, dict[str, dict]]:
    """The matrix's axes and the experiment's `config` and `NAMED` sections (empty without a file)."""
    base = command.config
    axes = {"dataset": split_names(base.dataset), "model": split_names(base.model), "recipe": [base.recipe],
            "seed": list(command.seeds or [base.seed])}
    if not command.experiment:
        return axes, {}, dict.fromkeys(NAMED, {})
    file_axes, fixed, named = read_experiment(command.experiment)
    given = command.given | ({"seed"} if command.seeds else set())
    axes.update({axis: values for axis, values in file_axes.items() if axis not in given})
    return axes, fixed, named


def _cell(command: Command, fixed: dict, named: dict[str, dict], **axes) -> RunConfig:
    """The command's config with the experiment's settings for the cell (`fixed`, then its dataset's, model's and
    recipe's, in `NAMED`) and the cell's axes; flags win."""
    names = (axes["dataset"], axes["model"], axes["recipe"])
    layers = [fixed, *(named[key].get(name, {}) for key, name in zip(NAMED, names))]
    settings = {k: v for layer in layers for k, v in layer.items()}
    model_args = {k: v for layer in layers for k, v in layer.get("model_args", {}).items()} | command.config.model_args
    settings = {k: v for k, v in settings.items() if k not in command.given and k != "model_args"}
    return dataclasses.replace(command.config, **settings, **axes, model_args=model_args)


def cells(command: Command) -> list[RunConfig]:
    """Every run the command asks for, datasets outermost, seeds innermost.

    Settings come from, weakest first: the defaults, the experiment's `config`, its `per_dataset` entry for the
    cell's dataset, its `per_model` entry for the cell's model, its `recipes` entry for the cell's recipe, and the
    command line's flags. `model_args` merge key by key in the same order.
    """
    axes, fixed, named = _layers(command)
    return [_cell(command, fixed, named, dataset=d, model=m, recipe=r, seed=s)
            for d, m, r, s in itertools.product(*axes.values())]


def member_cells(command: Command, cell: RunConfig) -> list[RunConfig]:
    """The runs an ensemble cell (`--model a+b`) combines: each member as the cell of its own model, with the same
    dataset, recipe and seed (so a matrix that lists the member too trains it once)."""
    _, fixed, named = _layers(command)
    return [_cell(command, fixed, named, dataset=cell.dataset, model=m, recipe=cell.recipe, seed=cell.seed)
            for m in members(cell.model)]


def is_matrix(command: Command) -> bool:
    return bool(command.experiment or command.seeds) or len(cells(command)) > 1


def validate(configs: list[RunConfig]):
    """Fails before the first run on a dataset or model name that no run could use."""
    from textclf.data import registry as datasets
    from textclf.models import registry as models

    for config in configs:
        datasets.check_name(config.dataset)
        models.check_name(config.model)
        for name in split_names(config.eval_datasets or ""):
            datasets.check_name(name)
    for eval_datasets in {config.eval_datasets for config in configs if config.eval_datasets}:
        _check_report_names(split_names(eval_datasets))


def _check_report_names(eval_datasets: list[str]):
    """Fails on two `--eval-datasets` that would write the same report columns."""
    from textclf.data.run_data import set_name

    names = [set_name(name) for name in eval_datasets]
    if clash := sorted({name for name in names if names.count(name) > 1}):
        raise InputError(f"--eval-datasets: two of them would both be reported as eval_{clash[0]}_*; "
                         "rename one of the files")


def run_matrix(configs: list[RunConfig], run_one: Callable[[RunConfig], Path], command: str,
               folder: Path | None = None) -> tuple[Path, int]:
    """Runs every config with `run_one` (which returns its report's path).

    Returns the matrix folder (leaderboard, matrix.log, command.txt), made in `folder` (default: the first config's
    output folder), and the number of failed runs.
    """
    from textclf.reporting.leaderboard import write_leaderboard  # matplotlib and sklearn: 2 s the checks skip
    from textclf.run_folders import reserve_run_dir

    out_dir = reserve_run_dir(folder or Path(configs[0].output_dir), prefix="matrix")
    (out_dir / "command.txt").write_text(command + "\n", encoding="utf-8")
    sink = logger.add(out_dir / "matrix.log")
    rows, failures = [], []
    for number, config in enumerate(configs, start=1):
        name = " / ".join([config.dataset, config.model, *([config.recipe] if config.recipe else []),
                           f"seed {config.seed}"])
        logger.info(f"matrix cell {number}/{len(configs)}: {name}")
        try:
            rows.append(pd.read_csv(run_one(config)).iloc[0].to_dict())
        except Exception as err:  # noqa: BLE001 - a failed cell is recorded and the matrix goes on
            logger.error(f"matrix cell {name} failed: {type(err).__name__}: {err}")
            logger.debug(traceback.format_exc())
            failures.append({"dataset": config.dataset, "model": config.model, "recipe": config.recipe,
                             "seed": config.seed, "error": f"{type(err).__name__}: {err}"})
    write_leaderboard(rows, failures, out_dir)
    logger.info(f"{len(rows)} of {len(configs)} runs finished; leaderboard in {out_dir}")
    logger.remove(sink)
    return out_dir, len(failures)
