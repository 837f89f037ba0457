"""The task matrix: expansion of flags and experiment files, failed cells, the leaderboard."""

import shlex
from pathlib import Path

import pandas as pd
import pytest
from test_server_main import ROOT, server_main

from textclf import matrix
from textclf.config import as_command, parse_args
from textclf.errors import InputError

WEIBO_CSV = ROOT / "tests" / "fixtures" / "weibo_tiny" / "weibo_senti_100k_test_split.csv"


def cell_names(argv):
    return [(c.dataset, c.model, c.seed) for c in matrix.cells(parse_args(argv))]


def test_one_run_is_not_a_matrix():
    assert not matrix.is_matrix(parse_args(["--dataset", "imdb"]))
    assert matrix.is_matrix(parse_args(["--seeds", "1"]))


def test_flags_expand_datasets_models_and_seeds():
    assert cell_names(["--dataset", "imdb,sst2", "--model", "lstm,gru", "--seeds", "0,42"]) == [
        ("imdb", "lstm", 0), ("imdb", "lstm", 42), ("imdb", "gru", 0), ("imdb", "gru", 42),
        ("sst2", "lstm", 0), ("sst2", "lstm", 42), ("sst2", "gru", 0), ("sst2", "gru", 42),
    ]


def test_experiment_file_sets_axes_and_config_and_flags_win(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("description: two models\nmatrix:\n  dataset: r8\n  model: [lstm, gru]\n  seed: [1, 2]\n"
                    "config:\n  epochs: 3\n  max_len: 99\n")
    configs = matrix.cells(parse_args(["--experiment", str(path), "--max-len", "7", "--seeds", "5"]))
    assert [(c.dataset, c.model, c.seed) for c in configs] == [("r8", "lstm", 5), ("r8", "gru", 5)]
    assert {(c.epochs, c.max_len) for c in configs} == {(3, 7)}


def test_per_model_settings_override_the_config_and_flags_win(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  model: [lstm, gru, text_cnn]\nconfig:\n  epochs: 3\n  max_len: 99\n"
                    "per_model:\n  lstm: {epochs: 1, max_len: 50}\n  gru: {epochs: 2}\n")
    configs = matrix.cells(parse_args(["--experiment", str(path), "--max-len", "7"]))
    assert [(c.model, c.epochs, c.max_len) for c in configs] == [("lstm", 1, 7), ("gru", 2, 7), ("text_cnn", 3, 7)]


def test_per_dataset_settings_give_each_dataset_its_teacher_under_per_model_and_flags(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  dataset: [sst2, imdb]\n  model: [gru, fasttext]\nconfig:\n  augment: 2\n"
                    "per_dataset:\n  sst2: {teacher: runs/a, epochs: 3}\n  imdb: {teacher: runs/b, epochs: 4}\n"
                    "per_model:\n  fasttext: {epochs: 9}\n")
    configs = matrix.cells(parse_args(["--experiment", str(path), "--augment", "1"]))
    assert [(c.dataset, c.model, c.teacher, c.epochs, c.augment) for c in configs] == [
        ("sst2", "gru", "runs/a", 3, 1), ("sst2", "fasttext", "runs/a", 9, 1),
        ("imdb", "gru", "runs/b", 4, 1), ("imdb", "fasttext", "runs/b", 9, 1)]
    path.write_text("matrix:\n  dataset: [sst2]\nper_dataset:\n  sst2: {augment: -1}\n")
    with pytest.raises(InputError, match="per_dataset sst2"):
        matrix.cells(parse_args(["--experiment", str(path)]))


def test_a_flag_given_at_its_default_still_wins_over_the_file(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  model: [lstm, gru]\nconfig:\n  batch_size: 32\n  tokenizer: char\n"
                    "per_model:\n  gru: {batch_size: 16}\n")
    configs = matrix.cells(parse_args(["--experiment", str(path), "--batch-size", "64", "--tokenizer", "auto"]))
    assert [(c.batch_size, c.tokenizer) for c in configs] == [(64, "auto"), (64, "auto")]


def test_model_args_merge_key_by_key_config_then_per_model_then_flags(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  model: [fasttext, text_cnn]\nconfig:\n  model_args: {dropout: 0.3, l2: 0.001}\n"
                    "per_model:\n  fasttext: {model_args: {embedding_dim: 50, dropout: 0.1}}\n")
    configs = matrix.cells(parse_args(["--experiment", str(path)]))
    assert [c.model_args for c in configs] == [{"dropout": 0.1, "l2": 0.001, "embedding_dim": 50},
                                               {"dropout": 0.3, "l2": 0.001}]
    configs = matrix.cells(parse_args(["--experiment", str(path), "--model-arg", "l2=0"]))
    assert [c.model_args for c in configs] == [{"dropout": 0.1, "l2": 0, "embedding_dim": 50},
                                               {"dropout": 0.3, "l2": 0}]


def test_model_args_from_flags_are_yaml_values_and_reproduced_by_as_command():
    command = parse_args(["--model", "text_cnn", "--model-arg", "kernel_sizes=[2, 3]", "--model-arg", "dropout=0.3",
                          "--model-arg", "filters=50", "--model-arg", "name=wide"])
    assert command.config.model_args == {"kernel_sizes": [2, 3], "dropout": 0.3, "filters": 50, "name": "wide"}
    assert parse_args(shlex.split(as_command(command.config))[2:]).config == command.config


@pytest.mark.parametrize("text, message", [
    ("matrix:\n  model: [lstm]\nper_model:\n  lstm: {epoch: 3}\n", "unknown keys ['epoch']"),
    ("matrix:\n  model: [lstm]\nper_model:\n  lstm: 3\n", "'per_model' must map names to settings"),
    ("matrix:\n  dataset: [r8]\n  optimizer: [sgd]\n", "unknown keys ['optimizer']"),
    ("matrix:\n  model: [lstm]\nconfig:\n  epoch: 3\n", "unknown keys ['epoch']"),
    ("config:\n  epochs: 3\n", "a 'matrix' section"),
    ("matrix: [\n", "not valid YAML"),
    ("matrix:\n  model: [lstm]\nconfig:\n  learning_rate: -1\n", "learning_rate: must be above 0"),
    ("matrix:\n  model: [lstm]\nper_model:\n  lstm: {epochs: -1}\n", "per_model lstm: epochs: must be at least 0"),
    ("matrix:\n  model: [lstm]\nconfig:\n  tokenizer: words\n", "tokenizer: 'words' is not one of auto, word"),
    ("matrix:\n  model: [lstm]\nconfig:\n  freeze_embeddings: 'yes'\n", "freeze_embeddings: 'yes' is not a valid"),
    ("matrix:\n  model: [lstm]\nconfig:\n  batch_size: null\n", "batch_size: None is not a valid value"),
    ("matrix:\n  model: [lstm]\nconfig:\n  model_args: 50\n", "model_args: expected a mapping of setting names"),
    ("matrix:\n  recipe: [lora]\nrecipes:\n  full: {}\n", "the matrix names recipe 'lora', which 'recipes' does not"),
    ("matrix:\n  recipe: [r]\nrecipes:\n  r: {objective: kl}\n", "recipes r: objective: 'kl' is not one of ce"),
    # An axis's values are checked as their flags check them.
    ("matrix:\n  seed: [abc]\n", "matrix: seed: expected a whole number, got 'abc'"),
    ("matrix:\n  seed: [-5]\n", "matrix: seed: must be at least 0, got -5"),
    ("matrix:\n  seed: [1.7]\n", "matrix: seed: expected a whole number, got '1.7'"),
    ("matrix:\n  seed: [true]\n", "matrix: seed: True is not a valid value"),
    ("matrix:\n  seed: [1, 2, 1]\n", "matrix: seed: 1 is given twice"),
    ("matrix:\n  model: [[fasttext, lstm]]\n", "matrix: model: ['fasttext', 'lstm'] is not a name"),
    ("matrix:\n  dataset: [5]\n", "matrix: dataset: 5 is not a name; list names as text"),
    ("matrix:\n  recipe: [[a]]\nrecipes:\n  a: {}\n", "matrix: recipe: ['a'] is not a name"),
])
def test_bad_experiment_files(tmp_path, text, message):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        matrix.cells(parse_args(["--experiment", str(path)]))


def test_recipes_are_an_axis_between_models_and_seeds_over_per_model_and_under_flags(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  model: [gru]\n  recipe: [plain, rdrop]\n  seed: [0, 1]\n"
                    "config: {epochs: 3, model_args: {units: 8}}\nper_model:\n  gru: {epochs: 4, learning_rate: 0.1}\n"
                    "recipes:\n  plain: {}\n  rdrop: {objective: rdrop, epochs: 5, model_args: {dropout: 0.1}}\n")
    configs = matrix.cells(parse_args(["--experiment", str(path), "--learning-rate", "0.2"]))
    assert [(c.recipe, c.seed) for c in configs] == [("plain", 0), ("plain", 1), ("rdrop", 0), ("rdrop", 1)]
    plain, rdrop = configs[0], configs[2]
    assert (plain.objective, plain.epochs, plain.model_args) == ("ce", 4, {"units": 8})
    assert (rdrop.objective, rdrop.epochs, rdrop.model_args) == ("rdrop", 5, {"units": 8, "dropout": 0.1})
    assert {c.learning_rate for c in configs} == {0.2}  # the flag wins
    assert "--recipe rdrop" in as_command(rdrop) and rdrop.fingerprint() != plain.fingerprint()


def test_experiment_settings_are_read_as_their_flags_read_them(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("matrix:\n  model: [lstm]\nconfig:\n  epochs: null\n  learning_rate: 0.01\n  max_len: '40'\n"
                    "  freeze_embeddings: true\n  warmup_ratio: 0.2\n")
    (config,) = matrix.cells(parse_args(["--experiment", str(path)]))
    assert (config.epochs, config.learning_rate, config.max_len, config.freeze_embeddings) == (None, 0.01, 40, True)


def test_as_command_reproduces_the_config():
    config = matrix.cells(parse_args(["--dataset", "r8,sst2", "--epochs", "3", "--seeds", "7"]))[1]
    assert parse_args(as_command(config).split()[2:]).config == config


def test_a_failing_cell_is_recorded_and_the_rest_runs(tmp_path):
    def run_one(config):
        if config.model == "broken":
            raise MemoryError("out of memory")
        path = tmp_path / f"{config.model}_{config.seed}.csv"
        accuracy = {"lstm": 0.8, "gru": 0.9}[config.model] + config.seed / 100
        pd.DataFrame([{"dataset": config.dataset, "model": config.model, "seed": config.seed,
                       "final_test_accuracy": accuracy, "report_macro_avg_f1-score": accuracy - 0.1,
                       "train_seconds": 10.0, "parameters": 5}]).to_csv(path, index=False)
        return path

    configs = matrix.cells(parse_args(["--model", "lstm,broken,gru", "--seeds", "1,3",
                                       "--output-dir", str(tmp_path / "out")]))
    out_dir, failed = matrix.run_matrix(configs, run_one, "the command")
    assert failed == 2 and out_dir.name.startswith("matrix_")
    board = pd.read_csv(out_dir / "leaderboard.csv").set_index("model")
    assert board.loc["gru", "accuracy_mean"] == pytest.approx(0.92)
    assert board.loc["gru", "accuracy_std"] == pytest.approx(pd.Series([0.91, 0.93]).std())
    assert board.loc["broken", "failed_seeds"] == 2 and "out of memory" in board.loc["broken", "errors"]
    assert (out_dir / "leaderboard.md").is_file() and (out_dir / "leaderboard.png").is_file()
    assert (out_dir / "command.txt").read_text() == "the command\n"


def test_an_existing_dataset_file_whose_name_holds_a_comma_is_one_cell(tmp_path):
    table = tmp_path / "a,b.csv"
    table.write_text(WEIBO_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    assert cell_names(["--dataset", str(table), "--model", "lstm"]) == [(str(table), "lstm", 42)]
    assert cell_names(["--dataset", f"imdb,{tmp_path / 'missing.csv'}"]) == [
        ("imdb", "stacked_lstm", 42), (str(tmp_path / "missing.csv"), "stacked_lstm", 42)]


def test_unknown_model_fails_before_any_run():
    with pytest.raises(InputError, match="unknown model 'nosuch'"):
        matrix.validate(matrix.cells(parse_args(["--model", "lstm,nosuch"])))


@pytest.mark.large
def test_matrix_end_to_end(tmp_path):
    """2 datasets (one missing) x 1 model x 2 seeds: the missing one fails, the others report."""
    out = tmp_path / "out"
    args = ("--dataset", f"{WEIBO_CSV},{tmp_path / 'missing.csv'}", "--model", "lstm", "--seeds", "1,2",
            "--epochs", "1", "--batch-size", "32", "--output-dir", str(out), "--cache-dir", str(tmp_path / "cache"))
    done = server_main(*args)
    assert done.returncode == 1, done.stderr[-2000:]
    out_dir = Path(done.stdout.strip())
    board = pd.read_csv(out_dir / "leaderboard.csv")
    assert len(list(out.glob("training_report_*.csv"))) == 2
    ok = board[board["failed_seeds"] == 0].iloc[0]
    assert ok["seeds"] == 2 and ok["accuracy_std"] >= 0
    failed = board[board["failed_seeds"] == 2].iloc[0]
    assert "no such file" in failed["errors"]
    # The same command again trains nothing: the finished cells reuse their reports, the failed ones fail again.
    again = server_main(*args)
    assert again.returncode == 1, again.stderr[-2000:]
    assert len(list(out.glob("training_report_*.csv"))) == 2 and "already finished" in again.stderr
    board_again = pd.read_csv(Path(again.stdout.strip()) / "leaderboard.csv")
    assert board_again["accuracy_mean"].equals(board["accuracy_mean"])  # NaN for the failed cell in both


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_are_valid(path):
    configs = matrix.cells(parse_args(["--experiment", str(path)]))
    matrix.validate(configs)
    assert configs and "Command: python src/server_main.py --experiment" in path.read_text()
