"""One trained model, five ways in, the same probabilities for the same English and Chinese texts:
the training process (test_predictions.csv), model.keras, the SavedModel's `serve` signature,
the web API and predict.py; for word models and for an encoder (its subword tokenizer inside)."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf.data import text
from textclf.models import nbsvm
from textclf.models.blocks import RunInputs
from textclf.models.registry import MODELS, builder_for
from textclf.serving.app import create_app

SRC = Path(__file__).resolve().parents[2] / "src"

RUN_NAMES = ["imdb", "weibo", "chnsenticorp_bert", "imdb_nbsvm"]
SERVED = [*RUN_NAMES, "imdb_ensemble"]  # an ensemble is served as a run is; it has no training or calibration
ATOL = 1e-6  # the same float32 model; only the batching differs (measured differences are below 1e-7)


def probabilities(frame) -> np.ndarray:
    return frame.filter(regex="^p_").to_numpy(dtype=np.float64)


def prepared(predictor, frame) -> tf.Tensor:
    """The texts as the exported models take them: after jieba for a Chinese word run."""
    return tf.constant(text.prepare(frame["text"].tolist(), predictor.config["tokenizer"]))


@pytest.mark.large
@pytest.mark.parametrize("name", SERVED)
def test_keras_file(name, runs, test_splits, predictors):
    model = keras.saving.load_model(runs[name] / "model.keras")
    got = model(prepared(predictors[name], test_splits[name])).numpy()
    np.testing.assert_allclose(got, probabilities(test_splits[name]), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", SERVED)
def test_saved_model_serve_signature(name, runs, test_splits, predictors):
    serve = tf.saved_model.load(str(runs[name] / "saved_model")).signatures["serve"]
    (got,) = serve(texts=prepared(predictors[name], test_splits[name])).values()
    np.testing.assert_allclose(got.numpy(), probabilities(test_splits[name]), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", SERVED)
def test_web_api(name, test_splits, predictors):
    frame, predictor = test_splits[name], predictors[name]
    client = create_app(predictor).test_client()
    batch = client.post("/api/predict", json={"texts": frame["text"].tolist()}).json["predictions"]
    single = [client.post("/api/predict", json={"text": t}).json["predictions"][0] for t in frame["text"][:5]]
    for answers, expected in ((batch, frame), (single, frame[:5])):
        got = [[answer["probabilities"][name] for name in predictor.class_names] for answer in answers]
        np.testing.assert_allclose(got, probabilities(expected), rtol=0, atol=ATOL)
        assert [answer["label"] for answer in answers] == expected["predicted"].tolist()


@pytest.mark.large
@pytest.mark.parametrize("name", SERVED)
def test_predict_py(name, runs, test_splits, predict_py, tmp_path):
    output = tmp_path / "predicted.csv"
    output.write_text("an earlier output\n")
    # test_predictions.csv as input: its predicted and p_ columns are replaced by predict.py's own
    done = predict_py("--run", runs[name], "--input", runs[name] / "test_predictions.csv",
                      "--text-column", "text", "--output", output, "--overwrite")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(output)
    written = pd.read_csv(output, dtype={"text": str}, keep_default_na=False)
    expected = test_splits[name]
    assert list(written.columns) == list(expected.columns)
    assert written[["text", "label", "predicted"]].equals(expected[["text", "label", "predicted"]])
    np.testing.assert_allclose(probabilities(written), probabilities(expected), rtol=0, atol=ATOL)


@pytest.mark.large
def test_every_models_custom_layers_load_in_a_serving_process():
    """serve.py and predict.py import only the serving package: it must register every layer a run can hold."""
    names = set()
    for name in (name for name, family in MODELS.items() if family == "scratch"):
        model = builder_for(name)(RunInputs(50, 3, max_len=20))
        names |= {keras.saving.get_registered_name(type(layer)) for layer in model.layers}
    model = nbsvm.nbsvm(RunInputs(50, 3, max_len=20), nbsvm.Settings(), np.zeros((50, 3)))
    names |= {keras.saving.get_registered_name(type(layer)) for layer in model.layers}
    encoder_run = {"textclf>TextPacker", "textclf>EncoderRawTextClassifier"}  # what an encoder run's model holds
    encoder_run |= {"textclf>EnsembleClassifier"}  # an ensemble run's
    custom = sorted(n for n in names | encoder_run if n.startswith("textclf>"))
    assert {"textclf>MaskedConv1D", "textclf>BigramHashing", "textclf>NBLinear", "textclf>TransformerBlock"} <= set(custom)
    check = ("import sys, keras, textclf.serving.predictor; "
             "print(' '.join(n for n in sys.argv[1:] if keras.saving.get_registered_object(n) is None))")
    done = subprocess.run([sys.executable, "-c", check, *custom], env={**os.environ, "PYTHONPATH": str(SRC)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"not registered in a serving process: {done.stdout.strip()}"


@pytest.mark.parametrize("name", ["weibo", "chnsenticorp_bert"])
def test_the_text_filter_runs_inside_the_exported_model_as_in_training(name, runs, predictors):
    texts = ["今天真开心", "差到一定程度了", "这本书实在太烂了"]
    with_emoticons = [f"{t}[哈哈]" if i % 2 else f"[泪]{t}[good]" for i, t in enumerate(texts)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(runs[name] / "model.keras")
    assert not [w for w in caught if "build" in str(w.message)]  # no build from a float shape on loading
    for model in (predictors[name], loaded):
        predict = model.predict if model is predictors[name] else (
            lambda batch: model(tf.constant(text.prepare(batch, predictors[name].config["tokenizer"]))).numpy())
        np.testing.assert_allclose(predict(with_emoticons), predict(texts), atol=ATOL)
    unfiltered = predictors["imdb"].predict(["a fine film", "a fine film [good]"])
    assert not np.allclose(unfiltered[0], unfiltered[1], atol=ATOL)  # without the filter, the bracket is read


def test_a_filtered_run_learnt_no_emoticon(predictors):
    # Every text of the Weibo fixture holds an emoticon, so unfiltered "[" and "]" would be among the most frequent
    # jieba tokens. Filtered before the vocabulary, "]" is gone and "[" is rare: one text ends in a cut "[鼓掌".
    vocabulary = predictors["weibo"].model.vectorizer.get_vocabulary()
    assert len(vocabulary) > 100 and "]" not in vocabulary
    assert (vocabulary.index("[") if "[" in vocabulary else len(vocabulary)) > 100  # ordered by frequency


@pytest.mark.parametrize("name", RUN_NAMES)
def test_the_report_scores_the_calibrated_probabilities_that_are_served(name, runs, test_splits, predictors):
    row = pd.read_csv(next(runs[name].parent.glob("training_report_*.csv"))).iloc[0]
    served = predictors[name].predict(test_splits[name]["text"].tolist())
    names = predictors[name].class_names
    labels = test_splits[name]["label"].map(names.index).to_numpy()
    loss = -np.log(np.maximum(served[np.arange(len(labels)), labels], 1e-7)).mean()
    assert row["temperature"] > 0 and row["final_test_loss"] == pytest.approx(loss, rel=1e-4)
    assert predictors[name].model.classifier.get_layer("temperature_scaling").temperature == pytest.approx(
        row["temperature"])
    assert {"uncalibrated_test_loss", "test_ece", "uncalibrated_test_ece", "test_brier"} <= set(row.index)
    assert (runs[name] / "reliability.png").read_bytes().startswith(b"\x89PNG")
