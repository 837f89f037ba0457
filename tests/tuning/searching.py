"""What the tuning tests share: the tiny IMDB fixture's flags and server_main in this process."""

from pathlib import Path

from textclf import cli

ROOT = Path(__file__).resolve().parents[2]
IMDB = ["--dataset", "imdb", "--data-dir", str(ROOT / "tests" / "fixtures" / "imdb_tiny")]


def main(*args) -> int:
    return cli.main([str(arg) for arg in args])


def tune_folder(out: Path) -> Path:
    (folder,) = out.glob("tune_*")
    return folder
