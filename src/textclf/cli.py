"""`server_main.py`'s body: parse, run one config or a matrix, bad input -> one line and exit 2."""

import shlex
import sys

from textclf.config import Command, as_command, parse_args
from textclf.errors import exit_code
from textclf.logs import log_to_stderr


def _main(command: Command, line: str) -> int:
    from textclf import matrix, run  # import TensorFlow: after the flags are known to be good
    from textclf.training import devices

    if not matrix.is_matrix(command):
        strategy, on_gpu = devices.setup_strategy(command.config.devices)  # before anything touches a device
        print(run.run(command.config, line, strategy, on_gpu))
        return 0
    configs = matrix.cells(command)
    matrix.validate(configs)
    strategy, on_gpu = devices.setup_strategy(configs[0].devices)
    # Run again, a matrix skips the cells that already have a report in --output-dir.
    out_dir, failed = matrix.run_matrix(
        configs, lambda c: run.run(c, as_command(c), strategy, on_gpu, reuse_finished=True), line
    )
    print(out_dir)
    return 1 if failed else 0  # the leaderboard names the failed runs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = parse_args(argv)  # argparse itself exits 2 on a bad flag
    log_to_stderr()
    line = shlex.join([sys.executable, "src/server_main.py", *argv])
    try:
        return exit_code(_main, command, line)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last finished epoch", file=sys.stderr)
        return 130
