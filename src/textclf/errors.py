"""The one exception the command line turns into a one-line error and exit code 2."""

import sys
from collections.abc import Callable


class InputError(Exception):
    """Bad input from the user: a missing file, an unknown name, an unusable table.

    Raised anywhere in the package; every entry point's `main` runs its body through
    `exit_code`, which prints the message on one line and returns exit code 2, so users
    never see a traceback for their own mistakes.
    """


def exit_code(command: Callable[..., int], *args) -> int:
    """Runs a command's body and returns its exit code; an `InputError` becomes one
    `error: ...` line on stderr and exit code 2.

    Example: `sys.exit(exit_code(compare, args))` in an entry point's `main`.
    """
    try:
        return command(*args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
