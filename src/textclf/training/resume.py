"""Which run folder a run writes to, and which process owns it.

A run is keyed on its config's fingerprint and its data's (`data_fingerprint`). Running the same
command again on the same data after a run was killed resumes that run, in its folder: from its last
finished epoch, or, killed after its fit, at the evaluation. Changed data starts a new run.

One living process owns a key: it holds an OS lock (flock) on the key's marker file for the run's
life, and the OS releases it when the process dies, so a killed run can be resumed at once while a
second identical command started beside a living one is refused. A matrix run again also skips the
cells that already have a report (`finished_report`).
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from textclf.data.splits import Splits
from textclf.errors import InputError
from textclf.reporting.report import reserve_run_dir
from textclf.serving.runs import EVALUATION_PENDING


def data_fingerprint(data: Splits) -> str:
    """A hash of the splits' texts and labels, in order, and of the class names."""
    digest = hashlib.sha256(repr(data.class_names).encode())
    for name in ("train", "val", "test"):
        frame = getattr(data, name)[["text", "label"]]
        digest.update(f"{name}:{len(frame)}".encode())  # a row moved from one split to the next changes it
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def _lock(marker: Path) -> IO[str]:
    """`marker`, opened and locked for this process; InputError while another process holds it."""
    while True:
        file = marker.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            run_dir = file.read().strip() or marker
            file.close()
            raise InputError(f"{run_dir}: another process is training this run (same command, same data); "
                             "wait for it to finish or stop it, then run the command again") from None
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(file.fileno()), os.stat(marker)):
                return file
        file.close()  # a finishing run removed the file after we opened it: open the new one


@contextlib.contextmanager
def claim_run_dir(output_dir: Path, fingerprint: str, data_fingerprint: str) -> Iterator[tuple[Path, bool]]:
    """Owns the run folder of this config and data for the `with` block: yields it, and whether it resumes
    a killed run (one killed before its first epoch ended starts again in its folder). Leaving the block
    normally marks the run finished; leaving a new run's block with an `InputError` (vectors holding nan,
    a loss gone nan) removes its folder and marker, as bad input leaves nothing behind. A resumed run's
    folder is kept: it holds the epochs of the earlier process.

    Raises:
        InputError: another living process owns it.
    """
    marker = output_dir / ".unfinished" / f"{fingerprint}_{data_fingerprint}.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    with _lock(marker) as file:
        file.seek(0)
        left = Path(file.read().strip())  # the folder a killed run left, if any
        # Killed before its first epoch ended, it has nothing to resume, but it is this run's folder: started again
        # there, not in a new one beside it.
        taken_over = left != Path() and left.is_dir()
        resumed = taken_over and ((left / "backup").is_dir() or (left / EVALUATION_PENDING).is_file())
        run_dir = left if taken_over else reserve_run_dir(output_dir)
        if not taken_over:
            file.truncate(0)
            file.write(str(run_dir))
            file.flush()
        try:
            yield run_dir, resumed
        except InputError:
            if not resumed:
                shutil.rmtree(run_dir, ignore_errors=True)
                marker.unlink()
            raise
        (run_dir / EVALUATION_PENDING).unlink(missing_ok=True)
        marker.unlink()  # still locked: a process waiting on it opens a new file


@contextlib.contextmanager
def worker_run_dir(output_dir: Path, fingerprint: str, data_fingerprint: str, task: str) -> Iterator[tuple[Path, bool]]:
    """A worker's stand-in for the run folder in multi-worker training, where every worker runs the whole run and
    only the chief writes it: `output_dir/.workers/<fingerprints>/<task>/run_<task>`, whose backup lets a
    restarted worker resume with the others. Yields it and whether it resumes; removed when the run ends."""
    home = output_dir / ".workers" / f"{fingerprint}_{data_fingerprint}" / task
    run_dir = home / f"run_{task}"
    resumed = (run_dir / "backup").is_dir() or (run_dir / EVALUATION_PENDING).is_file()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield run_dir, resumed
    except InputError:  # bad input: nothing to resume; any other failure keeps the backup for the restart
        _remove_worker_home(home)
        raise
    _remove_worker_home(home)


def _remove_worker_home(home: Path):
    shutil.rmtree(home, ignore_errors=True)
    for empty in (home.parent, home.parent.parent):  # the job's folder, then .workers, once no worker is left
        with contextlib.suppress(OSError):
            empty.rmdir()


def finished_report(output_dir: Path, fingerprint: str, data_fingerprint: str) -> Path | None:
    """The newest report in `output_dir` of a finished run with this config and data, or None.

    Reports without a fingerprint (the original Weibo project wrote the same file names) never match.
    Reports written before the data fingerprint was (the committed benchmarks/results among them,
    from which the leaderboards are rebuilt) match on the config alone.
    """
    for path in sorted(output_dir.glob("training_report_*.csv"), reverse=True):
        rows = pd.read_csv(path, dtype=str)
        same_config = rows.get("fingerprint", pd.Series(index=rows.index, dtype=str)) == fingerprint
        data = rows.get("data_fingerprint", pd.Series(index=rows.index, dtype=str))
        if (same_config & (data.isna() | (data == data_fingerprint))).any():
            return path
    return None
