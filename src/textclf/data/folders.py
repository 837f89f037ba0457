"""Finding a dataset's files under --data-dir.

`--data-dir` is either a root laid out like ../shared/data (one folder per dataset)
or one dataset's own folder; both work.
"""

from pathlib import Path

from textclf.errors import InputError


def find_file(data_dir: str, folders: tuple[str, ...], names: tuple[str, ...]) -> Path | None:
    """The first `name` found in `data_dir/<folder>` (in order) or in `data_dir` itself."""
    root = Path(data_dir)
    for folder in [root / f for f in folders] + [root]:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def require_dir(data_dir: str) -> Path:
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (--data-dir)")
    return root


def require_files(data_dir: str, folders: tuple[str, ...], names: tuple[str, ...], dataset: str) -> Path:
    """The first of `data_dir/<folder>` (in order) and `data_dir` itself that holds every one of `names`.

    Files of one dataset come from one folder, never mixed across folders.

    Raises:
        InputError: no such folder, naming the files and the folders looked in.
    """
    root = require_dir(data_dir)
    candidates = [root / f for f in folders] + [root]
    for folder in candidates:
        if all((folder / name).is_file() for name in names):
            return folder
    raise InputError(
        f"{root}: no {dataset} data; looked for {', '.join(names)} in {', '.join(str(c) for c in candidates)}"
    )
