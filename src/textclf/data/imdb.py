"""IMDB Large Movie Review Dataset (Maas et al., 2011): 25k train / 25k test, 1 = positive.

Reads either the original aclImdb folder layout (train/pos, train/neg, test/...) or
the CSV form (imdb_train.csv.gz, imdb_test.csv.gz with `review,label`). When neither
is under --data-dir, downloads the public archive once, verifies its SHA-256 and
caches it there.
"""

from pathlib import Path

import keras
import pandas as pd
from loguru import logger

from textclf.config import RunConfig
from textclf.data import folders, splits, tables
from textclf.errors import InputError

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"  # published checksum
ARCHIVE = "aclImdb_v1.tar.gz"
FOLDERS = ("imdb",)
CSV_FILES = {"train": ("imdb_train.csv.gz", "imdb_train.csv"), "test": ("imdb_test.csv.gz", "imdb_test.csv")}
NAMES = {"0": "negative", "1": "positive"}
# Keep a long review's end: reviews tend to close on their verdict, and 30% are over 250 words.
DEFAULTS = {"max_len": 250, "vocab_size": 10_000, "epochs": 6, "truncate": "pre"}


def _read_split_folder(split_dir: Path) -> pd.DataFrame:
    rows = [
        (path.read_text(encoding="utf-8"), label)
        for label, polarity in (("1", "pos"), ("0", "neg"))
        for path in sorted((split_dir / polarity).glob("*.txt"))
    ]
    return pd.DataFrame(rows, columns=["text", "label"])


def _acl_root(data_dir: str) -> Path | None:
    root = Path(data_dir)
    extracted = f"{ARCHIVE.split('.')[0]}_extracted"  # where keras.utils.get_file unpacks
    candidates = [root, root / "aclImdb", root / "imdb", root / "imdb" / "aclImdb", root / "imdb" / extracted / "aclImdb"]
    return next((c for c in candidates if (c / "train" / "pos").is_dir() and (c / "test" / "pos").is_dir()), None)


def download(data_dir: str) -> Path:
    """Fetches and unpacks the archive into `data_dir/imdb`, checking its SHA-256."""
    logger.info(f"IMDB not found under {data_dir}: downloading {URL}")
    try:
        keras.utils.get_file(
            ARCHIVE, URL, file_hash=SHA256, hash_algorithm="sha256", extract=True,
            cache_dir=str(Path(data_dir).resolve()), cache_subdir="imdb",
        )
    except Exception as err:  # get_file raises bare Exception for network failures
        raise InputError(f"IMDB is not under {data_dir} and its download failed: {err}") from err
    root = _acl_root(data_dir)
    if root is None:
        raise InputError(f"the downloaded {ARCHIVE} does not hold aclImdb/train and aclImdb/test")
    return root


def _read(config: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    train_csv = folders.find_file(config.data_dir, FOLDERS, CSV_FILES["train"])
    test_csv = folders.find_file(config.data_dir, FOLDERS, CSV_FILES["test"])
    if train_csv and test_csv:
        return tables.load_labelled(train_csv, "review", "label"), tables.load_labelled(test_csv, "review", "label"), str(train_csv.parent)
    root = _acl_root(config.data_dir) or download(config.data_dir)
    frames = [tables.clean_rows(_read_split_folder(root / split), root / split) for split in ("train", "test")]
    return frames[0], frames[1], str(root)


def load(config: RunConfig) -> splits.Splits:
    folders.require_dir(config.data_dir)
    train, test, source = _read(config)
    logger.info(f"IMDB from {source}: {len(train)} train, {len(test)} test reviews")
    return splits.for_run(config, train, test=test, names=NAMES, language="en", source=source)
