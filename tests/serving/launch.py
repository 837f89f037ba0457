"""serve.py in a child process on a free port, for the serving tests and benchmarks/serve_load.py."""

import contextlib
import os
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

SERVE = Path(__file__).resolve().parents[2] / "src" / "serve.py"
START_SECONDS = 300  # TensorFlow's start and the model's loading, on a 2-core machine busy with other runs


@contextlib.contextmanager
def running_server(run_dir: Path) -> Iterator[str]:
    """Serves `run_dir` with serve.py's default host and yields the base URL; stops the server on exit.

    Example:
        with running_server(Path("data/output/run_20261123_112112")) as url:
            urllib.request.urlopen(f"{url}/healthz")
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(SERVE), "--run", str(run_dir), "--port", "0"]  # no --host: tests see the default
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
            line = process.stdout.readline() if ready else ""  # "serving RUN on http://127.0.0.1:PORT"
            if " on http://" not in line:
                stderr.seek(0)
                raise RuntimeError(f"serve.py did not start within {START_SECONDS} s:\n{stderr.read()[-3000:]}")
            yield line.rsplit(" on ", 1)[1].strip()
        finally:
            process.terminate()
            process.wait(timeout=60)
