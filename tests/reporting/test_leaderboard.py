import statistics

import pandas as pd
import pytest

from textclf.reporting.leaderboard import write_leaderboard

# (dataset, model) -> test accuracy and macro-F1 of seeds 1 and 2
MATRIX = {
    ("imdb", "lstm"): ([0.86, 0.88], [0.85, 0.86]),
    ("imdb", "stacked_lstm"): ([0.91, 0.85], [0.89, 0.80]),
    ("weibo", "lstm"): ([0.95, 0.96], [0.94, 0.97]),
    ("weibo", "stacked_lstm"): ([0.97, 0.97], [0.96, 0.96]),
}


def matrix_rows() -> list[dict]:
    return [
        {"dataset": d, "model": m, "seed": seed, "final_test_accuracy": acc[i], "report_macro_avg_f1-score": f1[i],
         "train_seconds": 10.0 * seed, "train_samples_per_second": 50.0 * seed,
         "parameters": 1000 if m == "lstm" else 5000, "run_dir": f"run_{d}_{m}_{seed}"}
        for (d, m), (acc, f1) in MATRIX.items() for i, seed in enumerate((1, 2))
    ]


def test_mean_and_std_over_seeds_on_a_2x2_matrix(tmp_path):
    paths = write_leaderboard(matrix_rows(), [], tmp_path / "matrix")
    assert set(paths) == {"csv", "md", "png"} and all(p.parent == tmp_path / "matrix" for p in paths.values())
    table = pd.read_csv(paths["csv"])
    assert table[["dataset", "model"]].values.tolist() == [  # by dataset, then mean accuracy, best first
        ["imdb", "stacked_lstm"], ["imdb", "lstm"], ["weibo", "stacked_lstm"], ["weibo", "lstm"],
    ]
    for cell in table.itertuples():
        acc, f1 = MATRIX[(cell.dataset, cell.model)]
        assert cell.accuracy_mean == pytest.approx(statistics.mean(acc))
        assert cell.accuracy_std == pytest.approx(statistics.stdev(acc))  # sample std, ddof=1
        assert cell.macro_f1_mean == pytest.approx(statistics.mean(f1))
        assert cell.macro_f1_std == pytest.approx(statistics.stdev(f1))
        assert (cell.seeds, cell.failed_seeds, cell.train_seconds_mean) == (2, 0, 15.0)
    assert table.loc[0, "accuracy_std"] == pytest.approx(0.0424264, abs=1e-6)  # |0.91 - 0.85| / sqrt(2)
    md = paths["md"].read_text()
    assert "| stacked_lstm | 0.8800 ± 0.0424 | 0.8450 ± 0.0636 | 2 | 15.0 | 75.0 | 5,000 | - |" in md
    assert "## Failures" not in md
    assert paths["png"].read_bytes().startswith(b"\x89PNG")
    names = sorted(p.name for p in (tmp_path / "matrix").iterdir())
    assert names == ["leaderboard.csv", "leaderboard.md", "leaderboard.png"]  # no temporary file left behind


def test_failed_seeds_and_failed_cells_are_shown(tmp_path):
    rows = [r for r in matrix_rows() if (r["dataset"], r["model"], r["seed"]) != ("imdb", "lstm", 2)]
    failures = [
        {"dataset": "imdb", "model": "lstm", "seed": 2,
         "error": "Traceback (most recent call last):\n  ...\nMemoryError: out of memory"},
        {"dataset": "weibo", "model": "bert", "seed": 1, "error": "error: unknown model 'bert'"},
        {"dataset": "weibo", "model": "bert", "seed": 2, "error": "error: unknown model 'bert'"},
    ]
    paths = write_leaderboard(rows, failures, tmp_path)
    table = pd.read_csv(paths["csv"]).set_index(["dataset", "model"])
    assert table.loc[("imdb", "lstm"), ["seeds", "failed_seeds"]].tolist() == [1, 1]
    assert table.loc[("imdb", "lstm"), "accuracy_mean"] == pytest.approx(0.86)
    assert pd.isna(table.loc[("imdb", "lstm"), "accuracy_std"])  # one seed: no deviation
    assert table.loc[("imdb", "lstm"), "errors"] == "seed 2: MemoryError: out of memory"
    bert = table.loc[("weibo", "bert")]
    assert (bert["seeds"], bert["failed_seeds"]) == (0, 2) and pd.isna(bert["accuracy_mean"])
    assert list(table.loc["weibo"].index)[-1] == "bert"  # a cell with no result comes last in its dataset
    md = paths["md"].read_text()
    assert "| lstm | 0.8600 ± - | 0.8500 ± - | 1 of 2 (1 failed) | 10.0 | 50.0 | 1,000 | - |" in md
    assert "| bert | - | - | 0 of 2 (2 failed) | - | - | - | - |" in md
    assert "| imdb | lstm | 2 | MemoryError: out of memory |" in md
    assert "| weibo | bert | 1 | error: unknown model 'bert' |" in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_accuracy_on_other_datasets_is_summarised_over_seeds(tmp_path):
    rows = [{**row, "eval_chnsenticorp_accuracy": 0.5 + 0.1 * row["seed"], "eval_chnsenticorp_macro_f1": 0.4,
             "eval_chnsenticorp_rows": 1200} for row in matrix_rows() if row["dataset"] == "weibo"]
    paths = write_leaderboard(rows, [], tmp_path)
    table = pd.read_csv(paths["csv"]).set_index("model")
    assert table.loc["lstm", "eval_chnsenticorp_accuracy_mean"] == pytest.approx(0.65)  # seeds 1 and 2
    assert table.loc["lstm", "eval_chnsenticorp_accuracy_std"] == pytest.approx(statistics.stdev([0.6, 0.7]))
    assert table.loc["lstm", "eval_chnsenticorp_macro_f1_mean"] == pytest.approx(0.4)
    assert "eval_chnsenticorp_rows_mean" not in table.columns
    md = paths["md"].read_text()
    assert "| parameters | trainable | accuracy on chnsenticorp |" in md
    assert "| stacked_lstm | 0.9700 ± 0.0000 | 0.9600 ± 0.0000 | 2 | 15.0 | 75.0 | 5,000 | - | 0.6500 ± 0.0707 |" in md


def test_recipes_are_cells_of_their_own_with_their_trainable_share(tmp_path):
    rows = [{**row, "model": "bert", "config_recipe": recipe, "trainable_parameters": trainable}
            for row in matrix_rows() if (row["dataset"], row["model"]) == ("imdb", "lstm")
            for recipe, trainable in (("full", 1000), ("lora", 20))]
    failures = [{"dataset": "imdb", "model": "bert", "recipe": "ptuning", "seed": 1, "error": "MemoryError: oom"}]
    paths = write_leaderboard(rows, failures, tmp_path)
    table = pd.read_csv(paths["csv"]).set_index("model")
    assert list(table.index) == ["bert / full", "bert / lora", "bert / ptuning"]
    assert table.loc["bert / lora", "trainable_parameters"] == 20 and table.loc["bert / lora", "seeds"] == 2
    assert table.loc["bert / ptuning", "failed_seeds"] == 1
    md = paths["md"].read_text()
    assert "| bert / lora | 0.8700 ± 0.0141 | 0.8550 ± 0.0071 | 2 | 15.0 | 75.0 | 1,000 | 20 |" in md
    assert "| imdb | bert / ptuning | 1 | MemoryError: oom |" in md
