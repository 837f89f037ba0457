"""Training reports side by side: `python src/compare_reports.py data/output/*.csv`.

One row per report file. Datasets with different classes have different
`report_<class>_*` columns; reports are aligned by column name and a value a report
does not have is shown as "-". Filters compare the text written in the CSV, so
`seed=1` matches whatever type pandas would give the column.
"""

import argparse
import contextlib
import difflib
import glob
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from textclf.errors import InputError, exit_code
from textclf.reporting import plots
from textclf.reporting.report import LEADING, write_atomically

DEFAULT_COLUMNS = [
    "timestamp", "dataset", "model", "seed", "final_test_accuracy", "report_macro_avg_f1-score",
    "best_epoch", "epochs_run", "train_seconds", "train_samples_per_second", "parameters",
]
REQUIRED = LEADING + ["dataset", "model", "seed"]  # what makes a CSV a training report
MISSING = "-"
PLOT_NAME = "comparison.png"  # written beside the first report unless --plot says otherwise


def report_paths(arguments: list[str]) -> list[Path]:
    """Each argument is a report, a folder of `training_report_*.csv`, or a glob pattern the
    shell left unexpanded (quoted, or matching nothing)."""
    paths = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(path.glob("training_report_*.csv"))
        else:
            found = [path] if path.is_file() else sorted(Path(p) for p in glob.glob(argument))
        if not found:
            raise InputError(f"{argument}: no report matches")
        paths.extend(found)
    return paths


def read_report(path: Path) -> pd.DataFrame:
    """One report as the text written in it; an empty cell is ""."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: not a readable CSV file ({type(err).__name__})") from err
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing or frame.empty:
        what = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more columns" if len(missing) > 3 else "")
        raise InputError(f"{path}: not a training report (no {what or 'row'})")
    return frame


def check_columns(table: pd.DataFrame, names: Iterable[str], flag: str):
    for name in names:
        if name not in table.columns:
            close = difflib.get_close_matches(name, table.columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{flag}: no report has a column {name!r}{hint}")


def parse_filters(items: list[str]) -> dict[str, set[str]]:
    """`key=value` strings to {key: values}: different keys must all match, one key repeated matches any value."""
    filters: dict[str, set[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--filter {item!r}: expected key=value, e.g. dataset=imdb")
        filters.setdefault(key.strip(), set()).add(value.strip())
    return filters


def apply_filters(raw: pd.DataFrame, filters: dict[str, set[str]]) -> pd.DataFrame:
    check_columns(raw, filters, "--filter")
    keep = pd.Series(True, index=raw.index)
    for key, values in filters.items():
        keep &= raw[key].isin(values)
    if not keep.any():
        wanted = " ".join(f"{key}={value}" for key, values in filters.items() for value in sorted(values))
        raise InputError(f"no report matches --filter {wanted}")
    return raw[keep]


def typed(raw: pd.DataFrame) -> pd.DataFrame:
    """Numbers as numbers, for sorting and display: a column written as whole numbers stays whole
    (Int64) even where a report lacks it; text such as the timestamp stays text."""
    table = raw.replace("", pd.NA)
    for column in table.columns:
        with contextlib.suppress(ValueError, TypeError):
            numbers = pd.to_numeric(table[column])
            whole = table[column].dropna().str.fullmatch(r"-?\d+").all()
            table[column] = numbers.astype("Int64") if whole else numbers
    return table


def format_table(table: pd.DataFrame) -> str:
    """Floats to 4 decimals, a missing value as MISSING (which `to_string` does not do for Int64)."""
    shown = table.round(4)
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.Int64Dtype):
            shown[column] = shown[column].map(lambda v: MISSING if pd.isna(v) else str(v))
    return shown.to_string(index=False, na_rep=MISSING)


def chosen_columns(table: pd.DataFrame, columns: str | None) -> list[str]:
    if columns is None:
        return [c for c in DEFAULT_COLUMNS if c in table.columns]
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if not names:
        raise InputError("--columns: name at least one column")
    check_columns(table, names, "--columns")
    return names


def save(path: Path, write: Callable[[Path], object]) -> Path:
    try:
        return write_atomically(path, write)
    except OSError as err:
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from err


def compare(args: argparse.Namespace) -> int:
    paths = report_paths(args.reports)
    raw = apply_filters(pd.concat([read_report(p) for p in paths], ignore_index=True), parse_filters(args.filter))
    table = typed(raw)
    if args.sort:
        check_columns(table, [args.sort], "--sort")
        table = table.sort_values(args.sort, ascending=args.ascending, na_position="last", kind="stable")
    print(format_table(table[chosen_columns(table, args.columns)]))
    if args.output:
        print(f"table: {save(Path(args.output), lambda tmp: raw.loc[table.index].to_csv(tmp, index=False))}")
    labels = [f"{d}/{m}/seed {s} ({t})" for d, m, s, t in table[["dataset", "model", "seed", "timestamp"]].values]
    accuracies = table["final_test_accuracy"].tolist()
    title = f"test accuracy of {len(table)} runs"
    plot = Path(args.plot) if args.plot else paths[0].parent / PLOT_NAME
    print(f"plot: {save(plot, lambda tmp: plots.comparison_png(labels, accuracies, tmp, title))}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compare_reports.py", description="Compare training reports: one table row per report file.",
    )
    p.add_argument("reports", nargs="+", help="report CSVs, folders holding them, or glob patterns")
    p.add_argument("--columns", metavar="A,B,...", help=f"columns to show (default: {','.join(DEFAULT_COLUMNS)})")
    p.add_argument("--sort", metavar="COLUMN", help="sort by COLUMN, highest first, missing values last")
    p.add_argument("--ascending", action="store_true", help="with --sort: lowest first (losses, seconds)")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="keep reports whose KEY is written as VALUE; repeatable: different keys must all "
                        "match, a repeated key matches any of its values")
    p.add_argument("--output", metavar="PATH.csv", help="also save the merged table (every column) as CSV")
    p.add_argument("--plot", metavar="PATH.png",
                   help=f"test accuracy chart, replaced if it exists (default: {PLOT_NAME} beside the first report)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # argparse itself exits 2 on a bad flag
    return exit_code(compare, args)
