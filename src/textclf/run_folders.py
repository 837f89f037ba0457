"""The run folder's names and states, which training, resuming, serving, evaluation and ensembles all read.

A run writes `run_<stamp>/` (`reserve_run_dir`) and, beside it, `training_report_<stamp>.csv` (`report_path`); an
evaluation `eval_<stamp>/` and `evaluation_report_<stamp>.csv`; a matrix `matrix_<stamp>/`. A run folder is
finished once it holds `RUN_FILES` and no `EVALUATION_PENDING`. A run is keyed on its config's fingerprint and its
data's: running the same command again on the same data after a run was killed resumes that run, in its folder:
from its last finished epoch, or, killed after its fit, at the evaluation. Changed data starts a new run.

One living process owns a key: it holds an OS lock (flock) on the key's marker file for the run's
life, and the OS releases it when the process dies, so a killed run can be resumed at once while a
second identical command started beside a living one is refused. A matrix run again also skips the
cells that already have a report (`finished_report`).

Nothing here imports TensorFlow: serve.py and predict.py find and check a folder before it starts.
"""

import contextlib
import datetime
import fcntl
import itertools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from textclf.errors import InputError

RUN_FILES = ("model.keras", "config.json", "classes.json")  # what a finished run leaves for serving
# In a run folder from the end of its fit until its report is written (`training.trainer.fit`), and in an
# ensemble's while it is written (`ensemble.combine`): a folder holding it is not finished, whatever else it holds.
EVALUATION_PENDING = "evaluation_pending"


def checked_files(run_dir: Path) -> Path:
    """`run_dir`, once it holds a run's model, config and classes (a run evaluating itself has them already)."""
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: not a finished run folder (no {name})")
    return run_dir


def checked_run(run_dir: Path) -> Path:
    """`run_dir`, once it holds a finished run's model, config and classes, and no `EVALUATION_PENDING`."""
    checked_files(run_dir)
    if (run_dir / EVALUATION_PENDING).exists():
        raise InputError(f"{run_dir}: an unfinished run (it holds {EVALUATION_PENDING}: stopped before its report "
                         "was written); run its command again (command.txt) to finish it")
    return run_dir


def _finished(run_dir: Path) -> bool:
    try:
        checked_run(run_dir)
    except InputError:
        return False
    return True


def newest_run(output_dir: Path) -> Path:
    """The most recent finished run folder under `output_dir`: `run_<stamp>` or, started within the same
    second, `run_<stamp>_<n>`, ordered by (stamp, n); a folder that a run still trains or was killed in is
    passed over."""
    started = {}
    for run_dir in Path(output_dir).glob("run_*"):
        if (name := re.fullmatch(r"run_(\d{8}_\d{6})(?:_(\d+))?", run_dir.name)) and _finished(run_dir):
            started[run_dir] = (name[1], int(name[2] or 1))
    if not started:
        raise InputError(f"{output_dir}: no finished run folder; train one with src/server_main.py")
    return max(started, key=started.get)


def reserve_run_dir(output_dir: Path, now: datetime.datetime | None = None, prefix: str = "run") -> Path:
    """Creates `output_dir/<prefix>_YYYYMMDD_HHMMSS` (then `_2`, `_3`, ... within the same second)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d_%H%M%S")
    for n in itertools.count(1):
        run_dir = output_dir / (f"{prefix}_{stamp}" if n == 1 else f"{prefix}_{stamp}_{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


# A folder's prefix (`reserve_run_dir`) -> the name of its report.
REPORTS = {"run": "training_report", "eval": "evaluation_report"}


def report_path(run_dir: Path) -> Path:
    """`training_report_<stamp>.csv` beside a run folder (`evaluation_report_<stamp>.csv` beside an evaluation's),
    sharing its stamp.

    Raises:
        InputError: for a folder not named as `reserve_run_dir` names them (renamed): no report names it.
    """
    prefix, _, stamp = run_dir.name.partition("_")
    if prefix not in REPORTS:
        raise InputError(f"{run_dir}: not named as a run folder ({', '.join(f'{p}_<stamp>' for p in REPORTS)}), "
                         "so no report names it; was it renamed? give it back its name")
    return run_dir.parent / f"{REPORTS[prefix]}_{stamp}.csv"


def report_row(run_dir: Path) -> dict:
    """The run's report row; {} when none can be read beside it (not written yet, or damaged).

    Raises:
        InputError: for a folder not named as a run folder (`report_path`).
    """
    path = report_path(run_dir)
    try:
        return pd.read_csv(path).iloc[0].to_dict()
    except (OSError, ValueError, IndexError):  # pandas' parse errors are ValueErrors
        return {}


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
