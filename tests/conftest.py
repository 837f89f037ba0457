"""Shared fixtures. Tests run on small files committed in tests/fixtures, never on ../shared."""

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def log_lines():
    """Captures loguru messages (the package logs through loguru, not `logging`)."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


def _benchmark_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_decoder_preset(tmp_path_factory) -> Path:
    """A 1-layer, 16-wide random Gemma preset folder with a SentencePiece vocabulary of the SST-2 fixture, the
    prompt template and the class names, written by benchmarks/tiny_decoder.py (as for experiments/llm_tiny.yaml)."""
    module = _benchmark_module("tiny_decoder")
    folder = tmp_path_factory.mktemp("tiny_decoder")
    module.write_preset(module.training_texts(["sst2"], str(FIXTURES / "sst2_tiny")), folder, vocabulary_size=150,
                        num_layers=1, hidden_dim=16)
    return folder


@pytest.fixture(scope="session")
def chinese_bert_preset(tmp_path_factory) -> Path:
    """A 1-layer, 8-wide random BERT preset folder on the characters of the ChnSentiCorp fixture's train
    texts, written by benchmarks/tiny_chinese_bert.py (which writes the larger one the benchmarks train)."""
    module = _benchmark_module("tiny_chinese_bert")
    folder = tmp_path_factory.mktemp("chinese_bert")
    texts = pd.read_csv(FIXTURES / "chnsenticorp_tiny" / "train.csv")["text"]
    module.write_preset(texts, folder, num_layers=1, hidden_dim=8, max_sequence_length=64)
    return folder


WORDS = ["the", "a", "film", "movie", "is", "good", "bad", "great", "not", "and", "it", "of"]


@pytest.fixture(scope="session")
def bert_preset(tmp_path_factory) -> Path:
    """A Keras preset folder of a 1-layer BERT with width 8 and a 17-word WordPiece vocabulary."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    folder = tmp_path_factory.mktemp("tiny_bert")
    keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
                                  intermediate_dim=16, max_sequence_length=32).save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocab).save_to_preset(str(folder))
    return folder


# Four tiny real runs, trained once per session by server_main.py in child processes, which the serving,
# evaluation and objectives tests share: English (IMDB, words), Chinese (Weibo, jieba, its emoticons filtered out;
# also evaluated on ChnSentiCorp with --eval-datasets), Chinese through an encoder (ChnSentiCorp, a character BERT,
# with the same filter) and English n-grams (IMDB, nbsvm); and an ensemble of the two IMDB runs by src/ensemble.py.
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


def _train_runs(out: Path, preset: Path, data_root: Path) -> dict[str, Path]:
    """Trains RUNS in child processes at once, to save start-up time, then ENSEMBLES: run name -> run folder."""
    from textclf.run_folders import newest_run

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    children = {name: subprocess.Popen(train_command(name, out, preset, data_root), cwd=ROOT, env=env,
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
def runs(tmp_path_factory, worker_id, chinese_bert_preset, data_root) -> dict[str, Path]:
    """Run name -> run folder, trained once per test session: under pytest-xdist the first worker to ask trains
    them in the folder all workers share, under a lock, and the others wait for its list (the tests only read
    the runs, or copy them)."""
    if worker_id == "master":
        return _train_runs(tmp_path_factory.mktemp("serving_runs"), chinese_bert_preset, data_root)
    shared = tmp_path_factory.getbasetemp().parent
    listing = shared / "serving_runs.json"
    with open(shared / "serving_runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the wait is a fixture's setup: pytest-timeout's 600 s bound it
        if not listing.exists():
            out = Path(tempfile.mkdtemp(prefix="serving_runs", dir=shared))  # a fresh folder if a try failed
            folders = _train_runs(out, chinese_bert_preset, data_root)
            listing.write_text(json.dumps({name: str(folder) for name, folder in folders.items()}))
    return {name: Path(folder) for name, folder in json.loads(listing.read_text()).items()}


@pytest.fixture(scope="session")
def test_splits(runs) -> dict[str, pd.DataFrame]:
    """Each run's test_predictions.csv: the test texts and the probabilities training gave them."""
    return {name: pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
            for name, run_dir in runs.items()}


@pytest.fixture(scope="session")
def predictors(runs):
    from textclf.serving.predictor import Predictor

    return {name: Predictor(run_dir) for name, run_dir in runs.items()}
