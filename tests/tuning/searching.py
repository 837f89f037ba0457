"""What the tuning tests share: the tiny IMDB fixture's flags, fastText's, and server_main in this process."""

from pathlib import Path

from textclf import cli

ROOT = Path(__file__).resolve().parents[2]
IMDB = ["--dataset", "imdb", "--data-dir", str(ROOT / "tests" / "fixtures" / "imdb_tiny")]
# fastText with a small bigram table: its default 2,000,000 rows make every run's weights and export 600 MB.
FASTTEXT = ["--model", "fasttext", "--model-arg", "buckets=1024"]


def main(*args) -> int:
    return cli.main([str(arg) for arg in args])


def tune_folder(out: Path) -> Path:
    (folder,) = out.glob("tune_*")
    return folder
