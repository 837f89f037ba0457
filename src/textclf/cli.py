"""`server_main.py`'s body: parse, run one config or a matrix, bad input -> one line and exit 2."""

import shlex
import sys
from pathlib import Path

from textclf.config import Command, as_command, parse_args
from textclf.data import embeddings
from textclf.errors import InputError, exit_code
from textclf.families.encoder import DEFAULT_VIRTUAL_TOKENS
from textclf.files import check_output_dir
from textclf.logs import log_to_stderr
from textclf.models.registry import default_texts, members


def _run_cell(command: Command, config, line: str, strategy, on_gpu: bool, *, reuse_finished: bool) -> Path | None:
    """Runs one cell; an ensemble's (`--model a+b`) trains its members, or reuses their finished runs, then combines
    them. Returns the report (None on a multi-worker job's workers but the chief)."""
    from textclf import matrix, run

    if not members(config.model):
        return run.run(config, line, strategy, on_gpu, reuse_finished=reuse_finished)
    reports = [run.run(member, as_command(member), strategy, on_gpu, reuse_finished=True)
               for member in matrix.member_cells(command, config)]
    if None in reports:
        return None
    import pandas as pd

    from textclf import ensemble

    run_dirs = [Path(pd.read_csv(path).iloc[0]["run_dir"]) for path in reports]
    return ensemble.combine(run_dirs, output_dir=Path(config.output_dir), command=line, reuse_finished=reuse_finished)


def _main(command: Command, line: str) -> int:
    from textclf import matrix  # no TensorFlow yet: bad names and folders are answered in a second

    configs = matrix.cells(command)
    matrix.validate(configs)
    if command.tune:
        _check_tune(command, configs)
    if not command.emit_jobs:  # a job's folders and files are the cluster's, not this machine's
        for output_dir in {config.output_dir for config in configs}:
            check_output_dir(output_dir)
        for path in {config.embeddings for config in configs if config.embeddings}:
            embeddings.check_file(path)
    import tensorflow as tf

    from textclf import run  # imports TensorFlow
    from textclf.training import devices, multi_worker

    for config in configs:  # a setting the model does not take fails before the first run (or job), not in its cell
        for cell in matrix.member_cells(command, config) if members(config.model) else [config]:
            run.check(cell)
    if command.emit_jobs:  # a cluster runs them: nothing trains here
        from textclf import jobs

        template = Path(command.job_template or jobs.TEMPLATES["tune" if command.tune else "runs"])
        paths = (jobs.emit_tuning_job(command, Path(command.emit_jobs), template) if command.tune
                 else jobs.emit_jobs(configs, Path(command.emit_jobs), template))
        for path in paths:
            print(path)
        return 0

    if command.tune:
        from textclf.tuning.search import tune  # KerasTuner

        print(tune(command, line))
        return 0
    if not matrix.is_matrix(command):
        # before anything touches a device
        strategy, on_gpu = devices.setup_strategy(command.config.devices, command.config.strategy)
        try:
            report = _run_cell(command, command.config, line, strategy, on_gpu, reuse_finished=False)
        except multi_worker.PEER_FAILURES as error:
            if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                raise
            print(f"error: {multi_worker.peer_failure_message(error)}", file=sys.stderr)
            return 1
        if report is not None:  # None: a worker that is not the chief
            print(report)
        return 0
    if devices.resolve_strategy(configs[0].strategy) == "multi_worker":
        raise InputError("a matrix runs its cells one after another in one process; on a cluster, run each cell "
                         "as a job of its own (its command is in the cell's report, `command`)")
    strategy, on_gpu = devices.setup_strategy(configs[0].devices, configs[0].strategy)
    # Run again, a matrix skips the cells that already have a report in --output-dir.
    out_dir, failed = matrix.run_matrix(
        configs, lambda c: _run_cell(command, c, as_command(c), strategy, on_gpu, reuse_finished=True), line
    )
    print(out_dir)
    return 1 if failed else 0  # the leaderboard names the failed runs


def _check_tune(command: Command, configs: list) -> None:
    """--tune searches each model of the matrix on each dataset, here, then trains the best over the seeds."""
    if ensembles := sorted({config.model for config in configs if members(config.model)}):
        raise InputError(f"--tune searches one model's settings; tune each member of {ensembles[0]} on its own")
    if command.tune_parallel > 1 and (configs[0].devices or configs[0].strategy == "multi_worker"):
        raise InputError("--tune-parallel gives each trial its share of the GPUs; it takes neither --devices nor "
                         "--strategy multi_worker")
    if command.tune_space:
        from textclf.tuning import read_space  # a file that cannot be read: one line before TensorFlow starts

        read_space(command.tune_space)


def help_defaults() -> dict[str, str]:
    """What an unset flag becomes, as the modules that decide it say, for --help: the models' run defaults
    (`models.registry`) and the encoder family's soft-prompt length."""
    return {**default_texts(), "virtual_tokens": f"{DEFAULT_VIRTUAL_TOKENS} with --peft"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = parse_args(argv, help_defaults())  # argparse itself exits 2 on a bad flag
    log_to_stderr()
    line = shlex.join([sys.executable, "src/server_main.py", *argv])
    try:
        return exit_code(_main, command, line)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last finished epoch", file=sys.stderr)
        return 130
