"""--tune: trials as runs scored on validation (the test split never touched), trials.csv, best.yaml and the best
settings' runs, a killed search resumed without repeating a trial, and one error line for a bad search."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from searching import FASTTEXT, IMDB, ROOT, main, tune_folder

from textclf import run
from textclf.config import RunConfig


@pytest.mark.large
def test_a_random_search_scores_trials_on_validation_and_trains_the_best_over_the_seeds(tmp_path, calls, capsys):
    assert main(*IMDB, *FASTTEXT, "--epochs", "2", "--tune", "3", "--seeds", "0,42",
                 "--output-dir", tmp_path) == 0
    folder = tune_folder(tmp_path)
    (leaderboard_folder,) = tmp_path.glob("matrix_*")
    assert capsys.readouterr().out.strip() == str(leaderboard_folder)
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2] and (trials["status"] == "COMPLETED").all()
    assert {"learning_rate", "max_len", "vocab_size", "model_args.embedding_dim", "model_args.dropout",
            "best_val_accuracy", "epochs_run", "train_seconds", "run_dir"} <= set(trials.columns)
    assert trials[["learning_rate", "max_len", "vocab_size"]].drop_duplicates().shape[0] == 3  # three settings
    assert calls == [("trial_0", True), ("trial_1", True), ("trial_2", True), (folder.name, False),
                     (folder.name, False)]
    for row in trials.itertuples():  # each trial's report: validation, no test column, test unread
        report = pd.read_csv(next(Path(row.run_dir).parent.glob("training_report_*.csv"))).iloc[0]
        assert report["best_val_accuracy"] == row.best_val_accuracy and report["test_size"] == 0
        assert not [column for column in report.index if column.startswith(("final_test", "report_"))]
        assert not {"best.weights.h5", "model.keras", "saved_model"} & {p.name for p in Path(row.run_dir).iterdir()}
    assert (folder / "trials.png").stat().st_size > 0

    leaderboard = pd.read_csv(leaderboard_folder / "leaderboard.csv")
    assert list(leaderboard["model"]) == ["fasttext / tuned"] and leaderboard["seeds"].iloc[0] == 2
    finals = [pd.read_csv(path).iloc[0] for path in sorted(folder.glob("training_report_*.csv"))]
    assert sorted(report["seed"] for report in finals) == [0, 42] and all(r["config_recipe"] == "tuned" for r in finals)
    # The first trial is the run's own settings; the chosen one (search.chosen) trains over the seeds.
    own = run.resolved(RunConfig(dataset="imdb", model="fasttext", epochs=2))
    assert trials.iloc[0][["learning_rate", "max_len", "vocab_size"]].tolist() == [own.learning_rate, own.max_len,
                                                                                   own.vocab_size]
    assert trials["chosen"].sum() == 1
    best = trials.loc[trials["chosen"]].iloc[0]
    best_report = pd.read_csv(next(Path(best["run_dir"]).parent.glob("training_report_*.csv"))).iloc[0]
    same_seed = next(report for report in finals if report["seed"] == 0)  # the trials': the first of --seeds
    # the best settings trained again: the same validation loss as their trial (before calibration)
    assert same_seed["uncalibrated_val_loss"] == pytest.approx(best_report["best_val_loss"], abs=1e-6)

    experiment = yaml.safe_load((folder / "best.yaml").read_text())
    assert experiment["matrix"] == {"dataset": ["imdb"], "model": ["fasttext"], "recipe": ["tuned"], "seed": [0, 42]}
    calls.clear()  # best.yaml, run as any experiment, trains the best trial's settings again: the same score
    assert main("--experiment", folder / "best.yaml", "--seeds", "0", "--output-dir", tmp_path / "again") == 0
    again = pd.read_csv(next((tmp_path / "again").glob("training_report_*.csv"))).iloc[0]
    assert again["uncalibrated_val_loss"] == pytest.approx(best_report["best_val_loss"], abs=1e-6)
    assert again["fingerprint"] == same_seed["fingerprint"] and calls == [("again", False)]


@pytest.mark.large
def test_a_killed_search_resumes_without_repeating_a_finished_trial(tmp_path, calls, monkeypatch):
    args = [*IMDB, *FASTTEXT, "--epochs", "1", "--tune", "3", "--output-dir", tmp_path]
    real = run.run

    def killed_at_the_third(config, *rest, **kwargs):
        if Path(config.output_dir).name == "trial_2":
            raise KeyboardInterrupt
        return real(config, *rest, **kwargs)

    monkeypatch.setattr(run, "run", killed_at_the_third)
    assert main(*args) == 130
    assert [name for name, _ in calls] == ["trial_0", "trial_1"]
    monkeypatch.setattr(run, "run", real)
    calls.clear()
    assert main(*args) == 0
    folder = tune_folder(tmp_path)
    assert calls == [("trial_2", True), (folder.name, False)]  # trials 0 and 1 are not run again
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2] and (trials["status"] == "COMPLETED").all()
    assert all(len(list((folder / f"trial_{n}").glob("run_*"))) == 1 for n in range(3))


@pytest.mark.large
@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_searches(tmp_path, tuner):
    assert main(*IMDB, "--model", "nbsvm", "--epochs", "2", "--tune", "2", "--tuner", tuner,
                 "--output-dir", tmp_path) == 0
    trials = pd.read_csv(tune_folder(tmp_path) / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "COMPLETED").all() and "model_args.ngrams" in trials
    if tuner == "hyperband":  # Hyperband gives each trial its epochs, at most --epochs
        assert trials["epochs_run"].max() <= 2


def _refused(capsys, tmp_path, *args) -> str:
    """The one line server_main writes for a refused command, which leaves the output folder empty."""
    code = main(*IMDB, *args, "--output-dir", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    return err


@pytest.mark.parametrize("space, message", [
    ({"nosuch": {"choice": [1]}}, "nosuch: not a setting"),
    ({"model_args.kernel_size": {"choice": [3]}}, "model fasttext has no setting 'kernel_size'"),
    ({"seed": {"choice": [1, 2]}}, "seed: a search does not move it"),
    ({"learning_rate": {"float": [0.1]}}, "learning_rate: float takes [low, high]"),
    ({"learning_rate": {"float": [0.1, 0.01]}}, "low 0.1 must be below high 0.01"),
    ({"learning_rate": {"float": [-1, 0.01]}}, "learning_rate: must be above 0"),
    ({"max_len": {"int": [1, 8], "log": True}}, "int takes no log"),
    ({"batch_size": {"choice": ["big"]}}, "expected a whole number, got 'big'"),
    ({"model_args.dropout": {"choice": ["high"]}}, "is not like its default 0.2"),
    ({"learning_rate": [0.1, 0.2]}, "expected one of choice, float, int, times"),
    ({"model_args.dropout": {"choice": [0.1, "x"]}}, "choice takes values of one kind"),
    ({"model_args.dropout": {"float": [0.1, 0.5], "step": -1}}, "step must be a number above 0"),
    ({"max_len": {"int": [8, 64], "step": 0.5}}, "step must be a whole number above 0"),
    ({"learning_rate": {"float": [0, 0.1], "log": True}}, "a low above 0"),
    ({"learning_rate": {"float": [0.001, 0.1], "log": "yes"}}, "log takes true or false"),
    ("just text", "expected a mapping of settings to ranges"),
])
def test_a_bad_search_space_is_one_line_and_writes_nothing(tmp_path, capsys, space, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    assert message in _refused(capsys, tmp_path, "--model", "fasttext", "--tune", "2", "--tune-space", path)


@pytest.mark.parametrize("args, message", [
    (["--model", "fasttext", "--tuner", "bayesian"], "--tune-parallel and --tune-budget go with --tune"),
    (["--model", "fasttext", "--tune-budget", "5"], "go with --tune"),
    (["--model", "fasttext", "--tune", "2", "--tune-parallel", "2", "--devices", "2"], "takes neither --devices"),
    (["--model", "fasttext", "--tune", "2", "--tune-budget", "0"], "must be above 0"),
    (["--model", "fasttext", "--tune", "2", "--strategy", "multi_worker"], "not as a multi-worker job"),
    (["--model", "fasttext", "--tune", "0"], "must be at least 1"),
    (["--model", "fasttext,gru", "--tune", "2", "--tune-space", "UNITS"], "no model of the matrix has the setting"),
    (["--model", "fasttext+nbsvm", "--tune", "2"], "tune each member of fasttext+nbsvm on its own"),
    (["--model", "fasttext", "--tune", "2", "--tune-space", "no/such.yaml"], "--tune-space no/such.yaml: cannot be"),
    (["--model", "fasttext", "--tune", "2", "--tuner", "hyperband", "--tune-space", "EPOCHS"],
     "leave epochs out of the search space"),
])
def test_bad_tune_flags_are_one_line(tmp_path, capsys, args, message):
    spaces = {"EPOCHS": "epochs: {int: [1, 3]}\n", "UNITS": "model_args.kernel_size: {choice: [3]}\n"}
    for name, text in spaces.items():
        (tmp_path / name).write_text(text)
    try:
        err = _refused(capsys, tmp_path, *[tmp_path / arg if arg in spaces else arg for arg in args])
    except SystemExit as done:  # argparse's own refusals
        err = capsys.readouterr().err
        assert done.code == 2 and len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.large
def test_a_matrix_is_searched_model_by_model_with_the_experiments_tune_section(tmp_path, calls):
    experiment = tmp_path / "both.yaml"
    experiment.write_text(yaml.safe_dump({
        "matrix": {"dataset": ["imdb"], "model": ["fasttext", "nbsvm"], "seed": [0, 1]},
        "config": {"data_dir": str(ROOT / "tests" / "fixtures" / "imdb_tiny"), "epochs": 1},
        "tune": {"model_args.ngrams": {"choice": [1, 2]}, "learning_rate": {"choice": [0.001, 0.01]},
                 "vocab_size": None, "max_len": None, "model_args.embedding_dim": None, "model_args.units": None}}))
    assert main("--experiment", experiment, "--tune", "2", "--output-dir", tmp_path / "out") == 0
    folders = sorted((tmp_path / "out").glob("tune_*"))
    spaces = [set(pd.read_csv(folder / "trials.csv").columns) for folder in folders]
    assert len(folders) == 2 and "model_args.ngrams" in spaces[1] and "model_args.ngrams" not in spaces[0]
    assert all({"learning_rate"} <= space and not {"vocab_size", "max_len"} & space for space in spaces)
    leaderboard = pd.read_csv(next((tmp_path / "out").glob("matrix_*/leaderboard.csv")))
    assert sorted(leaderboard["model"]) == ["fasttext / tuned", "nbsvm / tuned"] and (leaderboard["seeds"] == 2).all()
    assert [trial for _, trial in calls].count(True) == 4 and [trial for _, trial in calls].count(False) == 4


def test_a_search_whose_trials_all_fail_stops_with_one_line(tmp_path, capsys):
    assert main(*IMDB, "--model", "fasttext", "--max-samples", "1", "--tune", "5", "--output-dir", tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error: ") == 1
    assert "error: the search stopped: Number of consecutive failures exceeded the limit of 3, the last with " \
           "InputError: --max-samples 1: too few" in err
    assert (tune_folder(tmp_path) / "search.log").read_text().count("failed: InputError: --max-samples 1") == 3


def test_the_runs_own_settings_are_kept_unless_the_best_beats_them_by_more_than_a_standard_error():
    from collections import namedtuple

    from textclf.tuning import search

    trial = namedtuple("Trial", "trial_id score")
    own = trial("00", 0.8417)  # SST-2's gru on its 872 dev sentences, and its search's best trial
    kept, why = search.chosen(trial("10", 0.8463), own, "val_accuracy", 872)
    assert kept is own and "within one standard error (0.0123)" in why
    assert search.chosen(trial("3", 1.0), trial("0", 0.5), "val_accuracy", 4)[0].trial_id == "3"  # 2 of 4 reviews
    better = trial("11", 0.8600)
    assert search.chosen(better, own, "val_accuracy", 872)[0] is better  # 1.8 points: above the noise
    assert search.chosen(better, own, "val_accuracy", 100_000)[0] is better
    assert search.chosen(trial("10", 0.8463), own, "val_accuracy", 100_000)[0].trial_id == "10"  # a large split
    assert search.chosen(better, own, "val_loss", 872)[0] is better  # a loss has no standard error here
    assert search.chosen(better, None, "val_accuracy", 872)[0] is better  # the space did not hold the run's own
