"""The search: KerasTuner's oracle chooses each trial's settings; a trial is a run of its own (`run.run` with
`trial=True`: scored on validation, the test split never read) in `tune_<stamp>/trial_<id>/`; then the best settings
train over the seeds in the same folder, as the cells of a matrix whose leaderboard is `<output-dir>/matrix_<stamp>/`
(one for every search of the command: each dataset, model and recipe of a matrix is searched on its own).

    tune_<stamp>/search.json        what is searched (a second run of the same command finds the folder and resumes)
    tune_<stamp>/search/            KerasTuner's state: the oracle and each trial's settings and score
    tune_<stamp>/trial_<id>/        the trial's run folder and report (validation columns only)
    tune_<stamp>/trials.csv         one row per trial: its settings, score, epochs, seconds, run folder
    tune_<stamp>/best.yaml          an experiment file that trains the best settings over the seeds
    tune_<stamp>/trials.png         the score of each trial, and the best so far
    tune_<stamp>/run_*              the best settings' runs (recipe `tuned`), one per seed

A killed search run again resumes: KerasTuner reloads its state, finished trials are kept, and the trial that was
running starts again with the same settings, its run folder resuming from its last finished epoch.

A random or Bayesian search's first trial is the run's own settings (when the space holds them), and the best trial
replaces them only when it scores above them by more than validation's noise: one standard error of its validation
accuracy (`chosen`). A search over a small validation split otherwise picks the luckiest trial: on SST-2's 872 dev
sentences and IMDB's 2,491 validation reviews the best trials scored 0.2-0.5 points above the defaults on
validation and 0.5 points below them on test (docs/benchmarks/issue-33-tuning.md).
"""

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import threading
from pathlib import Path

import keras_tuner
import pandas as pd
import yaml
from loguru import logger

from textclf import families, matrix, run, run_folders
from textclf.config import MONITORS, Command, RunConfig, as_command
from textclf.errors import InputError
from textclf.reporting import plots
from textclf.training import devices
from textclf.tuning import MODEL_ARGS, Dimension, apply, dimensions, own_values, parallel, read_space


class OwnFirst:
    """An oracle whose first trial is `own`, the run's own settings (None: the oracle's own choice)."""

    own: dict | None = None

    def populate_space(self, trial_id):
        if self.own is not None and not self.trials:
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": dict(self.own)}
        return super().populate_space(trial_id)


class RandomSearch(OwnFirst, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOptimization(OwnFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


# Hyperband's brackets decide each trial's epochs: its first trial is its own.
ORACLES = {"random": RandomSearch, "bayesian": BayesianOptimization, "hyperband": keras_tuner.oracles.HyperbandOracle}
HYPERBAND = "tuner/"  # the settings Hyperband adds to each trial: its epochs and its bracket
TUNED = "tuned"  # the recipe of the best settings' runs: the leaderboard shows it beside the model
keras_tuner.src.config.DEBUG = False  # a failed trial's traceback on stderr: run_trial logs its error in a line


def hyperparameters(found: list[Dimension]) -> keras_tuner.HyperParameters:
    """The search space as KerasTuner declares it."""
    space = keras_tuner.HyperParameters()
    for dimension in found:
        if dimension.kind == "choice":
            space.Choice(dimension.name, list(dimension.values))
        elif dimension.kind == "float":
            space.Float(dimension.name, dimension.low, dimension.high, step=dimension.step,
                        sampling="log" if dimension.log else "linear")
        else:
            space.Int(dimension.name, dimension.low, dimension.high, step=dimension.step or 1)
    return space


def objective(config: RunConfig) -> keras_tuner.Objective:
    """The report column a trial is scored by: the validation metric that picks its best epoch (--monitor)."""
    return keras_tuner.Objective(f"best_{config.monitor}", MONITORS[config.monitor])


class Trials(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs each trial the oracle creates as a run of `base` with the trial's settings."""

    def __init__(self, oracle, folder: Path, base: RunConfig, strategy, on_gpu: bool):
        oracle.verbose = 0  # its tables on stdout: the log says what each trial is and scores
        with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ...": _folder logs the resume
            super().__init__(oracle, directory=str(folder), project_name="search")
        self.folder, self.base, self.strategy, self.on_gpu = folder, base, strategy, on_gpu

    def trial_config(self, trial) -> RunConfig:
        values = trial.hyperparameters.values
        config = apply(self.base, {name: round(value, 12) if isinstance(value, float) else value  # 0.1 * 3, not
                                   for name, value in values.items() if not name.startswith(HYPERBAND)})  # 0.300...04
        if "tuner/epochs" in values:
            config = dataclasses.replace(config, epochs=values["tuner/epochs"])
        return dataclasses.replace(config, output_dir=str(self.folder / f"trial_{trial.trial_id}"))

    def run_trial(self, trial, *args, **kwargs) -> dict:
        config = self.trial_config(trial)
        logger.info(f"trial {trial.trial_id}: {_settings_text(trial.hyperparameters.values)}")
        try:
            path = run.run(config, as_command(config), self.strategy, self.on_gpu, reuse_finished=True, trial=True)
        except Exception as err:  # noqa: BLE001 - a trial that fails is recorded and the search goes on
            logger.error(f"trial {trial.trial_id} failed: {type(err).__name__}: {err}")
            raise keras_tuner.errors.FailedTrialError(f"{type(err).__name__}: {err}") from err
        name = self.oracle.objective.name
        score = float(pd.read_csv(path).iloc[0][name])
        logger.info(f"trial {trial.trial_id}: {name} {score:.4f}")
        return {name: score}


def _settings_text(values: dict) -> str:
    return ", ".join(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in values.items() if not name.startswith(HYPERBAND))


def _fingerprint(search: "Search", command: Command) -> str:
    decisive = {"config": search.base.fingerprint(), "space": [list(d) for d in search.found], "tuner": command.tuner,
                "trials": command.tune}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _existing(output_dir: Path, fingerprint: str) -> Path | None:
    """The folder an earlier run of the same search made, if any."""
    for marker in sorted(output_dir.glob("tune_*/search.json")):
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
                return marker.parent
        except (OSError, ValueError):
            continue
    return None


def _folder(output_dir: Path, fingerprint: str, line: str) -> Path:
    """The search's folder: the one an earlier run of the same search made, or a new `tune_<stamp>`."""
    if folder := _existing(output_dir, fingerprint):
        logger.info(f"resuming the search in {folder}")
        return folder
    folder = run_folders.reserve_run_dir(output_dir, prefix="tune")
    (folder / "search.json").write_text(json.dumps({"fingerprint": fingerprint, "command": line}, indent=2))
    return folder


def oracle(command: Command, search: "Search"):
    """The KerasTuner oracle of `--tuner` over the search's space, scored by `objective`, at most `--tune` trials."""
    config = search.resolved
    common = {"objective": objective(config), "hyperparameters": hyperparameters(search.found),
              "allow_new_entries": False, "tune_new_entries": False, "seed": config.seed}
    if command.tuner == "hyperband":
        made = ORACLES["hyperband"](max_epochs=config.epochs, **common)  # the longest trial: the run's epochs
        made.max_trials = command.tune  # Hyperband's brackets decide how many trials; --tune caps them
        return made
    made = ORACLES[command.tuner](max_trials=command.tune, **common)
    made.own = search.own
    return made


def _report(folder: Path) -> pd.Series | None:
    """A trial's one report, or None (a failed trial's run wrote none; a killed trial's run resumed in its folder)."""
    reports = sorted(folder.glob("training_report_*.csv"))
    return pd.read_csv(reports[-1]).iloc[0] if reports else None


def own_trial(tuner: Trials, own: dict | None):
    """The trial of the run's own settings: the search's first, when it ran them (not a Hyperband search's, nor one
    begun before first trials were the run's own) and finished."""
    if own is None or not tuner.oracle.start_order:
        return None
    first = tuner.oracle.trials[tuner.oracle.start_order[0]]
    ran_own = all(first.hyperparameters.values.get(name) == value for name, value in own.items())
    return first if ran_own and first.status == "COMPLETED" and first.score is not None else None


def chosen(best, own, monitor: str, val_rows: int) -> tuple[object, str]:
    """The trial whose settings train over the seeds, and why: `best`, unless the run's own settings (`own`, a
    trial or None) score within one standard error of it: sqrt(p (1 - p) / rows), p the two validation accuracies'
    mean (the best's alone is 1 on a tiny split, with no error). With --monitor val_loss, `best`: a loss has no
    standard error without each text's loss."""
    if own is None or own is best or monitor != "val_accuracy":
        return best, f"the best is trial {best.trial_id}, {monitor} {best.score:.4f}"
    mean = (best.score + own.score) / 2
    noise = math.sqrt(mean * (1 - mean) / max(val_rows, 1))
    if best.score - own.score > noise:
        return best, (f"the best is trial {best.trial_id}, {monitor} {best.score:.4f}, above the run's own settings' "
                      f"{own.score:.4f} (trial {own.trial_id}) by more than one standard error ({noise:.4f})")
    return own, (f"the best trial, {best.trial_id} ({best.score:.4f}), is within one standard error ({noise:.4f}) of "
                 f"the run's own settings' {own.score:.4f} (trial {own.trial_id}): they are kept")


def trials_table(tuner: Trials, chosen_id: str) -> pd.DataFrame:
    """One row per trial: its id, status, settings, score, whether it is the `chosen` one and, from its report,
    epochs, seconds and run folder."""
    rows = []
    name = tuner.oracle.objective.name
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        config = tuner.trial_config(trial)
        values = {key: getattr(config, key) if hasattr(config, key) else config.model_args[key.removeprefix(
            MODEL_ARGS)] for key in trial.hyperparameters.values if not key.startswith(HYPERBAND)}
        row = {"trial": trial_id, "status": trial.status, **values, name: trial.score, "chosen": trial_id == chosen_id}
        if (done := _report(Path(config.output_dir))) is not None:
            row.update(epochs_run=done["epochs_run"], train_seconds=done["train_seconds"], run_dir=done["run_dir"])
        rows.append(row)
    return pd.DataFrame(rows)


def best_experiment(best: RunConfig, seeds: tuple[int, ...], description: str) -> dict:
    """An experiment file (experiments/README.md) that trains `best` over `seeds` as its recipe, written wherever it
    is run."""
    default = RunConfig()
    settings = {field.name: getattr(best, field.name) for field in dataclasses.fields(best)
                if field.name not in ("dataset", "model", "seed", "recipe", "output_dir", "cache_dir")
                and getattr(best, field.name) != getattr(default, field.name)}
    return {"description": description, "matrix": {"dataset": [best.dataset], "model": [best.model],
                                                   "recipe": [best.recipe], "seed": list(seeds)},
            "recipes": {best.recipe: settings}}


@dataclasses.dataclass(frozen=True)
class Search:
    """One model on one dataset (and recipe) to search: its trials run `base` (at the first of its seeds) with the
    settings of `found`; its best trains over `seeds`."""

    base: RunConfig
    seeds: tuple[int, ...]
    resolved: RunConfig  # base with its defaults: what `times` multiplies, and Hyperband's longest trial
    found: list[Dimension]
    own: dict | None  # the run's own value of each setting searched, when the space holds them all


def experiment_space(path: str | None) -> dict:
    """An experiment file's `tune:` section: ranges as --tune-space gives them (the file is read and checked as an
    experiment already)."""
    if not path:
        return {}
    section = yaml.safe_load(Path(path).read_text(encoding="utf-8")).get("tune") or {}
    if not isinstance(section, dict):
        raise InputError(f"{path}: tune: expected a mapping of settings to ranges")
    return section


def searches(command: Command) -> list[Search]:
    """The searches of the command: one per dataset, model and recipe of its matrix, each space checked."""
    groups: dict[tuple, list[RunConfig]] = {}
    for config in matrix.cells(command):
        groups.setdefault((config.dataset, config.model, config.recipe), []).append(config)
    given = {**experiment_space(command.experiment), **(read_space(command.tune_space) if command.tune_space else {})}
    source = command.tune_space or command.experiment or "the default search space"
    found, unused = [], {name for name, spec in given.items() if name.startswith(MODEL_ARGS) and spec is not None}
    for cells in groups.values():
        base, resolved = cells[0], run.resolved(cells[0])
        settings = families.family(families.family_of(base.model)).model_settings(resolved)
        if len(groups) > 1:  # a model's own range goes to the models of the matrix that have the setting
            unused -= {MODEL_ARGS + name for name in settings}
            mine = {name: spec for name, spec in given.items()
                    if not name.startswith(MODEL_ARGS) or name.removeprefix(MODEL_ARGS) in settings}
        dims = dimensions(base, resolved, mine if len(groups) > 1 else given, source, settings, run.check)
        if not dims:
            raise InputError(f"nothing to search for --model {base.model}: its search space is empty")
        if command.tuner == "hyperband" and any(d.name == "epochs" for d in dims):
            raise InputError("--tuner hyperband decides each trial's epochs: leave epochs out of the search space")
        found.append(Search(base, tuple(config.seed for config in cells), resolved, dims,
                            own_values(dims, resolved, settings)))
    if len(groups) > 1 and unused:
        raise InputError(f"{source}: {sorted(unused)[0]}: no model of the matrix has the setting "
                         f"{sorted(unused)[0].removeprefix(MODEL_ARGS)!r}")
    return found


def _search(tuner: Trials, command: Command, line: str) -> None:
    """Runs the trials here, or in `--tune-parallel` worker processes; stops starting trials after --tune-budget."""
    budget = None
    if command.tune_budget:  # the oracle answers STOPPED once it holds max_trials (0 would mean no limit)
        budget = threading.Timer(60 * command.tune_budget, lambda: setattr(tuner.oracle, "max_trials",
                                                                          max(1, len(tuner.oracle.trials))))
        budget.daemon = True
        budget.start()
    try:
        if parallel.role() == "chief":  # a chief pod: its workers are pods of their own
            tuner.save()  # as KerasTuner's chief does: a search run again reloads the oracle from it
            parallel.serve_pods(tuner.oracle)
        elif command.tune_parallel > 1:
            tuner.save()
            parallel.search(tuner.oracle, command.tune_parallel, line, tuner.folder)
        else:
            tuner.search()
    except RuntimeError as err:  # KerasTuner's: too many trials in a row failed; the last one's traceback follows
        lines = [line for line in str(err).splitlines() if line.strip()]
        last = lines[-1].removeprefix(f"{keras_tuner.errors.FailedTrialError.__module__}.FailedTrialError: ")
        raise InputError(f"the search stopped: {lines[0].rstrip('.')}, the last with {last} "
                         f"({tuner.folder / 'search.log'} says why each failed)") from None
    finally:
        if budget:
            budget.cancel()


def tune(command: Command, line: str) -> Path:
    """Runs each search of the command (`searches`), then trains each best over its seeds as the cells of one
    matrix; returns the matrix's folder (its leaderboard). In a `--tune-parallel` worker process, runs the trials
    of its chief's search until the oracle has none left, and returns the search's folder."""
    found = searches(command)
    base = command.config
    if devices.resolve_strategy(base.strategy) == "multi_worker":
        raise InputError("--tune runs each trial in one process (--tune-parallel runs several at once), not as a "
                         "multi-worker job: leave out --strategy multi_worker and TF_CONFIG")
    strategy, on_gpu = devices.setup_strategy(base.devices, base.strategy)  # once every search is known to be good
    if parallel.role() == "worker":
        return _work(found, command, strategy, on_gpu)
    best = [_best(search, command, line, strategy, on_gpu) for search in found]
    out_dir, failed = matrix.run_matrix([config for configs in best for config in configs], lambda config: run.run(
        config, as_command(config), strategy, on_gpu, reuse_finished=True), line, folder=Path(base.output_dir))
    if failed:
        raise InputError(f"{failed} of the best settings' runs failed; {out_dir} names them")
    return out_dir


def _work(found: list[Search], command: Command, strategy, on_gpu: bool) -> Path:
    """A worker's part: the trials its chief's oracle gives it, search after search; returns the last folder."""
    chosen = parallel.worker_folder()  # a worker process of this machine's chief: one search, its folder given
    folder = chosen
    for search in found:
        fingerprint = _fingerprint(search, command)
        if chosen and json.loads((chosen / "search.json").read_text(encoding="utf-8"))["fingerprint"] != fingerprint:
            continue
        folder = chosen or parallel.pod_folder(lambda f: _existing(Path(search.base.output_dir), f), fingerprint)
        sink = logger.add(folder / f"{parallel.worker_name()}.log")
        try:
            Trials(oracle(command, search), folder, search.base, strategy, on_gpu).search()
        finally:
            logger.remove(sink)
    return folder


def _best(search: Search, command: Command, line: str, strategy, on_gpu: bool) -> list[RunConfig]:
    """Runs `search` in its folder, writes trials.csv, trials.png and best.yaml, and returns the best settings'
    runs, one per seed, in the same folder."""
    base = search.base
    folder = _folder(Path(base.output_dir), _fingerprint(search, command), line)
    sink = logger.add(folder / "search.log")
    try:
        tuner = Trials(oracle(command, search), folder, base, strategy, on_gpu)
        _search(tuner, command, line)
        name = tuner.oracle.objective.name
        best_trials = tuner.oracle.get_best_trials(1)
        if not best_trials:
            raise InputError(f"every trial failed; {folder / 'search.log'} says why")
        best_report = _report(folder / f"trial_{best_trials[0].trial_id}")
        trial, why = chosen(best_trials[0], own_trial(tuner, search.own), base.monitor,
                            0 if best_report is None else int(best_report["val_size"]))
        table = trials_table(tuner, trial.trial_id)
        table.to_csv(folder / "trials.csv", index=False)
        plots.trials_png(table, name, tuner.oracle.objective.direction, folder / "trials.png",
                         f"{base.model} on {base.dataset}: {command.tuner} search")
        best = dataclasses.replace(tuner.trial_config(trial), output_dir=str(folder),
                                   recipe=f"{base.recipe}_{TUNED}" if base.recipe else TUNED)
        experiment = best_experiment(best, search.seeds, f"Of {len(table)} trials ({command.tuner} search) of "
                                     f"{base.model} on {base.dataset} by {name}, {why}; made by: {line}")
        (folder / "best.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False, allow_unicode=True))
        logger.info(f"{folder.name}: {why}; trial {trial.trial_id}'s settings train over seeds "
                    f"{', '.join(map(str, search.seeds))}")
    finally:
        logger.remove(sink)
    return [dataclasses.replace(best, seed=seed) for seed in search.seeds]
