"""MirroredStrategy when the first batch splits unevenly between the replicas (issue 30): on 2 and on 7 logical
CPUs (the users' 7-GPU server), every family trains, evaluates, exports and serves what it tested. Keras builds a
distributed model from its first batch averaged across the replicas, which fails when their shares differ in
size; `training.keras_fixes` builds it from the first replica's share."""

import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

# One process per replica count: the logical CPUs are set before TensorFlow starts. Each family first runs with
# Keras' own build, to show that the data gives it a first batch that splits unevenly, then with the fix.
SCRIPT = """
import json, sys
import numpy as np, pandas as pd, tensorflow as tf
replicas, presets, dataset, out = json.loads(sys.argv[1])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
strategy = tf.distribute.MirroredStrategy([device.name for device in tf.config.list_logical_devices("CPU")])
from textclf import run
from textclf.config import RunConfig
from textclf.serving.predictor import Predictor
from textclf.training import keras_fixes

def config(model, output_dir):
    given = {"bert": {"preset": presets["bert"]}, "llm": {"preset": presets["llm"], "max_len": 128}}.get(model, {})
    return RunConfig(**{"dataset": dataset, "model": model, "epochs": 1, "batch_size": 64, "max_len": 16,
                        "output_dir": output_dir, **given})

models = ["text_cnn", "nbsvm", "bert", "llm"]
unfixed = {}
for model in models:
    try:
        run.run(config(model, out + "/unfixed"), "cmd", strategy, False)
        unfixed[model] = "trained"
    except tf.errors.InvalidArgumentError as error:
        unfixed[model] = "AddN" if "AddN" in str(error) and "same size and shape" in str(error) else str(error)[:300]
keras_fixes.build_from_local_batch()
fixed = {}
for model in models:
    row = pd.read_csv(run.run(config(model, out + "/fixed"), "cmd", strategy, False)).iloc[0]
    predictions = pd.read_csv(row["run_dir"] + "/test_predictions.csv")
    served = Predictor(row["run_dir"]).predict(predictions["text"].fillna("").tolist())
    history = pd.read_csv(row["run_dir"] + "/history.csv")
    fixed[model] = {"replicas": int(row["num_replicas"]), "test_size": int(row["test_size"]),
                    "finite": bool(np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()
                                   and np.isfinite(row["final_test_loss"])),
                    "served": float(np.max(np.abs(served - predictions.filter(like="p_").to_numpy())))}
print(json.dumps({"unfixed": unfixed, "fixed": fixed}))
"""


def _same_length_texts(path: Path) -> Path:
    """64 texts of the same six words in different orders: one length bucket for every family's tokenizer, so the
    splits of 51, 6 and 7 rows (80/10/10) are each one batch under a global batch of 64 x replicas. 51 rows split
    26 + 25 on 2 replicas and 8 x 6 + 3 on 7; validation's 6 leave one of 7 replicas with no row."""
    texts = [" ".join(words) for words in itertools.permutations(["good", "bad", "film", "movie", "great", "not"])]
    random.Random(0).shuffle(texts)
    labels = [int(text.index("good") < text.index("bad")) for text in texts[:64]]
    pd.DataFrame({"text": texts[:64], "label": labels}).to_csv(path, index=False)
    return path


REPLICAS = [2, 7]


@pytest.fixture(scope="module")
def uneven_children(tmp_path_factory, bert_preset, tiny_decoder_preset):
    """Replica count -> its child process running SCRIPT, all started at once: each is mostly single-threaded
    tracing, so the two overlap on 2 cores instead of following each other."""
    children = {}
    for replicas in REPLICAS:
        folder = tmp_path_factory.mktemp(f"uneven_{replicas}")
        argument = json.dumps([replicas, {"bert": str(bert_preset), "llm": str(tiny_decoder_preset)},
                               str(_same_length_texts(folder / "texts.csv")), str(folder)])
        children[replicas] = subprocess.Popen([sys.executable, "-c", SCRIPT, argument], cwd=ROOT, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    yield children
    for child in children.values():
        child.kill()
        child.communicate()


@pytest.mark.large
@pytest.mark.parametrize("replicas", REPLICAS)
def test_every_family_trains_evaluates_and_serves_when_the_first_batch_splits_unevenly(replicas, uneven_children):
    stdout, stderr = uneven_children[replicas].communicate(timeout=540)
    assert uneven_children[replicas].returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["unfixed"] == dict.fromkeys(["text_cnn", "nbsvm", "bert", "llm"], "AddN")
    for model, outcome in result["fixed"].items():
        assert outcome["replicas"] == replicas and outcome["test_size"] == 7, model
        assert outcome["finite"], model
        assert outcome["served"] == pytest.approx(0, abs=1e-5), model


def test_setup_strategy_applies_the_fix_for_every_strategy():
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from textclf.training import devices

    devices.setup_strategy(None)  # the default strategy: the fix changes nothing outside a distributed one
    assert TensorFlowTrainer._maybe_symbolic_build.builds_from_local_batch
