"""The one stderr log of every command: server_main.py, serve.py and predict.py."""

import sys

from loguru import logger


def log_to_stderr() -> None:
    """Replaces loguru's default sink with one line per message on stderr.

    A logged exception keeps its traceback but not the values of its variables (loguru's
    `diagnose`) nor the frames above the handler (`backtrace`): in the web server those
    values are other users' texts, and in training they are whole tensors.
    """
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss} | {level: <7} | {message}",
               backtrace=False, diagnose=False)
