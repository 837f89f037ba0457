"""MultiWorkerMirroredStrategy from TF_CONFIG: the cluster's roles, Keras' `fit` over two worker processes on
127.0.0.1 with `multi_worker.patch_keras` (keras-team/keras issue 20585), and whole server_main runs over two
workers, of which the chief alone writes."""

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from textclf.errors import InputError
from textclf.serving.predictor import Predictor
from textclf.training import multi_worker
from textclf.training.devices import setup_strategy

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import json, sys
import numpy as np, tensorflow as tf
import keras
from textclf.training import multi_worker
from textclf.training.devices import setup_strategy

patch = sys.argv[1] == "patch"
if patch:
    multi_worker.patch_keras()
strategy = tf.distribute.MultiWorkerMirroredStrategy()
rows = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
labels = (rows[:, 0] > 0).astype("int32")
train = tf.data.Dataset.from_tensor_slices((rows, labels)).batch(16)  # the global batch: 8 rows per worker
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(train, epochs=2, verbose=0).history
print(json.dumps({"weights": [w.tolist() for w in model.get_weights()], "history": history,
                  "replicas": strategy.num_replicas_in_sync}))
"""


def _free_ports(count: int) -> list[int]:
    spec = importlib.util.spec_from_file_location("multi_worker_speed", ROOT / "benchmarks" / "multi_worker_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.free_ports(count)


def _launch(argv: list[str], logs: Path, tasks: int = 2) -> list[subprocess.Popen]:
    """Starts `argv` in `tasks` processes that form one cluster on 127.0.0.1 (TF_CONFIG: workers 0..tasks-1),
    each writing `logs/worker_<i>.out` and `.err`."""
    logs.mkdir(parents=True, exist_ok=True)
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(tasks)]
    workers = []
    for index in range(tasks):
        tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": tf_config, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}
        with open(logs / f"worker_{index}.out", "w") as out, open(logs / f"worker_{index}.err", "w") as err:
            workers.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err))
    return workers


def _finish(workers: list[subprocess.Popen], logs: Path, timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Waits for every worker, with a timeout (a worker still running then is killed), and reads its logs."""
    try:
        for worker in workers:
            worker.wait(timeout=timeout)
    finally:
        for worker in workers:
            worker.kill()
    return [subprocess.CompletedProcess(worker.args, worker.returncode, (logs / f"worker_{i}.out").read_text(),
                                        (logs / f"worker_{i}.err").read_text()) for i, worker in enumerate(workers)]


def _cluster(argv: list[str], tasks: int = 2, timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Runs `argv` as a cluster of `tasks` workers to the end (`_launch`, `_finish`)."""
    logs = Path(tempfile.mkdtemp(prefix="workers_"))
    try:
        return _finish(_launch(argv, logs, tasks), logs, timeout)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


@pytest.mark.large
def test_fit_runs_over_two_worker_processes_with_the_patch_and_both_end_with_the_same_weights():
    first, second = _cluster([sys.executable, "-c", WORKER, "patch"])
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    results = [json.loads(worker.stdout.strip().splitlines()[-1]) for worker in (first, second)]
    assert [result["replicas"] for result in results] == [2, 2]
    assert results[0]["weights"] == results[1]["weights"]  # one model, updated by the same all-reduced gradients
    assert results[0]["history"] == results[1]["history"]  # metrics averaged across the replicas on both
    assert np.isfinite(results[0]["history"]["loss"]).all() and results[0]["history"]["accuracy"][-1] > 0.5


@pytest.mark.large
def test_without_the_patch_keras_fit_fails_on_a_per_replica_batch():
    # The upstream failure this patch exists for: when keras fixes it, this test says the patch can go.
    first, _ = _cluster([sys.executable, "-c", WORKER, "plain"])
    assert first.returncode != 0
    assert "PerReplica" in first.stderr


BUCKETED = """
import json
import keras, numpy as np, tensorflow as tf
from textclf.data import pipeline, text
from textclf.training import multi_worker

multi_worker.patch_keras()
strategy = tf.distribute.MultiWorkerMirroredStrategy()
texts = [" ".join(["word"] * length) for length in range(1, 36)]  # 1 to 35 words: all four length buckets
vectorizer = text.make_vectorizer("word", 10)
vectorizer.adapt(texts)
shuffle = pipeline.EpochShuffle(0)
train = pipeline.make_dataset(texts, np.arange(35) % 2, vectorizer, max_len=40, truncate="post", global_batch=6,
                              shuffle=shuffle, replicas=2)
batches = [int(labels.shape[0]) for _, labels in train]


class Steps(keras.callbacks.Callback):  # the training steps this worker ran
    count = 0

    def on_train_batch_end(self, batch, logs=None):
        Steps.count += 1


with strategy.scope():
    model = keras.Sequential([keras.Input((None,)), keras.layers.Embedding(10, 4),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
model.fit(train, epochs=2, callbacks=[shuffle, Steps()], verbose=0)
print(json.dumps({"batches": batches, "steps": Steps.count}))
"""


@pytest.mark.large
def test_length_buckets_give_every_worker_the_same_steps_and_training_does_not_hang():
    # Whole batches dealt out to two workers would give one of them a step more whenever their number is odd,
    # and its collective would wait for the other forever: tf.distribute splits each global batch instead.
    first, second = _cluster([sys.executable, "-c", BUCKETED], timeout=240)
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    results = [json.loads(worker.stdout.strip().splitlines()[-1]) for worker in (first, second)]
    batches = results[0]["batches"]
    assert len(batches) % 2 == 1 and len(set(batches)) > 1  # an odd count of batches of several sizes
    assert [result["steps"] for result in results] == [2 * len(batches)] * 2  # both epochs, every batch


def _digest(stderr: str) -> str:
    (digest,) = re.findall(r"weights digest (\w+)", stderr)
    return digest


@pytest.mark.large
@pytest.mark.parametrize("family", ["scratch", "encoder", "decoder"])
def test_a_run_over_two_workers_trains_one_model_and_the_chief_alone_writes_it(request, tmp_path, fixtures, family):
    out = tmp_path / "out"
    if family == "decoder":  # LoRA on the projections and the label-word head
        data = ["--dataset", "sst2", "--data-dir", str(fixtures / "sst2_tiny"), "--model", "llm", "--preset",
                str(request.getfixturevalue("tiny_decoder_preset")), "--max-len", "128", "--lora-rank", "2",
                "--head", "label_words"]
    elif family == "scratch":
        # stacked_lstm: BatchNormalization, re-estimated before each validation (precise BN), and with a
        # weight average: equal digests say both saw the same statistics.
        data = ["--dataset", "sst2", "--data-dir", str(fixtures / "sst2_tiny"), "--model", "stacked_lstm",
                "--ema-momentum", "0.9"]
    else:
        data = ["--dataset", "chnsenticorp", "--data-dir", str(fixtures / "chnsenticorp_tiny"), "--model", "bert",
                "--preset", str(request.getfixturevalue("chinese_bert_preset")), "--max-len", "32"]
    chief, worker = _cluster([sys.executable, "src/server_main.py", *data, "--epochs", "2", "--batch-size", "8",
                              "--output-dir", str(out)])
    assert chief.returncode == 0, chief.stderr[-3000:]
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert _digest(chief.stderr) == _digest(worker.stderr)  # the final weights, equal on both
    (report,) = out.glob("training_report_*.csv")
    assert chief.stdout.strip() == str(report) and worker.stdout.strip() == ""
    assert [path.name for path in out.glob("run_*")] == [f"run_{report.stem.removeprefix('training_report_')}"]
    assert not (out / ".workers").exists()  # the other worker's folder is gone
    row = pd.read_csv(report).iloc[0]
    assert (row["num_replicas"], row["global_batch_size"]) == (2, 16)
    predictions = pd.read_csv(Path(row["run_dir"]) / "test_predictions.csv")
    served = Predictor(row["run_dir"]).predict(predictions["text"].fillna("").tolist())
    np.testing.assert_allclose(served, predictions.filter(like="p_").to_numpy(), atol=1e-6)  # gathered in order


@pytest.mark.large
def test_a_killed_worker_stops_the_job_and_all_workers_started_again_finish_it_from_the_backup(tmp_path, fixtures):
    out = tmp_path / "out"
    argv = [sys.executable, "src/server_main.py", "--dataset", "weibo", "--data-dir", str(fixtures / "weibo_tiny"),
            "--model", "text_cnn", "--epochs", "3", "--batch-size", "4", "--output-dir", str(out)]
    first = tmp_path / "first"
    chief, worker = workers = _launch(argv, first)
    try:
        deadline = time.monotonic() + 240
        while "Epoch 2/3" not in (first / "worker_1.err").read_text():  # epoch 1 and its backup are done
            assert time.monotonic() < deadline and worker.poll() is None, (first / "worker_1.err").read_text()[-3000:]
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        chief.wait(timeout=180)  # the chief's next collective fails: it stops rather than hangs
    finally:
        for process in workers:
            process.kill()
    lines = (first / "worker_0.err").read_text().strip().splitlines()
    assert chief.returncode == 1 and lines[-1].startswith("error: another worker of the job stopped (Unavailable")
    assert not list(out.glob("training_report_*.csv"))

    chief, worker = _finish(_launch(argv, tmp_path / "again"), tmp_path / "again")  # the job restarted
    assert chief.returncode == 0, chief.stderr[-3000:]
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert "resuming run" in chief.stderr and _digest(chief.stderr) == _digest(worker.stderr)
    assert "Epoch 1/3" not in chief.stderr  # epoch 1 came from the backup
    (report,) = out.glob("training_report_*.csv")
    assert len(list(out.glob("run_*"))) == 1 and not (out / ".workers").exists()
    row = pd.read_csv(report).iloc[0]
    assert row["epochs_run"] == 3 and len(pd.read_csv(Path(row["run_dir"]) / "history.csv")) == 3


@pytest.mark.large
def test_a_matrix_is_refused_under_a_cluster(tmp_path, fixtures):
    # Refused before any worker connects: one process with TF_CONFIG naming two tasks is enough.
    tf_config = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker",
                                                                                            "index": 0}})
    done = subprocess.run([sys.executable, "src/server_main.py", "--dataset", "sst2", "--data-dir",
                           str(fixtures / "sst2_tiny"), "--model", "fasttext,text_cnn", "--output-dir", str(tmp_path)],
                          cwd=ROOT, env={**os.environ, "TF_CONFIG": tf_config}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: a matrix runs its cells")
    assert not any(tmp_path.iterdir())


def test_the_patch_refuses_another_keras_version(monkeypatch):
    monkeypatch.setattr(keras, "version", lambda: "3.99.0")
    with pytest.raises(InputError, match=r"needs keras 3\.15\.1.*issues/20585.*this is keras 3\.99\.0"):
        multi_worker.patch_keras()


@pytest.mark.parametrize(("tf_config", "tasks", "chief"), [
    (None, 0, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, 2, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, 2, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, 3, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, 2, True),
])
def test_the_chief_is_the_chief_task_or_worker_0(monkeypatch, tf_config, tasks, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    config = multi_worker.cluster()
    assert (multi_worker.task_count(config), multi_worker.is_chief(config)) == (tasks, chief)


@pytest.mark.parametrize("raw", ["not json", '{"cluster": {"worker": ["a:1"]}}',
                                 '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'])
def test_an_unreadable_tf_config_is_one_clear_error(monkeypatch, raw):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(InputError, match="TF_CONFIG is not a cluster with this task in it"):
        multi_worker.cluster()


@pytest.mark.parametrize(("devices", "strategy", "tf_config", "message"), [
    (None, "multi_worker", None, "--strategy multi_worker needs TF_CONFIG naming the cluster's tasks"),
    (2, "multi_worker", {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}},
     "--devices 2 with --strategy multi_worker on a CPU: each worker process is one replica"),
    (2, "one_device", None, "--devices 2 with --strategy one_device"),
])
def test_a_strategy_that_cannot_be_set_up_is_one_clear_error(monkeypatch, devices, strategy, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config) if tf_config else "")
    with pytest.raises(InputError, match=re.escape(message)):
        setup_strategy(devices, strategy)
