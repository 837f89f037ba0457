"""The settings each family declares it takes (`families.FAMILIES`), and the one check that refuses the others."""

import dataclasses

import pytest

from textclf import families
from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.models.registry import MODELS

# A value other than the default for every setting some family declares (a new one needs a value here).
GIVEN = {
    "tokenizer": "word", "vocab_size": 100, "embeddings": "glove.txt", "freeze_embeddings": True, "preset": "x",
    "lora_rank": 4, "lora_alpha": 8.0, "weight_decay": 0.1, "remat": True, "peft": "prompt", "virtual_tokens": 4,
    "prompt_init": "a film", "prompt_template": "{text}", "head": "mlp", "teacher": "runs/run_1", "distil_alpha": 0.2,
    "distil_temperature": 4.0, "unlabeled": "texts.csv", "augment": 2,
}
DECLARED = sorted({name for declared in families.FAMILIES.values() for name in declared.settings})
# One model of each family.
MODEL_OF = {family: next(model for model, name in MODELS.items() if name == family) for family in families.FAMILIES}


def test_every_declared_setting_is_a_run_config_field_with_a_value_here():
    assert set(DECLARED) <= {field.name for field in dataclasses.fields(RunConfig)}
    assert sorted(GIVEN) == DECLARED


@pytest.mark.parametrize("family", families.FAMILIES)
@pytest.mark.parametrize("name", DECLARED)
def test_a_setting_is_taken_by_the_families_that_declare_it_and_refused_by_the_others(family, name):
    model = MODEL_OF[family]
    config = RunConfig(model=model, **{name: GIVEN[name]})
    if name in families.FAMILIES[family].settings:
        families.check_settings(config)
        return
    owners = [owner for owner, declared in families.FAMILIES.items() if name in declared.settings]
    flag = f"--{name.replace('_', '-')}"
    with pytest.raises(InputError, match=rf"^{flag} does not apply to --model {model} \({family} family\): it is a "
                                         rf"setting of the {' and '.join(owners)} famil") as refused:
        families.check_settings(config)
    named = refused.value.args[0].split("(--model ")[1]
    assert {owner: MODEL_OF[owner] in named for owner in owners} == dict.fromkeys(owners, True)


@pytest.mark.parametrize("family", families.FAMILIES)
def test_a_setting_left_at_its_default_is_never_refused(family):
    given = {field.name: getattr(RunConfig(), field.name) for field in dataclasses.fields(RunConfig)}
    families.check_settings(RunConfig(**{**given, "model": MODEL_OF[family]}))


def test_the_settings_every_run_takes_are_taken_by_every_family():
    config = RunConfig(text_filter="html", class_weight="balanced", calibrate="none", keep_best=2, grad_accum=2,
                       eval_datasets="sst2", recipe="r", deterministic=True, max_samples=10)
    for model in MODEL_OF.values():
        families.check_settings(dataclasses.replace(config, model=model))
