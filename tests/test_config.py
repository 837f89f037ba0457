"""The command line generated from RunConfig's fields."""

import dataclasses

import pytest

from textclf.config import RunConfig, build_parser, checked_setting, parse_args, split_names
from textclf.errors import InputError


def test_every_field_has_its_flag():
    flags = {action.dest for action in build_parser()._actions}
    assert {field.name for field in dataclasses.fields(RunConfig)} <= flags


def test_given_is_what_the_command_line_holds_even_at_a_default():
    command = parse_args(["--batch-size", "64", "--seed", "42", "--model-arg", "units=8", "--freeze-embeddings"])
    assert command.given == {"batch_size", "seed", "model_args", "freeze_embeddings"}
    assert parse_args([]).given == frozenset() and parse_args([]).config == RunConfig()


def test_a_repeated_model_arg_keeps_the_last_value():
    assert parse_args(["--model-arg", "units=8", "--model-arg", "units=16"]).config.model_args == {"units": 16}


def test_a_model_arg_in_exponent_notation_is_a_number():
    # YAML 1.1 (PyYAML) reads 1e-6, with no dot, as a string; l2 would then be refused as "not like 0.0".
    assert parse_args(["--model-arg", "l2=1e-6", "--model-arg", "sizes=[1e3, 2]", "--model-arg", "act=relu"]
                      ).config.model_args == {"l2": 1e-6, "sizes": [1000.0, 2], "act": "relu"}
    assert checked_setting("model_args", {"l2": "1e-6", "units": 8}, "e.yaml") == {"l2": 1e-6, "units": 8}


@pytest.mark.parametrize("argv", [["--model-arg", "units"], ["--model-arg", "=3"], ["--model-arg", "a b=3"]])
def test_a_model_arg_that_is_not_key_equals_value_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as done:
        parse_args(argv)
    assert done.value.code == 2 and "expected KEY=VALUE such as embedding_dim=50" in capsys.readouterr().err


def test_experiment_file_values_are_checked_by_the_flags_functions():
    assert checked_setting("max_len", "40", "e.yaml") == 40
    assert checked_setting("model_args", {"units": 8}, "e.yaml") == {"units": 8}
    with pytest.raises(InputError, match="e.yaml: monitor: 'loss' is not one of val_accuracy, val_loss"):
        checked_setting("monitor", "loss", "e.yaml")


def test_a_seed_given_twice_is_refused_in_one_line(capsys):
    # It would train once and count twice in the leaderboard (2 seeds, std 0).
    with pytest.raises(SystemExit) as done:
        parse_args(["--seeds", "1,2,1"])
    assert done.value.code == 2
    assert capsys.readouterr().err == "error: argument --seeds: 1 is given twice (see --help)\n"


def test_an_existing_file_whose_name_holds_a_comma_is_one_name(tmp_path):
    table = tmp_path / "a,b.csv"
    table.write_text("text,label\ngood,1\nbad,0\n")
    assert split_names(str(table)) == [str(table)]
    assert split_names(f"sst2, {tmp_path / 'missing,b.csv'}") == ["sst2", str(tmp_path / "missing"), "b.csv"]
    assert split_names("") == []


def test_fields_added_later_keep_the_fingerprints_of_earlier_runs():
    # Computed by the code of 939527c, whose LATER_FIELDS listed each field with its unset value: left at their
    # defaults, later fields stay out of the key; set, they are in it, as they were then.
    assert RunConfig().fingerprint() == "83030e8202df"
    assert RunConfig(model="bert", preset="x", lora_rank=8, weight_decay=0.01).fingerprint() == "17e626fa96b1"
    assert RunConfig(grad_accum=2, remat=True).fingerprint() == "e9ae28757110"
    assert RunConfig(model_args={"units": 5}, keep_best=2, strategy="mirrored").fingerprint() == "064d69dd3e74"
    assert RunConfig(deterministic=True, head="mlp", prompt_template="{text}").fingerprint() == "893c8e1a58db"
