"""Four tiny real runs, trained once per session by server_main.py in child processes: English (IMDB,
words), Chinese (Weibo, jieba, its emoticons filtered out; also evaluated on ChnSentiCorp with --eval-datasets),
Chinese through an encoder (ChnSentiCorp, a character BERT, with the same filter) and English n-grams (IMDB,
nbsvm); an ensemble of the two IMDB runs by src/ensemble.py; and what the serving and evaluation tests share
about them."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from textclf.run_folders import newest_run

ROOT = Path(__file__).resolve().parents[2]
# Each run's flags: an English and a Chinese word run, and a Chinese encoder run on a character BERT.
# DATA_ROOT: a folder laid out as ../shared/data, for the run that also evaluates on another dataset.
RUNS = {
    "imdb": ["--dataset", "imdb", "--data-dir", "tests/fixtures/imdb_tiny", "--model", "lstm"],
    "weibo": ["--dataset", "weibo", "--data-dir", "DATA_ROOT", "--model", "lstm", "--eval-datasets", "chnsenticorp",
              "--text-filter", "emoticons"],
    "chnsenticorp_bert": ["--dataset", "chnsenticorp", "--data-dir", "tests/fixtures/chnsenticorp_tiny",
                          "--model", "bert", "--max-len", "32", "--text-filter", "emoticons"],
    "imdb_nbsvm": ["--dataset", "imdb", "--data-dir", "tests/fixtures/imdb_tiny", "--model", "nbsvm"],
}
# An ensemble of two of the runs above (same dataset, split and seed), written by src/ensemble.py.
ENSEMBLES = {"imdb_ensemble": ("imdb", "imdb_nbsvm")}


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """The Weibo and ChnSentiCorp fixtures under their datasets' names, as in ../shared/data."""
    root = tmp_path_factory.mktemp("data")
    for dataset in ("weibo", "chnsenticorp"):
        (root / dataset).symlink_to(ROOT / "tests" / "fixtures" / f"{dataset}_tiny")
    return root


def train_command(name: str, out: Path, preset: Path, data_root: Path) -> list[str]:
    flags = [str(data_root) if flag == "DATA_ROOT" else flag for flag in RUNS[name]]
    flags += ["--preset", str(preset)] if "bert" in name else []
    return [sys.executable, "src/server_main.py", *flags, "--epochs", "1", "--batch-size", "16",
            "--output-dir", str(out / name), "--cache-dir", str(out / "cache" / name)]


@pytest.fixture(scope="session")
def runs(tmp_path_factory, chinese_bert_preset, data_root) -> dict[str, Path]:
    """Run name -> run folder; all trained at once, to save start-up time."""
    out = tmp_path_factory.mktemp("serving_runs")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    children = {name: subprocess.Popen(train_command(name, out, chinese_bert_preset, data_root), cwd=ROOT, env=env,
                                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for name in RUNS}
    for child in children.values():
        _, stderr = child.communicate(timeout=600)
        assert child.returncode == 0, stderr[-3000:]
    folders = {name: newest_run(out / name) for name in RUNS}
    for name, members in ENSEMBLES.items():
        done = subprocess.run([sys.executable, "src/ensemble.py", "--runs", *(str(folders[m]) for m in members),
                               "--output-dir", str(out / name)], cwd=ROOT, env=env, text=True, capture_output=True,
                              timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        folders[name] = newest_run(out / name)
    return folders


@pytest.fixture(scope="session")
def test_splits(runs) -> dict[str, pd.DataFrame]:
    """Each run's test_predictions.csv: the test texts and the probabilities training gave them."""
    return {name: pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
            for name, run_dir in runs.items()}


@pytest.fixture(scope="session")
def predictors(runs):
    from textclf.serving.predictor import Predictor

    return {name: Predictor(run_dir) for name, run_dir in runs.items()}


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
