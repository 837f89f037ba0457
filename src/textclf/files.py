"""Writing a file atomically: into a hidden temporary file beside it, renamed into place at the end.

A reader sees the old file or the new one, never half of one, and a failed write leaves
no temporary file behind. A process killed outright (SIGKILL, power loss) cannot clean up:
`remove_stale_temporaries` finds what such a process left, by the pid in the name. A cache file is named by
`cache_key`; `read_json` reads a JSON file or says in one line why it cannot.
"""

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from loguru import logger

from textclf.errors import InputError


def cache_key(texts: Sequence[str], key: str) -> str:
    """A cache file's name for what it holds of `texts`, given what else decides it (`key`): a hash of both."""
    hashed = hashlib.sha256(key.encode())
    for text in texts:  # each length-prefixed: no two lists of texts feed the hash the same bytes
        raw = text.encode("utf-8")
        hashed.update(len(raw).to_bytes(8, "big") + raw)
    return hashed.hexdigest()[:24]


def read_json(path: Path):
    """The JSON value in `path`.

    Raises:
        InputError: the file cannot be read, or is not valid JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None


def temporary_name(path: Path, pid: int | str) -> Path:
    """`.<stem>.<pid>.tmp<suffix>` beside `path`: the same folder, so the rename is atomic, and
    the same suffix, so writers that go by it (matplotlib, pandas' compression) pick the format."""
    return path.with_name(f".{path.stem}.{pid}.tmp{path.suffix}")


def check_writable(folder: Path, what: str) -> None:
    """Fails unless this process can make a file in the existing `folder`. Tried, not asked: `os.access` says
    yes to root everywhere, and to /proc, /sys and read-only mounts, where nothing can be made.

    Args:
        what: the flag or command the error names, e.g. "--output out.csv".
    """
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except PermissionError:
        raise InputError(f"{what}: no permission to write in {folder}") from None
    except OSError as error:
        raise InputError(f"{what}: cannot make files in {folder} ({error.strerror})") from None


def check_output_dir(output_dir: str):
    """Fails unless `output_dir` is, or can be created as, a folder this process can write in (`check_writable`
    on the deepest folder of it that exists, so that nothing is made)."""
    existing = Path(output_dir)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"--output-dir {output_dir}: {existing} is a file, not a folder")
    check_writable(existing, f"--output-dir {output_dir}")


@contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary path for `path`, empty at the start and removed at the end whatever happens."""
    tmp = temporary_name(path, os.getpid())
    tmp.unlink(missing_ok=True)  # left by an earlier process that had our pid
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields a temporary path to write; it replaces `path` if the block succeeds and is removed if not.

    Example:
        >>> with replacing(Path("out.csv")) as tmp:
        ...     frame.to_csv(tmp)
    """
    with temporary_beside(path) as tmp:
        yield tmp
        os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Removes the temporary files of `path` whose writer is no longer running on this machine."""
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.(\d+)\.tmp{re.escape(path.suffix)}")  # temporary_name's
    stale = [tmp for tmp in path.parent.iterdir()
             if (match := pattern.fullmatch(tmp.name)) and not _alive(int(match[1]))]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    if stale:
        logger.info(f"removed {len(stale)} temporary file(s) of {path.name} left by runs that were killed")
