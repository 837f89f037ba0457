"""Every registered family through the contract of `textclf.families.Family`, as `run.py` calls it: check, resolve,
prepare, build, compile, one training step, export, reload, and the same probabilities from every copy."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf import families, run
from textclf.config import RunConfig
from textclf.models.raw_text import StringsModel
from textclf.models.registry import family_of
from textclf.serving import export, predictor
from textclf.training import schedules

# family -> (its representative --model, the settings that keep it tiny, the conftest fixture of its preset or None)
REPRESENTATIVES = {
    "scratch": ("fasttext", {"model_args": {"buckets": 64}}, None),  # not 2M hashed bigrams
    "ngram": ("nbsvm", {}, None),
    # The preset's positions stop at 32. Its [CLS] vector barely tells these texts apart (to its 17 words they are
    # mostly [UNK]: rows within 2e-5 of each other, under ATOL); their mean does.
    "encoder": ("bert", {"max_len": 16, "model_args": {"pooling": "mean"}}, "bert_preset"),
    "decoder": ("llm", {"max_len": 128}, "tiny_decoder_preset"),  # room for the prompt template
}
# 11 s and 8 s on this 2-core machine (keras-hub's preprocessing traced for fit, export and predict); the others 3 s.
LARGE = {"encoder", "decoder"}
ATOL = 1e-5  # between copies of one model; the texts' rows differ by more than 10 times this
CONTRACT = [name for name, value in vars(families.Family).items() if inspect.isfunction(value) and name[0] != "_"]


def test_every_registered_family_has_a_representative_of_its_own():
    assert REPRESENTATIVES.keys() == families.FAMILIES.keys()
    assert {name: family_of(model) for name, (model, _, _) in REPRESENTATIVES.items()} == {
        name: name for name in families.FAMILIES}
    assert CONTRACT == ["check", "model_settings", "resolve", "prepare", "build", "compile_model", "serving_model"]


@pytest.mark.parametrize("model, settings", [
    ("gru", {"embedding_dim": 128, "units": 128, "dropout": 0.3, "l2": 0.0}),
    ("nbsvm", {"ngrams": 3, "alpha": 1.0, "offset": 0.0, "l2": 0.0}),
    ("bert", {"pooling": None, "dropout": None}),
    ("llm", {"dropout": None}),  # the MLP head's; --head label_words takes none
])
def test_model_settings_are_what_model_args_takes(model, settings):
    from textclf.config import RunConfig

    config = RunConfig(model=model)
    assert families.family(family_of(model)).model_settings(config) == settings
    if model == "llm":
        assert families.family("decoder").model_settings(RunConfig(model=model, head="label_words")) == {}


def _parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values() if p.name != "self"]


def _meets_the_contract(module):
    """Each function the Protocol declares is the module's, taking the same parameters the same way. (Not
    `isinstance` on a runtime_checkable Protocol: that only asks whether the names exist.)"""
    for name in CONTRACT:
        assert callable(getattr(module, name, None)), f"{module.__name__} has no function {name}"
        assert _parameters(getattr(module, name)) == _parameters(getattr(families.Family, name)), (module, name)


def _probabilities(array: np.ndarray, rows: int, num_classes: int) -> np.ndarray:
    assert array.dtype == np.float32 and array.shape == (rows, num_classes)
    np.testing.assert_allclose(array.sum(axis=1), 1, atol=1e-5)
    return array


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.large) if name in LARGE else name
                                  for name in REPRESENTATIVES])
def test_a_family_trains_exports_and_serves_through_the_contract(name, request, tmp_path, fixtures):
    model_name, settings, preset = REPRESENTATIVES[name]
    module = families.family(name)
    assert run.family_for(model_name) is module
    _meets_the_contract(module)
    config = RunConfig(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model=model_name, epochs=1,
                       batch_size=8, output_dir=str(tmp_path), **settings,
                       preset=str(request.getfixturevalue(preset)) if preset else None)
    module.check(config)
    config, data, *_ = run._load(module, config)  # the model's, the dataset's and the family's defaults; the data
    prepared = module.prepare(config, data, global_batch=config.batch_size, replicas=1)
    assert isinstance(prepared, families.Prepared) and prepared.datasets.keys() == {"train", "val", "test"}
    num_classes = len(data.class_names)
    with tf.distribute.get_strategy().scope():
        classifier = module.build(config, prepared, num_classes)
        module.compile_model(classifier, config, peak_lr=schedules.scaled_learning_rate(config.learning_rate, 1),
                             total_steps=1, ema_momentum=schedules.scaled_ema_momentum(config.ema_momentum, 1))
    before = [w.numpy().copy() for w in classifier.trainable_weights]
    classifier.fit(prepared.datasets["train"].take(1), epochs=1, verbose=0, callbacks=list(prepared.callbacks))
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(classifier.trainable_weights, before, strict=True))

    serving = module.serving_model(config, prepared, classifier)
    assert isinstance(serving, StringsModel)
    keras_path, _ = export.export(serving, tmp_path)
    reloaded = keras.saving.load_model(keras_path, custom_objects=predictor.CUSTOM_OBJECTS, compile=False)
    texts = tf.constant(data.test["text"].tolist())
    rows = len(data.test)
    trained = _probabilities(classifier.predict(prepared.datasets["test"], verbose=0), rows, num_classes)
    in_memory = _probabilities(keras.ops.convert_to_numpy(serving(texts)), rows, num_classes)
    served = _probabilities(keras.ops.convert_to_numpy(reloaded(texts)), rows, num_classes)
    assert np.ptp(trained, axis=0).max() > 10 * ATOL  # told apart: equal rows below are the same texts' rows
    np.testing.assert_allclose(served, in_memory, atol=ATOL)
    np.testing.assert_allclose(in_memory, trained, atol=ATOL)
