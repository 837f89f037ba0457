"""The ngram family (nbsvm): its refusals, and a run that counts the ratios on train, exports and serves."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf import run
from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.families import ngram


@pytest.mark.parametrize("settings, message", [
    ({"truncate": "pre"}, "keeps the first --max-len"),
    ({"objective": "rdrop"}, "nbsvm is one linear layer"),
    ({"model_args": {"ratios": [1]}}, "model nbsvm has no setting 'ratios'"),  # counted on the training split
    ({"model_args": {"units": 5}}, "its settings are ngrams, alpha, offset, l2"),
    ({"model_args": {"ngrams": 0}}, "ngrams: expected at least 1"),
])
def test_refusals(settings, message):
    with pytest.raises(InputError, match=message):
        ngram.check(RunConfig(model="nbsvm", **settings))


@pytest.mark.large
def test_a_run_counts_ratios_on_train_and_serves_raw_text(tmp_path, fixtures):
    config = RunConfig(dataset="r8", data_dir=str(fixtures / "r8_tiny"), model="nbsvm", epochs=2, batch_size=16,
                       model_args={"ngrams": 2}, output_dir=str(tmp_path))
    row = pd.read_csv(run.run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    run_dir = tmp_path / f"run_{row['timestamp']}"
    served = keras.saving.load_model(run_dir / "model.keras")
    vocabulary = served.vectorizer.get_vocabulary()
    assert any(" " in token for token in vocabulary) and not any(token.count(" ") > 1 for token in vocabulary)
    ratios = served.classifier.get_layer("nb_linear").ratios.numpy()
    assert ratios.shape == (len(vocabulary), 8) and np.abs(ratios[2:]).sum() > 0
    predictions = pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
    np.testing.assert_allclose(served(tf.constant(predictions["text"].tolist())).numpy(),
                               predictions.filter(regex="^p_").to_numpy(), atol=1e-6)
