"""Slow clients (issue 30, section 3): serve.py's waitress closes a connection whose request headers are not
complete `HeaderDeadlineChannel.header_seconds` after it opened or the request began, so clients that send one
header line now and then no longer lock a good request out. The server is serve.py's own start-up (`app.main`) with
a stand-in model, so no TensorFlow loads, and a 1 s deadline."""

import http.client
import os
import select
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from textclf.serving.app import CONNECTION_LIMIT

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 1.0
SERVE = """
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from textclf.serving import app, server

server.HeaderDeadlineChannel.header_seconds = float(sys.argv[1])
model = SimpleNamespace(run_dir=Path("stand_in_run"), class_names=["neg", "pos"],
                        predict=lambda texts: np.full((len(texts), 2), 0.5),
                        describe=lambda: {"model": "stand_in", "run": "stand_in_run", "dataset": "none"})
app.chosen_run = lambda args: model.run_dir
app.load_predictor = lambda run_dir: model
sys.exit(app.main(["--port", "0"]))
"""


@pytest.fixture(scope="module")
def address():
    """(host, port) of serve.py's server with a DEADLINE-second header deadline; stopped after the module."""
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(DEADLINE)], cwd=ROOT, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 60)
        line = server.stdout.readline() if ready else ""  # "serving stand_in_run on http://127.0.0.1:PORT"
        assert " on http://" in line, "serve.py did not start within 60 s"
        host, port = line.rsplit("//", 1)[1].strip().split(":")
        yield host, int(port)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _closed_after(connection: socket.socket, drip: bool, started: float, limit: float = 10) -> float:
    """Seconds from `started` (taken before connecting: the server's clock starts at its accept, which a busy
    client may only see later) until the server closes `connection`, which sends a header line every 0.2 s if
    `drip` (waitress' own channel_timeout, 30 s, restarts on every byte)."""
    connection.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            if connection.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        try:
            if drip:
                connection.sendall(b"X-Slow: 1\r\n")
        except OSError:  # reset: closed
            return time.monotonic() - started
    pytest.fail(f"the connection was still open after {limit} s")


@pytest.mark.parametrize("drip", [True, False], ids=["trickling headers", "nothing sent"])
def test_a_connection_without_complete_headers_is_closed_after_the_deadline(address, drip):
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as connection:
        if drip:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert DEADLINE <= _closed_after(connection, drip, started) < DEADLINE + 3  # the loop looks once a second


@pytest.mark.large
def test_a_keep_alive_connection_idle_between_requests_is_not_cut(address):
    connection = http.client.HTTPConnection(*address, timeout=10)
    for _ in range(2):
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Connection") != "close"
        response.read()
        time.sleep(DEADLINE + 1.5)  # waitress' channel_timeout (30 s) is what closes an idle connection
    connection.close()


def test_a_good_request_is_answered_while_slow_clients_hold_every_connection(address):
    with ExitStack() as slow:
        for _ in range(CONNECTION_LIMIT + 10):  # waitress holds CONNECTION_LIMIT; the rest wait in its backlog
            client = slow.enter_context(socket.create_connection(address, timeout=10))
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        started = time.monotonic()
        connection = http.client.HTTPConnection(*address, timeout=15)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        assert time.monotonic() - started < DEADLINE + 8
        connection.close()
