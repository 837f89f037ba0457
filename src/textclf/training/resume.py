"""Which run folder a run writes to: a new one, or the one a killed run left behind.

Running the same command again (same config fingerprint, same --output-dir) after a
run was killed resumes that run, in its folder, from its last finished epoch. A matrix
run again also skips the cells that already have a report (`finished_report`).
"""

from pathlib import Path

import pandas as pd

from textclf.reporting.report import reserve_run_dir


def _marker(output_dir: Path, fingerprint: str) -> Path:
    return output_dir / ".unfinished" / f"{fingerprint}.txt"


def claim_run_dir(output_dir: Path, fingerprint: str) -> tuple[Path, bool]:
    """The run folder, and whether it resumes an unfinished run."""
    marker = _marker(output_dir, fingerprint)
    if marker.is_file():
        run_dir = Path(marker.read_text(encoding="utf-8").strip())
        if (run_dir / "backup").is_dir():
            return run_dir, True
    run_dir = reserve_run_dir(output_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(run_dir), encoding="utf-8")
    return run_dir, False


def mark_finished(output_dir: Path, fingerprint: str):
    _marker(output_dir, fingerprint).unlink(missing_ok=True)


def finished_report(output_dir: Path, fingerprint: str) -> Path | None:
    """The newest report in `output_dir` of a finished run with this fingerprint, or None.

    Reports without a fingerprint (the original Weibo project wrote the same file names) never match.
    """
    for path in sorted(output_dir.glob("training_report_*.csv"), reverse=True):
        if fingerprint in pd.read_csv(path, dtype=str).get("fingerprint", pd.Series()).tolist():
            return path
    return None
