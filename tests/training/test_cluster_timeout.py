"""A multi-worker job's start (issue 30, section 3): a worker whose peers do not answer within
TEXTCLF_CLUSTER_TIMEOUT names them in one `error:` line and exits, a peer that starts late within it still joins,
and SIGTERM ends a worker while it waits and once the cluster is up (TensorFlow's own SIGTERM handler only
records the signal)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from textclf.errors import InputError
from textclf.training import multi_worker

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import sys, time
import tensorflow as tf
from textclf.training.devices import setup_strategy

strategy, _ = setup_strategy(None, "multi_worker")
total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
print(f"replicas {strategy.num_replicas_in_sync} sum {float(total)}", flush=True)
time.sleep(600)  # until the test's SIGTERM
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(addresses: list[str], index: int, timeout: float | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_CONFIG": json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})}
    env.pop("TEXTCLF_CLUSTER_TIMEOUT", None)
    if timeout is not None:
        env["TEXTCLF_CLUSTER_TIMEOUT"] = str(timeout)
    return env


def _train(fixtures: Path, output_dir: Path) -> list[str]:
    return [sys.executable, "src/server_main.py", "--dataset", "sst2", "--data-dir", str(fixtures / "sst2_tiny"),
            "--model", "fasttext", "--epochs", "1", "--strategy", "multi_worker", "--output-dir", str(output_dir)]


def _wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float = 120):
    """Waits until `text` appears in the file `path` that `process` writes."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert process.poll() is None, path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s"
        time.sleep(0.2)


def _stops_on_sigterm(process: subprocess.Popen, within: float = 10) -> int:
    """The exit status of `process` after a SIGTERM (it is killed if still running `within` seconds later)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"SIGTERM did not end the worker within {within} s")


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "inf", "nan"])
def test_an_unusable_cluster_timeout_is_one_clear_error(monkeypatch, raw):
    monkeypatch.setenv("TEXTCLF_CLUSTER_TIMEOUT", raw)
    with pytest.raises(InputError, match="TEXTCLF_CLUSTER_TIMEOUT"):
        multi_worker.cluster_timeout()


def test_the_cluster_timeout_defaults_to_a_few_minutes(monkeypatch):
    monkeypatch.delenv("TEXTCLF_CLUSTER_TIMEOUT", raising=False)
    assert multi_worker.cluster_timeout() == 300
    monkeypatch.setenv("TEXTCLF_CLUSTER_TIMEOUT", "2.5")
    assert multi_worker.cluster_timeout() == 2.5


@contextlib.contextmanager
def _peer(kind: str) -> Iterator[str]:
    """The address of a peer that is not a worker: a port where `nothing listens`, one that `never answers` (the
    kernel accepts, nobody speaks), or one that `answers but never joins` (a byte, as a worker's greeting)."""
    if kind == "nothing listens":
        yield f"127.0.0.1:{_free_port()}"
        return
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.2)
        answering = threading.Thread(target=multi_worker._greet, args=(listener, stop))  # as a waiting worker greets
        if kind == "answers but never joins":
            answering.start()
        try:
            yield f"127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            if answering.is_alive():
                answering.join()  # before the listener closes under its accept()


@pytest.mark.parametrize("kind, says", [("nothing listens", "no answer from worker 1 ({})"),
                                        ("never answers", "no answer from worker 1 ({})"),
                                        ("answers but never joins", "worker 1 ({}) answered but did not join")])
def test_a_worker_whose_peer_does_not_join_names_it_and_exits_within_the_timeout(tmp_path, fixtures, kind, says):
    with _peer(kind) as address:
        started = time.monotonic()
        done = subprocess.run(_train(fixtures, tmp_path), cwd=ROOT, env=_env([f"127.0.0.1:{_free_port()}", address],
                              0, timeout=3), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert says.format(address) in errors[0] and "within 3 s" in errors[0], errors[0]
    assert time.monotonic() - started < 60
    assert not list(tmp_path.iterdir())  # no run folder claimed


@pytest.mark.large
def test_sigterm_ends_a_worker_while_it_waits_for_its_cluster(tmp_path, fixtures):
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as err:
        worker = subprocess.Popen(_train(fixtures, tmp_path / "runs"), cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=err, env=_env([f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"], 0))
    _wait_for(stderr, "TF_CONFIG: worker 0 of 2 tasks", worker)
    time.sleep(3)  # well into the wait for worker 1, which never starts
    assert _stops_on_sigterm(worker) == -signal.SIGTERM


@pytest.mark.large
def test_a_peer_starting_late_within_the_timeout_joins_and_sigterm_then_ends_each_worker(tmp_path):
    addresses = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    workers = []
    try:
        for index in range(2):
            out = tmp_path / f"worker_{index}.out"
            with open(out, "w") as stdout, open(tmp_path / f"worker_{index}.err", "w") as stderr:
                workers.append(subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, stdout=stdout,
                                                stderr=stderr, env=_env(addresses, index, timeout=60)))
            if index == 0:
                _wait_for(tmp_path / "worker_0.err", "TF_CONFIG: worker 0 of 2 tasks", workers[0])
                time.sleep(5)  # worker 1 starts while worker 0 waits for it
        for index, worker in enumerate(workers):
            _wait_for(tmp_path / f"worker_{index}.out", "replicas 2 sum 2.0", worker)
        assert [_stops_on_sigterm(worker) for worker in workers] == [-signal.SIGTERM] * 2
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
