"""`server_main.py`'s body: parse, run, turn bad input into one line and exit code 2."""

import shlex
import sys

from loguru import logger

from textclf.config import parse_args
from textclf.errors import InputError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_args(argv)  # argparse itself exits 2 on a bad flag
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss} | {level: <7} | {message}")
    from textclf.run import run  # imports TensorFlow: after the flags are known to be good

    command = shlex.join([sys.executable, "src/server_main.py", *argv])
    try:
        path = run(config, command)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last finished epoch", file=sys.stderr)
        return 130
    print(path)
    return 0
