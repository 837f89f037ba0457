import dataclasses

import keras
import numpy as np
import pytest

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.models.blocks import RunInputs
from textclf.models.registry import MODELS, builder_for, settings_for

SCRATCH = sorted(name for name, family in MODELS.items() if family == "scratch")  # the encoders: tests/families

TINY = {
    "stacked_lstm": dict(embedding_dim=4, units=(4, 3), dense_units=3),
    "lstm": dict(embedding_dim=4, units=5),
    "gru": dict(embedding_dim=4, units=5),
    "bilstm": dict(embedding_dim=4, units=3),
    "text_cnn": dict(embedding_dim=4, filters=3, kernel_sizes=(2, 3, 4)),
    "cnn_lstm": dict(embedding_dim=4, filters=3, kernel_size=3, units=3),
    "attention_lstm": dict(embedding_dim=4, units=3, attention_units=2),
    "capsule_lstm": dict(embedding_dim=4, units=3, num_capsules=2, capsule_dim=3),
    "transformer": dict(embedding_dim=4, num_heads=2, intermediate_dim=4, num_layers=1),
    "fasttext": dict(embedding_dim=4, buckets=7),
}
# L2 terms with `l2` set: the embedding(s), every kernel the builder creates, the output kernel.
L2_TERMS = {
    "stacked_lstm": 5,
    "gru": 3,
    "bilstm": 4,
    "text_cnn": 5,
    "cnn_lstm": 4,
    "attention_lstm": 4,
    "capsule_lstm": 4,
    "fasttext": 3,
}


# Each model's layers at TINY, in a fresh session. A run's backups are keyed by layer paths and an exported model
# is rebuilt from its config: a builder that renamed or reordered its layers would strand the runs made before.
LAYER_NAMES = {
    "stacked_lstm": ["token_ids", "token_embedding", "spatial_dropout1d", "lstm", "batch_normalization", "dropout",
                     "lstm_1", "batch_normalization_1", "dropout_1", "dense", "batch_normalization_2", "dropout_2",
                     "probabilities"],
    "lstm": ["token_ids", "token_embedding", "lstm", "probabilities"],
    "gru": ["token_ids", "token_embedding", "gru", "dropout", "probabilities"],
    "bilstm": ["token_ids", "token_embedding", "bidirectional", "dropout", "probabilities"],
    "text_cnn": ["token_ids", "token_embedding", "masked_conv1d", "masked_conv1d_1", "masked_conv1d_2",
                 "masked_global_max_pooling1d", "masked_global_max_pooling1d_1", "masked_global_max_pooling1d_2",
                 "concatenate", "dropout", "probabilities"],
    "cnn_lstm": ["token_ids", "token_embedding", "masked_conv1d", "lstm", "dropout", "probabilities"],
    "attention_lstm": ["token_ids", "token_embedding", "lstm", "attention_pooling", "dropout", "probabilities"],
    "capsule_lstm": ["token_ids", "token_embedding", "lstm", "capsule", "flatten", "dropout", "probabilities"],
    # dropout_1 is the TransformerBlock's own.
    "transformer": ["token_ids", "token_embedding", "masked_position_embedding", "add", "layer_normalization",
                    "dropout", "transformer_block", "global_average_pooling1d", "dropout_2", "probabilities"],
    "fasttext": ["token_ids", "bigram_hashing", "token_embedding", "bigram_embedding", "concatenate",
                 "global_average_pooling1d", "dropout", "probabilities"],
}


def tiny(name, num_classes=3, settings=None, **run):
    """Model `name` over a 10-id vocabulary and 16 positions, at TINY with `settings` over it; `run`: --embeddings."""
    inputs = RunInputs(vocab_size=10, num_classes=num_classes, max_len=16, **run)
    return builder_for(name)(inputs, settings_for(name)(**{**TINY[name], **(settings or {})}))


def batch():
    x = np.array([[2, 3, 4, 0, 0], [5, 6, 0, 0, 0], [7, 0, 0, 0, 0], [2, 9, 9, 9, 9]], dtype="int32")
    return x, np.array([0, 1, 2, 1])


def trained_a_step(model):
    """Whether one train step changes some weight."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(*batch())
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_tiny_covers_every_model():
    assert set(TINY) == set(SCRATCH) == set(LAYER_NAMES)


@pytest.mark.large
@pytest.mark.parametrize("name", SCRATCH)
def test_builds_trains_a_step_and_round_trips(name, tmp_path):
    model = tiny(name)
    assert trained_a_step(model)
    x, _ = batch()
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    model.save(tmp_path / "m.keras")
    assert np.allclose(keras.saving.load_model(tmp_path / "m.keras")(x, training=False), probs, atol=1e-6)


@pytest.mark.parametrize("name", SCRATCH)
def test_layer_names_and_order_stay_those_of_earlier_runs(name):
    keras.backend.clear_session()  # layer names are numbered per session
    model = tiny(name)
    assert [layer.name for layer in model.layers] == LAYER_NAMES[name]
    assert model.name == name


@pytest.mark.parametrize("name", SCRATCH)
def test_padding_does_not_change_predictions(name):
    model = tiny(name, 2)
    x, _ = batch()
    padded = np.pad(x, [(0, 0), (0, 6)])
    assert np.allclose(model(x, training=False), model(padded, training=False), atol=1e-6)
    one = np.array([[2, 3, 0, 0, 0, 0]], dtype="int32")
    assert np.allclose(model(one, training=False), model(one[:, :2], training=False), atol=1e-6)


@pytest.mark.parametrize("name", sorted(L2_TERMS))
def test_l2_adds_one_loss_per_regularized_weight(name):
    model = tiny(name, 2, {"l2": 1e-3})
    assert len(model.losses) == L2_TERMS[name]
    assert all(float(loss) > 0 for loss in model.losses)


@pytest.mark.parametrize("name", sorted(set(L2_TERMS) - {"stacked_lstm"}))
def test_no_l2_losses_by_default(name):
    assert tiny(name, 2).losses == []


def pretrained():
    matrix = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    matrix[0] = 0
    return matrix


@pytest.mark.parametrize("name", SCRATCH)
def test_pretrained_embeddings_start_the_embedding_and_can_be_frozen(name):
    matrix = pretrained()
    model = tiny(name, embeddings=matrix, freeze_embeddings=True)
    embedding = model.get_layer("token_embedding")
    assert np.array_equal(embedding.get_weights()[0], matrix)
    assert all(w is not embedding.embeddings for w in model.trainable_weights)
    unfrozen = tiny(name, embeddings=matrix)
    assert any(w is unfrozen.get_layer("token_embedding").embeddings for w in unfrozen.trainable_weights)


@pytest.mark.parametrize("name", ["fasttext", "text_cnn"])  # fast ones; freezing is the shared helper's work
def test_frozen_embeddings_survive_a_train_step(name):
    model = tiny(name, embeddings=pretrained(), freeze_embeddings=True)
    assert trained_a_step(model)
    assert np.array_equal(model.get_layer("token_embedding").get_weights()[0], pretrained())


def test_embedding_matrix_must_fit_the_vocabulary():
    with pytest.raises(ValueError, match="does not fit a vocabulary of 10"):
        tiny("gru", 2, embeddings=np.zeros((9, 4)))


@pytest.mark.parametrize("name", SCRATCH)
def test_output_stays_float32_under_mixed_precision(name):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny(name, 2)
        assert model.get_layer("token_embedding").compute_dtype == "float16"
        assert model.output.dtype == "float32"
        probs = keras.ops.convert_to_numpy(model(batch()[0]))
        assert probs.dtype == "float32" and np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    finally:
        keras.config.set_dtype_policy("float32")


def test_unknown_model():
    with pytest.raises(InputError, match="unknown model 'cnn'"):
        builder_for("cnn")


def test_every_registered_module_holds_its_builder():
    for name in SCRATCH:
        assert builder_for(name).__module__ == f"textclf.models.{name}"


@pytest.mark.parametrize("name", [*SCRATCH, "nbsvm"])
def test_a_models_settings_are_its_own_and_fixed(name):
    # A setting named as a RunConfig field would be refused as a run setting (families/scratch.py).
    settings = settings_for(name)
    names = [field.name for field in dataclasses.fields(settings)]
    assert settings.__module__ == f"textclf.models.{name}"
    assert not set(names) & {field.name for field in dataclasses.fields(RunConfig)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings(), names[0], None)


@pytest.mark.parametrize("name", SCRATCH)
def test_an_empty_batch_predicts_no_rows(name):
    # Under MirroredStrategy, validation and prediction hand a replica no rows when the last batch has fewer
    # rows than there are replicas (training leaves such batches out: data/pipeline.py).
    import tensorflow as tf

    model = tiny(name)
    predict = tf.function(lambda ids: model(ids, training=False),  # traced for any batch, as a step is
                          input_signature=[tf.TensorSpec([None, None], tf.int32)])
    assert tuple(predict(np.zeros((0, 5), dtype="int32")).shape) == (0, 3)
    assert tuple(predict(np.ones((2, 5), dtype="int32")).shape) == (2, 3)
