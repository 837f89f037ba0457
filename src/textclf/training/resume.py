"""Which run folder a run writes to: a new one, or the one a killed run left behind.

Running the same command again (same config fingerprint, same --output-dir) after a
run was killed resumes that run, in its folder, from its last finished epoch.
"""

from pathlib import Path

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
