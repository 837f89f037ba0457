"""The search space: each family's default, changed by --tune-space, resolved against the run and checked."""

import pytest

from textclf import families, run
from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.models.registry import family_of
from textclf.tuning import Dimension, apply, dimensions


def _space(given=None, **settings) -> dict[str, Dimension]:
    config = RunConfig(dataset="imdb", **settings)
    model_settings = families.family(family_of(config.model)).model_settings(config)
    return {d.name: d for d in dimensions(config, run.resolved(config), given or {}, "space.yaml", model_settings,
                                          run.check)}


def test_a_scratch_models_default_space_is_resolved_against_the_run():
    space = _space(model="gru")
    resolved = run.resolved(RunConfig(dataset="imdb", model="gru"))
    assert list(space) == ["learning_rate", "max_len", "vocab_size", "model_args.embedding_dim", "model_args.units",
                           "model_args.dropout"]
    assert space["max_len"].values == (resolved.max_len // 2, resolved.max_len, resolved.max_len * 2)
    assert space["model_args.units"].values == (64, 128, 256)  # gru's 128, halved and doubled
    assert space["learning_rate"] == Dimension("learning_rate", "float", low=3e-4, high=3e-2, log=True)
    assert space["model_args.dropout"].step == 0.1


def test_a_default_range_on_a_setting_the_model_lacks_is_left_out():
    assert "model_args.dropout" not in _space(model="lstm")  # lstm has no dropout
    assert "model_args.units" not in _space(model="stacked_lstm")  # a pair of widths: nothing to multiply
    assert set(_space(model="nbsvm")) == {"model_args.ngrams", "vocab_size"}


def test_lora_ranges_only_with_lora(bert_preset):
    assert "lora_rank" not in _space(model="bert", preset=str(bert_preset))
    lora = _space(model="bert", preset=str(bert_preset), lora_rank=8)
    assert lora["lora_rank"].values == (4, 8, 16) and lora["lora_alpha"].values == (8, 16, 32)


def test_a_students_loss_settings_are_searched_only_with_a_teacher(tmp_path):
    assert not {"distil_alpha", "distil_temperature"} & set(_space(model="gru"))
    for name in ("model.keras", "config.json", "classes.json"):  # a finished run folder, as run.check sees one
        (tmp_path / name).write_text("{}")
    for model in ("gru", "nbsvm"):
        student = _space(model=model, teacher=str(tmp_path))
        assert student["distil_alpha"] == Dimension("distil_alpha", "float", low=0.1, high=0.9, step=0.2)
        assert student["distil_temperature"].values == (1.0, 2.0, 4.0)


def test_a_given_space_replaces_adds_and_removes():
    space = _space({"learning_rate": {"choice": [0.001, 0.01]}, "vocab_size": None, "batch_size": {"int": [16, 64],
                    "step": 16}}, model="fasttext")
    assert space["learning_rate"].values == (0.001, 0.01) and "vocab_size" not in space
    assert space["batch_size"] == Dimension("batch_size", "int", low=16, high=64, step=16)


def test_a_trial_is_the_run_with_its_settings():
    base = RunConfig(model="gru", model_args={"units": 32})
    trial = apply(base, {"learning_rate": 0.01, "model_args.dropout": 0.2})
    assert trial.learning_rate == 0.01 and trial.model_args == {"units": 32, "dropout": 0.2}
    assert base.model_args == {"units": 32}


def test_times_on_a_setting_with_no_number_is_refused():
    with pytest.raises(InputError, match="times needs a number to multiply"):
        _space({"model_args.units": {"times": [1, 2]}}, model="stacked_lstm")


def test_a_decoders_default_space(tiny_decoder_preset):
    assert set(_space(model="llm", preset=str(tiny_decoder_preset))) == {"learning_rate"}
    assert set(_space(model="llm", preset=str(tiny_decoder_preset), lora_rank=4)) == {
        "learning_rate", "lora_rank", "lora_alpha"}


def test_parallel_workers_share_the_gpus_as_evenly_as_can_be():
    from textclf.tuning.parallel import gpu_groups

    assert gpu_groups(7, 7) == [str(i) for i in range(7)]
    assert gpu_groups(3, 7) == ["0,1", "2,3,4", "5,6"]
    assert gpu_groups(2, 0) == [None, None]  # no GPU: the workers share the CPU
    with pytest.raises(InputError, match="--tune-parallel 8: one GPU or more per trial, and this machine has 7"):
        gpu_groups(8, 7)


def test_numbers_of_a_choice_are_of_one_kind_for_kerastuner():
    assert _space({"model_args.dropout": {"choice": [0, 0.5]}}, model="gru")["model_args.dropout"].values == (0.0, 0.5)
