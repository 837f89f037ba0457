"""The leaderboard of a matrix of runs: one line per (dataset, model) cell, over its seeds; a cell's model reads
"bert / lora" when the runs trained with a recipe (the report's `config_recipe`).

Test accuracy and macro-F1 are the mean and the sample standard deviation (ddof=1) over
the seeds that finished, and so is every `eval_<dataset>_accuracy` / `_macro_f1` column of runs
trained with `--eval-datasets` (the selected model on other datasets' test splits). With one
seed the deviation is undefined: empty in the CSV, "-" in the markdown, no error bar in the chart. Cells are sorted by dataset, then by mean
accuracy, best first; a cell whose every seed failed comes last in its dataset.
Each file is written under a temporary name and renamed, so a reader never sees half of one.
"""

import re
from pathlib import Path

import pandas as pd

from textclf.reporting import plots
from textclf.reporting.report import write_atomically

ACCURACY = "final_test_accuracy"
MACRO_F1 = "report_macro_avg_f1-score"
CELL = ["dataset", "model"]
COLUMNS = [
    "dataset", "model", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std",
    "seeds", "failed_seeds", "train_seconds_mean", "samples_per_second_mean", "parameters", "trainable_parameters",
    "errors",
]
TRANSFER = re.compile(r"eval_(.+)_(accuracy|macro_f1)")  # report columns of --eval-datasets


def transfer_columns(rows: list[dict]) -> list[str]:
    """The rows' `eval_<dataset>_accuracy` and `_macro_f1` columns, in the order they first appear."""
    return [c for c in dict.fromkeys(key for row in rows for key in row) if TRANSFER.fullmatch(c)]


def last_line(error: object) -> str:
    """The informative line of an error: a traceback's exception, the `error: ...` a command printed."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _with_recipe(models: pd.Series, recipes: pd.Series) -> pd.Series:
    """"model / recipe" where a run had a recipe, the model alone where not."""
    return models.where(recipes.isna() | (recipes == ""), models + " / " + recipes.astype(str))


def summarise(rows: list[dict], failures: list[dict]) -> pd.DataFrame:
    """One row per (dataset, model) with the COLUMNS above; `parameters` and `trainable_parameters` (encoders:
    LoRA and soft prompts train a share) are means over seeds (seeds differ only when a split's vocabulary is
    smaller than the vocabulary size); `samples_per_second_mean` is of the training steps."""
    transfer = transfer_columns(rows)
    summaries = {f"{c}_{stat}": (c, stat) for c in transfer for stat in ("mean", "std")}
    runs = pd.DataFrame(rows, columns=CELL + ["config_recipe", "seed", ACCURACY, MACRO_F1, "train_seconds",
                                              "train_samples_per_second", "parameters", "trainable_parameters",
                                              *transfer])
    runs["model"] = _with_recipe(runs["model"], runs["config_recipe"])
    failed = pd.DataFrame(failures, columns=CELL + ["recipe", "seed", "error"])
    failed["model"] = _with_recipe(failed["model"], failed["recipe"])
    failed["error"] = "seed " + failed["seed"].astype(str) + ": " + failed["error"].map(last_line)
    cells = runs.groupby(CELL).agg(
        accuracy_mean=(ACCURACY, "mean"), accuracy_std=(ACCURACY, "std"),
        macro_f1_mean=(MACRO_F1, "mean"), macro_f1_std=(MACRO_F1, "std"), seeds=("seed", "size"),
        train_seconds_mean=("train_seconds", "mean"), samples_per_second_mean=("train_samples_per_second", "mean"),
        parameters=("parameters", "mean"), trainable_parameters=("trainable_parameters", "mean"),
        **summaries,
    )
    errors = failed.groupby(CELL).agg(failed_seeds=("seed", "size"), errors=("error", "; ".join))
    table = cells.join(errors, how="outer").reset_index()
    table[["seeds", "failed_seeds"]] = table[["seeds", "failed_seeds"]].fillna(0).astype(int)
    for column in ("parameters", "trainable_parameters"):
        table[column] = pd.to_numeric(table[column]).round().astype("Int64")
    table = table.sort_values(["dataset", "accuracy_mean"], ascending=[True, False], na_position="last", kind="stable")
    return table[COLUMNS + list(summaries)].reset_index(drop=True)


HEADER = ["model", "test accuracy", "macro-F1", "seeds", "train seconds (mean)", "samples/s (mean)", "parameters",
          "trainable"]


def _evaluated_on(table: pd.DataFrame) -> list[str]:
    """The datasets of the table's `eval_<dataset>_accuracy_mean` columns."""
    return [m[1] for c in table.columns if (m := re.fullmatch(r"eval_(.+)_accuracy_mean", c))]


def _mean_std(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "-"
    return f"{mean:.4f} ± {'-' if pd.isna(std) else f'{std:.4f}'}"


def _markdown_row(cell, evaluated_on: list[str]) -> str:
    total = cell.seeds + cell.failed_seeds
    seeds = f"{cell.seeds} of {total} ({cell.failed_seeds} failed)" if cell.failed_seeds else str(cell.seeds)
    seconds, speed = ("-" if pd.isna(value) else f"{value:.1f}"
                      for value in (cell.train_seconds_mean, cell.samples_per_second_mean))
    parameters, trainable = ("-" if pd.isna(value) else f"{value:,}"
                             for value in (cell.parameters, cell.trainable_parameters))
    values = [cell.model, _mean_std(cell.accuracy_mean, cell.accuracy_std),
              _mean_std(cell.macro_f1_mean, cell.macro_f1_std), seeds, seconds, speed, parameters, trainable]
    values += [_mean_std(getattr(cell, f"eval_{name}_accuracy_mean"), getattr(cell, f"eval_{name}_accuracy_std"))
               for name in evaluated_on]
    return "| " + " | ".join(values) + " |"


def markdown(table: pd.DataFrame, failures: list[dict]) -> str:
    evaluated_on = _evaluated_on(table)
    header = HEADER + [f"accuracy on {name}" for name in evaluated_on]
    lines = ["# Leaderboard", "", "Test accuracy and macro-F1: mean ± standard deviation over seeds "
             "(\"-\" with one seed). Best accuracy first within each dataset.", ""]
    for dataset, cells in table.groupby("dataset", sort=False):
        lines += [f"## {dataset}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += [_markdown_row(cell, evaluated_on) for cell in cells.itertuples()] + [""]
    if failures:
        lines += ["## Failures", "", "| dataset | model | seed | error |", "| --- | --- | --- | --- |"]
        lines += [f"| {f['dataset']} | {f['model']}{' / ' + f['recipe'] if f.get('recipe') else ''} | {f['seed']} | "
                  f"{last_line(f['error']).replace('|', '/')} |" for f in failures] + [""]
    return "\n".join(lines)


def write_leaderboard(rows: list[dict], failures: list[dict], out_dir: Path) -> dict[str, Path]:
    """Writes leaderboard.csv, leaderboard.md and leaderboard.png into `out_dir`.

    Args:
        rows: report rows of the runs that finished (as `run.run` writes them: dataset, model,
            seed, final_test_accuracy, report_macro_avg_f1-score, train_seconds, parameters, ...).
        failures: one {dataset, model, seed, error} per run that failed.
        out_dir: created if needed; earlier leaderboard files there are replaced.

    Example:
        `write_leaderboard(rows, [], Path("data/output/matrix"))["md"]` -> `.../leaderboard.md`
    """
    table = summarise(rows, failures)
    title = f"test accuracy over seeds, {len(table)} cells"
    writers = {
        "csv": lambda tmp: table.to_csv(tmp, index=False),
        "md": lambda tmp: tmp.write_text(markdown(table, failures), encoding="utf-8"),
        "png": lambda tmp: plots.leaderboard_png(table, tmp, title),
    }
    return {kind: write_atomically(Path(out_dir) / f"leaderboard.{kind}", write) for kind, write in writers.items()}
