"""Reading a labelled table (CSV, TSV, JSON Lines, Parquet; gzipped or zipped) into `text`/`label` columns.

Every way a user's file can be unusable ends here as an `InputError` with one clear
line: missing, empty, not decodable, missing a column, or holding a single class. A TSV
is read as it is, a row a line with no quoting, and must give as many rows as it has lines.
"""

import codecs
import csv
import gzip
import io
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from loguru import logger

from textclf.errors import InputError

TEXT_COLUMNS = ("text", "review", "sentence", "content", "comment")
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "target")
ENCODINGS = ("utf-8-sig", "gb18030")  # Chinese CSVs are often GB18030, not UTF-8
BLOCK_BYTES = 2**20  # read at a time while deciding the encoding, so a file larger than memory works
# How tables spell a missing value (compared stripped and case-insensitively): a row with such a
# label is dropped, never a class of its own.
MISSING_LABELS = {"", "nan", "na", "n/a", "null", "none"}
TSV_SUFFIXES = (".tsv", ".txt")  # .txt is tab-separated (R8's files)


def csv_options(suffix: str) -> dict:
    """`pd.read_csv`'s options for a table with this suffix. A TSV is read as it is, one row a line, with no
    quoting: CSV quoting let a text beginning with `"` swallow the lines after it, up to the next `"`, and drop
    its quotes. So a TSV's text cannot hold a tab or a line break, and a `"` is a character like any other."""
    return {"sep": "\t", "quoting": csv.QUOTE_NONE} if suffix in TSV_SUFFIXES else {"sep": ","}


def data_lines(lines: Iterable[str]) -> int:
    """How many rows a literal reading of `lines` (split at `\\n` only) gives: every line but a blank one
    (spaces at most), which pandas skips, as it skips a trailing empty line."""
    return sum(1 for line in lines if line.strip(" \r\n"))


def check_rows(path: Path, rows: int, lines: int) -> None:
    """Fails unless a TSV gave one row per line of data (`data_lines` less the header): pandas also ends a row at
    a carriage return, so a lone `\\r` inside a line would split it silently."""
    if rows != lines:
        raise InputError(f"{path}: read as {rows:,} rows, but it has {lines:,} lines of data; a TSV is read one "
                         "row a line (is there a carriage return, \\r, inside a line? it ends a row too)")


def text_encoding(open_binary: Callable[[], BinaryIO], path: Path) -> str:
    """The first of `ENCODINGS` in which every byte of the stream decodes: one bad byte anywhere,
    even past the first gigabyte, rules an encoding out. Training and predict.py both decide here.

    Args:
        open_binary: opens the bytes to check (called once per encoding tried).
        path: the file, named in the error when no encoding fits.
    """
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        with open_binary() as stream:
            try:
                while block := stream.read(BLOCK_BYTES):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
                return encoding
            except UnicodeDecodeError:
                continue
    raise InputError(f"{path}: text is neither UTF-8 nor GB18030; re-save it as UTF-8")


def _unpacked(path: Path) -> tuple[bytes, str]:
    """The file's bytes, out of gzip or a one-file zip, and the name whose suffix gives their format."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()), path.stem
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if not name.endswith("/")]
            if len(members) != 1:
                raise InputError(f"{path}: a zip must hold exactly one table; this one holds {len(members)} files")
            return archive.read(members[0]), members[0]
    return path.read_bytes(), path.name


def _read_text_table(path: Path, **read_options) -> pd.DataFrame:
    raw, name = _unpacked(path)
    text = raw.decode(text_encoding(lambda: io.BytesIO(raw), path))
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    suffix = Path(name).suffix
    if suffix in (".jsonl", ".json"):
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)
    frame = pd.read_csv(io.StringIO(text), **csv_options(suffix), dtype=str, keep_default_na=False, **read_options)
    if suffix in TSV_SUFFIXES:
        header = read_options.get("header", 0) is not None
        check_rows(path, len(frame), data_lines(io.StringIO(text)) - header)
    return frame


def read_table(path: Path, **read_options) -> pd.DataFrame:
    """Reads any supported table file as it is; `read_options` go to `pd.read_csv`."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return _read_text_table(path, **read_options)
    except InputError:
        raise
    except (ValueError, pd.errors.ParserError, OSError, zipfile.BadZipFile) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot be read as a table: {first_line}") from err


def _pick_column(frame: pd.DataFrame, wanted: str | None, candidates: tuple, role: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in frame.columns:
            raise InputError(f"{path}: no {role} column {wanted!r}; columns are {list(frame.columns)}")
        return wanted
    for name in candidates:
        if name in frame.columns:
            return name
    raise InputError(
        f"{path}: cannot guess the {role} column from {list(frame.columns)}; "
        f"name it with --{role}-column"
    )


def clean_rows(frame: pd.DataFrame, source: Path) -> pd.DataFrame:
    """Drops rows whose text is empty or whose label is missing (see MISSING_LABELS), and says how many."""
    no_text = frame["text"].isna() | (frame["text"].astype(str).str.strip() == "")
    no_label = frame["label"].isna() | frame["label"].astype(str).str.strip().str.casefold().isin(MISSING_LABELS)
    keep = ~(no_text | no_label)
    if dropped := int((~keep).sum()):
        logger.warning(f"{source}: dropped {dropped} rows: {int(no_text.sum())} with an empty text, "
                       f"{int(no_label.sum())} with a missing label (empty, nan, NA, N/A, null or None)")
    return frame.loc[keep].reset_index(drop=True)


def load_texts(path: Path) -> list[str]:
    """The non-empty texts of a table without labels: its column named as `TEXT_COLUMNS` names them."""
    frame = read_table(path)
    column = next((name for name in TEXT_COLUMNS if name in frame.columns), None)
    if column is None:
        raise InputError(f"{path}: no text column (one named {', '.join(TEXT_COLUMNS)}); columns are "
                         f"{list(frame.columns)}")
    texts = frame[column].dropna().astype(str)
    texts = texts[texts.str.strip() != ""].tolist()
    if not texts:
        raise InputError(f"{path}: no row has a text")
    return texts


def load_labelled(
    path: Path, text_column: str | None = None, label_column: str | None = None, **read_options
) -> pd.DataFrame:
    """Reads `path` into a frame with exactly the columns `text` and `label`.

    Example:
        >>> load_labelled(Path("reviews.tsv"), text_column="sentence")
    """
    frame = read_table(path, **read_options)
    if frame.empty:
        raise InputError(f"{path}: file has no rows")
    text_col = _pick_column(frame, text_column, TEXT_COLUMNS, "text", path)
    label_col = _pick_column(frame, label_column, LABEL_COLUMNS, "label", path)
    frame = frame[[text_col, label_col]].set_axis(["text", "label"], axis=1)
    frame = clean_rows(frame, path)
    if frame.empty:
        raise InputError(f"{path}: no row has both a text and a label")
    return frame
