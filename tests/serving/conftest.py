"""What the serving tests share: the Chinese run's app, a real serve.py serving it, and predict.py in a child process.
The trained runs they serve are tests/conftest.py's `runs`."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def client(predictors):
    """A Flask test client of the Chinese run's app."""
    from textclf.serving.app import create_app

    return create_app(predictors["weibo"]).test_client()


@pytest.fixture(scope="session")
def server_url(runs):
    """The base URL of a real serve.py (waitress) serving the Chinese run."""
    from launch import running_server  # tests/serving/launch.py

    with running_server(runs["weibo"]) as url:
        yield url


@pytest.fixture(scope="session")
def api(server_url):
    """POSTs a JSON payload to the real server's /api/predict; returns (status, parsed JSON body)."""

    def post(payload) -> tuple[int, dict]:
        request = urllib.request.Request(f"{server_url}/api/predict", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    return post


@pytest.fixture(scope="session")
def predict_py():
    """Runs src/predict.py with the given arguments in a child process, as a user would."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "src/predict.py", *map(str, args)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    return run
