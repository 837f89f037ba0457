"""Batch prediction: `python src/predict.py --run DIR --input FILE --text-column NAME --output FILE`.

The input (CSV, TSV, JSON Lines or Parquet; the text formats may be gzipped) is read,
predicted and written in chunks of `--chunk-size` rows, so a file larger than memory
works. Its encoding (UTF-8, else GB18030) is decided over the whole file first, by the
function training uses. The output (its format from its suffix: .csv, .tsv, .jsonl or
.parquet) holds every input row and column, then `predicted` and one `p_<class>` per class
(replacing input columns of those names, as in an earlier output).

A TSV (.tsv, .txt) is read as training reads one: as it is, a row a line, with no quoting (a `"` is a
character like any other), and its row count is checked against its lines. A .tsv output is written so: a
cell holding a tab or a line break, which such a file cannot hold, is refused (write .csv, .jsonl or .parquet).

The columns are those of the first chunk, in every format: JSON Lines values are read as
text, as CSV cells are (a number or an object as its JSON text, null as missing), a row
without one of the first chunk's keys gets an empty value, and a key the first chunk lacks
is an error.

The output grows in a hidden temporary file beside --output that is renamed when the last
row is done: a failed or interrupted (Ctrl-C, SIGTERM) run leaves no half file, a killed
run's temporary file is removed by the next run, and an existing --output is replaced only
with --overwrite.

A row whose text is empty, blank or missing has nothing to classify (the web API answers
such a text with a 400): it is kept, with an empty `predicted` and empty probabilities,
and counted in the closing log line.
"""

import argparse
import dataclasses
import gzip
import itertools
import json
import re
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger
from tqdm import tqdm

from textclf.config import OneLineParser
from textclf.data.tables import TSV_SUFFIXES, check_rows, csv_options, data_lines, text_encoding
from textclf.errors import InputError, exit_code
from textclf.explain import METHODS
from textclf.files import check_writable, remove_stale_temporaries, replacing
from textclf.logs import log_to_stderr
from textclf.serving.runs import add_run_flags, chosen_run, load_predictor

TABLES = (".csv", *TSV_SUFFIXES)  # .txt is tab-separated, as for training files
INPUTS = (*TABLES, ".jsonl", ".json", ".parquet")
TSV_BREAKS = "[\t\n\r]"  # what a TSV's cell cannot hold
OUTPUTS = (".csv", ".tsv", ".jsonl", ".parquet")
# Texts of similar length go to the model together, as in training: padding every text of a
# chunk to its longest made prediction 1.5-2x slower (IMDB, Weibo; 1,024 texts on 2 cores).
LENGTH_BATCH = 128
_JSON = json.JSONEncoder(ensure_ascii=False)  # one for every value: json.dumps with options builds one per call


def _format(suffix: str, allowed: tuple[str, ...], path: Path) -> str:
    if suffix not in allowed:
        raise InputError(f"{path}: unknown table format {suffix!r}; use one of {', '.join(allowed)}")
    return suffix


def _open(path: Path, mode: str, **options):
    return (gzip.open if path.suffix == ".gz" else open)(path, mode, **options)


def _as_text(value):
    """A JSON value as a CSV cell would hold it: a string as it is, null as missing, anything
    else as its JSON text, so every chunk's columns have one type whatever the rows hold."""
    if value is None or isinstance(value, str):
        return value
    # a number's repr is its JSON text (NaN aside), and reading a row of numbers took 2.5x as long without it
    return repr(value) if type(value) in (int, float) else _JSON.encode(value)


def _record(line: str, number: int, path: Path) -> dict:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise InputError(f"{path}: line {number} is not JSON (JSON Lines: one object per line): {err}") from err
    if not isinstance(record, dict):
        raise InputError(f"{path}: line {number} is not a JSON object (JSON Lines: one object per line)")
    return {key: _as_text(value) for key, value in record.items()}


def _json_lines(path: Path, encoding: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The first chunk's keys, in their order, are every chunk's columns: a row without one of
    them gets an empty value, and a key the first chunk lacks is an `InputError`."""
    columns = None
    with _open(path, "rt", encoding=encoding) as file:
        rows = ((number, _record(line, number, path)) for number, line in enumerate(file, 1) if line.strip())
        while batch := list(itertools.islice(rows, chunk_size)):
            records = [record for _, record in batch]
            columns = columns or list(dict.fromkeys(key for record in records for key in record))
            known = set(columns)
            for number, record in batch:
                if not known.issuperset(record):
                    new = next(key for key in record if key not in known)
                    raise InputError(f"{path}: line {number} has a key {new!r} that no row of the first chunk "
                                     f"has; the output's columns are those of the first --chunk-size rows")
            yield pd.DataFrame(records, columns=columns, dtype="str")


def _chunks(path: Path, suffix: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    if suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
        return
    encoding = text_encoding(lambda: _open(path, "rb"), path)
    if suffix in TABLES:
        rows = 0
        # every cell a string, and "NA" or "null" a text like any other
        for chunk in pd.read_csv(path, **csv_options(suffix), dtype=str, keep_default_na=False, encoding=encoding,
                                 chunksize=chunk_size):
            rows += len(chunk)
            yield chunk
        if suffix in TSV_SUFFIXES:
            with _open(path, "rt", encoding=encoding, newline="\n") as file:
                check_rows(path, rows, data_lines(file) - 1)  # less the header
    else:
        yield from _json_lines(path, encoding, chunk_size)


def read_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The table at `path`, `chunk_size` rows at a time; an unreadable file is an `InputError`."""
    suffix = _format(Path(path.name.removesuffix(".gz")).suffix, INPUTS, path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        yield from _chunks(path, suffix, chunk_size)
    except (ValueError, OSError) as err:  # pandas' and pyarrow's parse and decode errors are ValueErrors
        first_line = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise InputError(f"{path}: cannot be read as a table: {first_line}") from err


def predict_by_length(predictor, texts: list[str]) -> np.ndarray:
    """`predictor.predict(texts)`, in batches of texts of similar length."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    probabilities = np.empty((len(texts), len(predictor.class_names)), dtype=np.float32)
    for start in range(0, len(texts), LENGTH_BATCH):
        batch = order[start:start + LENGTH_BATCH]
        probabilities[batch] = predictor.predict([texts[i] for i in batch])
    return probabilities


@dataclasses.dataclass(frozen=True)
class Explaining:
    """predict.py --explain: each row's explanation of its predicted class by `method` (None: the run's default),
    its `top` words kept."""

    method: str | None = None
    top: int = 10


def explanations(predictor, texts: list[str], probabilities: np.ndarray, explaining: Explaining) -> list[str]:
    """Each text's explanation of its predicted class, as JSON: {"class", "method", "tokens": the top words}."""
    found = predictor.explain(texts, probabilities.argmax(axis=1).tolist(), explaining.method)
    return [json.dumps({"class": one.label, "method": one.method, "tokens": one.top(explaining.top)},
                       ensure_ascii=False) for one in found]


def predict_chunk(predictor, chunk: pd.DataFrame, text_column: str,
                  explaining: Explaining | None = None) -> tuple[pd.DataFrame, int]:
    """The chunk with `predicted` and `p_<class>` columns at its end (and `explanation` when `explaining`), and how
    many of its texts were empty."""
    texts = chunk[text_column].fillna("").astype(str)
    present = (texts.str.strip() != "").to_numpy()
    probabilities = np.full((len(chunk), len(predictor.class_names)), np.nan, dtype=np.float32)
    if present.any():
        probabilities[present] = predict_by_length(predictor, texts[present].tolist())
    names = np.asarray(predictor.class_names, dtype=object)
    predicted = np.where(present, names[np.nan_to_num(probabilities).argmax(axis=1)], "")
    columns = {"predicted": predicted, **{f"p_{name}": p for name, p in zip(names, probabilities.T)}}
    if explaining is not None:
        explained = np.full(len(chunk), "", dtype=object)
        if present.any():
            explained[present] = explanations(predictor, texts[present].tolist(), probabilities[present], explaining)
        columns["explanation"] = explained
    frame = chunk.drop(columns=[name for name in columns if name in chunk.columns]).assign(**columns)
    return frame, int((~present).sum())


class _ChunkWriter:
    """Appends frames to one file in the format of `suffix` (Parquet: a row group per frame)."""

    def __init__(self, path: Path, suffix: str):
        self.path, self.suffix = path, suffix
        self.parquet: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.suffix == ".parquet":
            schema = self.parquet.schema if self.parquet else None  # every row group as the first
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            self.parquet = self.parquet or pq.ParquetWriter(self.path, table.schema)
            self.parquet.write_table(table)
        elif self.suffix == ".jsonl":
            with open(self.path, "a", encoding="utf-8") as file:
                frame.to_json(file, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(self.path, mode="a", header=not self.path.exists(), index=False, **csv_options(self.suffix))
        self.rows += len(frame)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.parquet:
            self.parquet.close()


def check_tsv_cells(frame: pd.DataFrame, first_row: int, output: Path) -> None:
    """Fails if a column's name or a cell holds a tab or a line break: a TSV is read a row a line with no quoting
    (`tables.csv_options`), so such a cell could not be written to one and read back as it was."""
    cannot = "holds a tab or a line break, which a TSV cannot hold; write .csv, .jsonl or .parquet instead"
    for name in frame.columns:
        if re.search(TSV_BREAKS, str(name)):
            raise InputError(f"{output}: the column name {name!r} {cannot}")
        if not pd.api.types.is_numeric_dtype(frame[name]):  # a number holds no tab
            broken = frame[name].astype(str).str.contains(TSV_BREAKS, na=False).to_numpy(dtype=bool).nonzero()[0]
            if len(broken):
                raise InputError(f"{output}: row {first_row + broken[0] + 1:,} of column {name!r} {cannot}")


def write_predictions(predictor, chunks: Iterable[pd.DataFrame], text_column: str, output: Path,
                      explaining: Explaining | None = None) -> tuple[int, int]:
    """Predicts (and with `explaining`, explains) every chunk and writes all rows to `output`, or nothing; returns
    (rows, empty texts)."""
    suffix = _format(output.suffix, OUTPUTS, output)
    remove_stale_temporaries(output)
    empty = 0
    with (replacing(output) as partial, _ChunkWriter(partial, suffix) as writer,
          tqdm(unit=" rows", desc="predicting") as progress):
        for chunk in chunks:
            frame, blank = predict_chunk(predictor, chunk, text_column, explaining)
            if suffix == ".tsv":
                check_tsv_cells(frame, writer.rows, output)
            writer.write(frame)
            empty += blank
            progress.update(len(frame))
    return writer.rows, empty


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="predict.py",
                      description="Predict the class of every row of a table of texts with a trained run.")
    add_run_flags(p)
    p.add_argument("--input", type=Path, required=True,
                   help=f"table of texts: {', '.join(INPUTS)} (the text formats also gzipped, .gz)")
    p.add_argument("--text-column", required=True, help="the input's column of texts")
    p.add_argument("--output", type=Path, required=True, help=f"table to write: {', '.join(OUTPUTS)}")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--chunk-size", type=int, default=1024, help="rows read, predicted and written at a time")
    p.add_argument("--explain", action="store_true", help="add a column `explanation`: JSON of the words that raised "
                   "the predicted class most, with their scores (docs/serving.md)")
    p.add_argument("--explain-method", choices=METHODS, help="--explain: integrated_gradients (scratch, encoders, "
                   "decoders; the default where it applies) or occlusion (any run)")
    p.add_argument("--explain-top", type=int, default=10, help="--explain: the words kept per row")
    return p


def _checked_chunks(args: argparse.Namespace) -> Iterator[pd.DataFrame]:
    """The input's chunks, once its first has been read and holds --text-column."""
    _format(args.output.suffix, OUTPUTS, args.output)
    if args.output.is_dir():
        raise InputError(f"{args.output}: a folder; --output names the file to write")
    if args.output.exists() and not args.overwrite:
        raise InputError(f"{args.output}: already exists; pass --overwrite to replace it")
    if not args.output.parent.is_dir():
        raise InputError(f"{args.output.parent}: no such folder for --output")
    check_writable(args.output.parent, f"--output {args.output}")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, not {args.chunk_size}")
    if (args.explain_method is not None or args.explain_top != 10) and not args.explain:
        raise InputError("--explain-method and --explain-top go with --explain")
    if args.explain_top < 1:
        raise InputError(f"--explain-top must be at least 1, not {args.explain_top}")
    chunks = read_chunks(args.input, args.chunk_size)
    first = next(chunks, None)
    if first is None or first.empty:
        raise InputError(f"{args.input}: file has no rows")
    if args.text_column not in first.columns:
        raise InputError(f"{args.input}: no column {args.text_column!r}; columns are {list(first.columns)}")
    return itertools.chain([first], chunks)


def predict_file(args: argparse.Namespace) -> int:
    chunks = _checked_chunks(args)  # bad input fails here, before TensorFlow starts
    predictor = load_predictor(chosen_run(args))
    explaining = None
    if args.explain:
        explaining = Explaining(predictor.explainer.check_method(args.explain_method), args.explain_top)
    started = time.perf_counter()
    rows, empty = write_predictions(predictor, chunks, args.text_column, args.output, explaining)
    seconds = time.perf_counter() - started
    logger.info(f"{rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
                f"{empty:,} with an empty text and no prediction; run {predictor.run_dir}")
    print(args.output)
    return 0


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised where the program is, so that the temporary output is removed."""


def _interrupt(signum: int, _frame) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a bad flag: one line and exit code 2
    log_to_stderr()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        return exit_code(predict_file, args)
    except Interrupted as stop:
        signum = stop.args[0]
        print(f"interrupted ({signal.Signals(signum).name}): no output written", file=sys.stderr)
        return 128 + signum  # as a shell reports a process the signal ended
