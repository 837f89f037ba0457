"""FusedAdamW: Keras' AdamW step for step, each dense weight's update one ResourceApplyAdam."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.training import optimizers
from textclf.training.optimizers import FusedAdamW

ROWS = np.random.default_rng(0).integers(1, 50, size=(24, 5))
LABELS = np.random.default_rng(1).integers(0, 3, size=24)


def _train(optimizer_class, **compile_args) -> tuple[keras.Model, list[np.ndarray]]:
    """An embedding (a sparse gradient), a dense layer and a head, trained 3 steps with AdamW's decay (not on the
    embedding, as the encoders' NO_WEIGHT_DECAY), clipping and a weight average."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(50, 8),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    optimizer = optimizer_class(learning_rate=0.01, weight_decay=0.1, clipnorm=0.5, use_ema=True, ema_momentum=0.5)
    optimizer.exclude_from_weight_decay(var_names=["embeddings"])
    model.compile(optimizer, "sparse_categorical_crossentropy", **compile_args)
    model.fit(ROWS, LABELS, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model, model.get_weights() + [v.numpy() for v in optimizer.variables]


def test_fused_adamw_trains_as_keras_adamw_does():
    _, fused = _train(FusedAdamW)
    _, keras_own = _train(keras.optimizers.AdamW)
    assert len(fused) == len(keras_own)
    for mine, theirs in zip(fused, keras_own, strict=True):  # weights, moments, averages, iterations
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_each_dense_weight_is_updated_by_one_fused_kernel_and_the_embedding_by_keras(monkeypatch):
    calls = []
    apply = tf.raw_ops.ResourceApplyAdam
    monkeypatch.setattr(optimizers.tf.raw_ops, "ResourceApplyAdam",
                        lambda **kwargs: calls.append(kwargs["var"]) or apply(**kwargs))
    model, _ = _train(FusedAdamW, run_eagerly=True)  # eager: every step calls the op from Python
    dense = [w for w in model.trainable_weights if "embedding" not in w.path]
    assert len(dense) == 4 and len(calls) == 3 * len(dense)  # 3 steps; the embedding's update is Keras' own


def test_amsgrad_keeps_keras_own_update(monkeypatch):
    monkeypatch.setattr(optimizers.tf.raw_ops, "ResourceApplyAdam", lambda **kwargs: pytest.fail("fused"))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(FusedAdamW(amsgrad=True), "sparse_categorical_crossentropy", run_eagerly=True)
    model.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), verbose=0)
