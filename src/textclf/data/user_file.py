"""Any labelled CSV, TSV, JSON Lines or Parquet file a user brings (`--dataset PATH`).

String or integer labels, any number of classes. Validation and test are carved
from the file (stratified, seeded).
"""

from pathlib import Path

from textclf.config import RunConfig
from textclf.data import splits, tables

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")
DEFAULTS = {"max_len": 250, "vocab_size": 20_000, "epochs": 10, "truncate": "post"}


def looks_like_path(name: str) -> bool:
    path = Path(name)
    return path.suffix == ".gz" or path.suffix in SUFFIXES or "/" in name or path.exists()


def language_of(texts) -> str:
    """'zh' when a sample of the texts is mostly CJK characters, else 'en'."""
    sample = "".join(texts[:500])
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in sample)
    letters = sum(ch.isalpha() for ch in sample)
    return "zh" if letters and cjk / letters > 0.3 else "en"


def load(config: RunConfig) -> splits.Splits:
    path = Path(config.dataset)
    frame = tables.load_labelled(path, config.text_column, config.label_column)
    language = language_of(frame["text"].astype(str).tolist())
    return splits.for_run(config, frame, names=None, language=language, source=str(path))
