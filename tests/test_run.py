"""One run in process: options that change what the run builds."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf.config import RunConfig
from textclf.run import run


def test_pretrained_embeddings_are_used_and_kept_frozen(tmp_path, fixtures):
    vectors = {"movie": [0.5, -0.5, 0.25], "film": [0.1, 0.2, 0.3], "good": [1.0, 0.0, -1.0]}
    glove = tmp_path / "tiny.glove.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model="lstm", epochs=1, batch_size=16,
                       embeddings=str(glove), freeze_embeddings=True, output_dir=str(tmp_path / "out"))
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    run_dir = tmp_path / "out" / f"run_{row['timestamp']}"
    assert 0 < row["embedding_coverage"] <= 3 / 100  # 3 words of a vocabulary of about a hundred or more
    model = keras.saving.load_model(run_dir / "model.keras")
    vocabulary = model.vectorizer.get_vocabulary()
    table = model.classifier.get_layer("token_embedding").embeddings.numpy()
    for word, vector in vectors.items():
        assert np.allclose(table[vocabulary.index(word)], vector)  # frozen: still the file's vector
    assert json.loads((run_dir / "config.json").read_text())["freeze_embeddings"] is True


@pytest.mark.parametrize(("model", "given", "expected"), [
    ("fasttext", {}, {"learning_rate": 1e-2, "ema_momentum": 0.0}),
    ("fasttext", {"learning_rate": 3e-4, "ema_momentum": 0.9}, {"learning_rate": 3e-4, "ema_momentum": 0.9}),
    ("stacked_lstm", {}, {"learning_rate": 1e-3, "ema_momentum": 0.99}),
    ("stacked_lstm", {"ema_momentum": 0.0}, {"learning_rate": 1e-3, "ema_momentum": 0.0}),
])
def test_a_model_sets_its_run_defaults_unless_the_user_does(tmp_path, fixtures, model, given, expected):
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model=model, epochs=1,
                       output_dir=str(tmp_path), **given)
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    assert row["peak_learning_rate"] == pytest.approx(expected["learning_rate"])
    written = json.loads((tmp_path / f"run_{row['timestamp']}" / "config.json").read_text())
    assert {k: written[k] for k in expected} == expected
