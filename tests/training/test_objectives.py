"""--objective rdrop|supcon: the losses as their papers define them, the features they read, and whole runs
that train with them and report, export and serve the plain classifier."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.models.blocks import RunInputs
from textclf.models.registry import MODELS, builder_for
from textclf.run import run
from textclf.serving.predictor import Predictor
from textclf.training import objectives, trainer


def test_the_contrastive_loss_is_khosla_et_al_s_l_out_per_text():
    rows = np.random.default_rng(0)
    features, labels, t = rows.normal(size=(6, 4)), np.array([0, 1, 0, 2, 1, 0]), 0.5
    z = features / np.linalg.norm(features, axis=1, keepdims=True)
    expected = []
    for i in range(6):
        others = [a for a in range(6) if a != i]
        denominator = sum(np.exp(z[i] @ z[a] / t) for a in others)
        positives = [p for p in others if labels[p] == labels[i]]
        terms = [np.log(np.exp(z[i] @ z[p] / t) / denominator) for p in positives]
        expected.append(-np.mean(terms) if terms else 0.0)  # class 2 has one text: no positive, 0
    loss = objectives.SupervisedContrastiveLoss(t, reduction=None)(labels, features)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert expected[3] == 0.0 and min(expected[:3]) > 0


def _tiny_classifier() -> keras.Model:
    inputs = keras.Input((5,))
    pooled = keras.layers.Dense(8, activation="relu")(inputs)
    x = keras.layers.Dropout(0.5)(pooled)
    outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def test_rdrop_is_the_halved_paper_loss_of_two_passes_with_their_own_dropout_masks():
    keras.utils.set_random_seed(0)
    classifier = _tiny_classifier()
    model = objectives.ObjectiveModel(classifier, objective="rdrop", alpha=4.0)
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(1).normal(size=(16, 5)).astype("float32"), np.arange(16) % 3
    seeds = [keras.ops.convert_to_numpy(v) for v in trainer.seed_states(model)]
    p1, p2 = (keras.ops.convert_to_numpy(classifier(x, training=True)) for _ in range(2))
    assert np.abs(p1 - p2).max() > 0.05  # two masks
    for variable, value in zip(trainer.seed_states(model), seeds):  # the loss below draws the same two masks
        variable.assign(value)
    loss = float(model.compute_loss(x, y, model(x, training=True), training=True))
    ce = [-np.mean(np.log(p[np.arange(16), y])) for p in (p1, p2)]
    kl = [np.mean(np.sum(a * np.log(a / b), axis=1)) for a, b in ((p1, p2), (p2, p1))]
    assert loss == pytest.approx((ce[0] + ce[1] + 4.0 * (kl[0] + kl[1]) / 2) / 2, rel=1e-4)
    evaluated = float(model.compute_loss(x, y, model(x, training=False), training=False))
    p = keras.ops.convert_to_numpy(classifier(x, training=False))
    assert evaluated == pytest.approx(-np.mean(np.log(p[np.arange(16), y])), rel=1e-5)  # plain cross-entropy


@pytest.mark.parametrize("name", [name for name, family in MODELS.items() if family == "scratch"])
def test_the_features_are_what_each_models_head_reads_before_its_dropout(name):
    classifier = builder_for(name)(RunInputs(50, 3, max_len=20))
    pooled = objectives.features(classifier)
    head = [layer for layer in classifier.layers if isinstance(layer, keras.layers.Dense)][-1]
    assert len(pooled.shape) == 2 and pooled.shape[-1] == head.kernel.shape[0]
    # All but the IMDB project's plain lstm drop out before their head: the features are what the dropout takes.
    assert (pooled is not head.input) == objectives.has_dropout(classifier) == (name != "lstm")


def _config(fixtures, out, **given) -> RunConfig:
    return RunConfig(**{**dict(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model="gru", epochs=2,
                               batch_size=8, output_dir=str(out)), **given})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fixtures) -> dict[str, pd.Series]:
    """One gru run per objective, same seed and data."""
    out = tmp_path_factory.mktemp("objectives")
    return {objective: pd.read_csv(run(_config(fixtures, out, objective=objective), "cmd",
                                       tf.distribute.get_strategy(), False)).iloc[0]
            for objective in ("ce", "rdrop", "supcon")}


@pytest.mark.large
def test_each_objective_trains_its_own_way_and_its_settings_reach_the_report(runs):
    assert (runs["rdrop"]["config_rdrop_alpha"], runs["supcon"]["config_supcon_alpha"],
            runs["supcon"]["config_supcon_temperature"]) == (4.0, 0.2, 0.07)
    assert pd.isna(runs["ce"]["config_rdrop_alpha"]) and runs["ce"]["config_objective"] == "ce"
    losses = {name: pd.read_csv(f"{row['run_dir']}/history.csv")["loss"].to_numpy() for name, row in runs.items()}
    assert not np.allclose(losses["rdrop"], losses["ce"]) and not np.allclose(losses["supcon"], losses["ce"])
    assert len({row["parameters"] for row in runs.values()}) == 1  # the same classifier, trained otherwise


@pytest.mark.parametrize("objective", ["rdrop", "supcon"])
def test_an_objective_run_exports_and_serves_the_classifier_it_tested(runs, objective):
    run_dir = runs[objective]["run_dir"]
    predictions = pd.read_csv(f"{run_dir}/test_predictions.csv")
    np.testing.assert_allclose(Predictor(run_dir).predict(predictions["text"].fillna("").tolist()),
                               predictions.filter(like="p_").to_numpy(), atol=1e-6)


@pytest.mark.parametrize(("given", "message"), [
    ({"rdrop_alpha": 1.0}, "--rdrop-alpha is a setting of --objective rdrop; this run trains with --objective ce"),
    ({"objective": "rdrop", "supcon_alpha": 0.5}, "--supcon-alpha is a setting of --objective supcon"),
    ({"objective": "rdrop", "model": "fasttext", "model_args": {"dropout": 0.0}},
     "--objective rdrop compares two dropout passes, and this fasttext drops nothing"),
    ({"objective": "rdrop", "model": "lstm"}, "this lstm drops nothing"),
])
def test_an_objective_setting_that_does_not_apply_is_refused_and_leaves_no_run_folder(tmp_path, fixtures, given,
                                                                                      message):
    with pytest.raises(InputError, match=message):
        run(_config(fixtures, tmp_path / "out", **given), "cmd", tf.distribute.get_strategy(), False)
    assert not list((tmp_path / "out").glob("run_*"))
