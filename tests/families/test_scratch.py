"""The scratch family: model settings from the run configuration, and what it refuses."""

import json

import keras
import pandas as pd
import pytest
import tensorflow as tf

from textclf import run
from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.families import scratch
from textclf.models import gru, text_cnn


@pytest.mark.large
def test_model_args_reach_the_builder_and_the_report(tmp_path, fixtures):
    config = RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny"), model="fasttext", epochs=1,
                       model_args={"embedding_dim": 3, "buckets": 7}, output_dir=str(tmp_path))
    row = pd.read_csv(run.run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    assert json.loads(row["config_model_args"]) == {"embedding_dim": 3, "buckets": 7}
    classifier = keras.saving.load_model(tmp_path / f"run_{row['timestamp']}" / "model.keras").classifier
    assert classifier.get_layer("token_embedding").output_dim == 3
    assert classifier.get_layer("bigram_embedding").input_dim == 7 + 1
    assert json.loads((tmp_path / f"run_{row['timestamp']}" / "config.json").read_text())["model_args"] == {
        "embedding_dim": 3, "buckets": 7}


@pytest.mark.parametrize("model, model_args, message", [
    ("lstm", {"unitz": 5}, "model lstm has no setting 'unitz'; its settings are embedding_dim, units"),
    ("transformer", {"max_len": 9}, "model_args max_len: a run setting (--max-len), not a model setting"),
    ("gru", {"freeze_embeddings": True}, "model_args freeze_embeddings: a run setting (--freeze-embeddings)"),
    ("text_cnn", {"kernel_sizes": 3}, "model_args kernel_sizes: 3 is not like its default (2, 3, 4)"),
    ("gru", {"dropout": True}, "model_args dropout: True is not like its default"),
])
def test_a_setting_the_builder_does_not_take_is_refused(model, model_args, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scratch.check(RunConfig(model=model, model_args=model_args))


def test_embedding_width_comes_from_the_vectors_not_a_model_arg():
    with pytest.raises(InputError, match="the --embeddings vectors set the embedding width"):
        scratch.check(RunConfig(model="gru", embeddings="glove.txt", model_args={"embedding_dim": 50}))
    scratch.check(RunConfig(model="text_cnn", model_args={"kernel_sizes": [2, 3], "dropout": 1, "l2": 0.001}))


def test_the_models_settings_are_its_defaults_with_model_args_over_them():
    settings = scratch.settings_of(RunConfig(model="text_cnn", model_args={"kernel_sizes": [2, 3], "filters": 8}))
    assert settings == text_cnn.Settings(filters=8, kernel_sizes=(2, 3))  # a YAML list stands for the tuple
    assert scratch.settings_of(RunConfig(model="gru")) == gru.Settings()


def test_a_run_without_model_args_keeps_the_fingerprint_it_had_before_them():
    # From the code before model_args existed: earlier runs still resume and matrices still skip them.
    assert RunConfig().fingerprint() == "83030e8202df"
    assert RunConfig(dataset="imdb", model="fasttext", max_len=7).fingerprint() == "a17eeebc2fff"
    assert RunConfig(model_args={"units": 5}).fingerprint() != RunConfig().fingerprint()
