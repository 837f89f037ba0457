"""What the pretrained families' tests share: tiny random presets written as keras-hub writes real ones, and the
check that --remat changes nothing but memory."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.families.pretrained.adapters import rematerialize, transformer_blocks
from textclf.training import trainer


@pytest.fixture(scope="module")
def save_presets(tmp_path_factory):
    """save(makers) -> family -> a Keras preset folder of `makers[family]()`'s (backbone, tokenizer)."""

    def save(makers) -> dict[str, Path]:
        # Seeded once, before any tokenizer exists: tf.random.set_seed restarts the eager op counter that names
        # tf-text's SentencePiece resources, and a later tokenizer then shares an earlier one's resource, which
        # the earlier one's deletion destroys (NotFoundError: Resource ..._SentencepieceOp does not exist).
        keras.utils.set_random_seed(0)
        folders = {}
        for family, make in makers.items():
            backbone, tokenizer = make()
            folders[family] = tmp_path_factory.mktemp(family)
            backbone.save_to_preset(str(folders[family]))
            tokenizer.save_to_preset(str(folders[family]))
        return folders

    return save


@pytest.fixture
def assert_remat_changes_nothing():
    """check(load_backbone, build_classifier, inputs, labels): a traced training step (dropout on) of the
    classifier around a one-block backbone gives the same loss and gradients with the block recomputed
    (`rematerialize`) as without, traces the block's forward a second time, and advances the dropout
    seeds once."""

    def check(load_backbone, build_classifier, inputs, labels):
        runs = {}
        for remat in (False, True):
            backbone = load_backbone()
            (block,) = transformer_blocks(backbone)
            traced, call = [], block.call
            block.call = lambda *args, _call=call, _traced=traced, **kwargs: _traced.append(1) or _call(*args, **kwargs)
            if remat:
                assert rematerialize(backbone) == 1
            runs[remat] = build_classifier(backbone), traced
        (plain, plain_traced), (recomputed, traced) = runs[False], runs[True]
        recomputed.set_weights(plain.get_weights())
        for mine, theirs in zip(trainer.seed_states(recomputed), trainer.seed_states(plain), strict=True):
            mine.assign(theirs)

        @tf.function
        def step(model):  # as fit runs it: traced, dropout on
            with tf.GradientTape() as tape:
                probabilities = model(inputs, training=True)
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
            return loss, [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

        (loss, grads), (remat_loss, remat_grads) = step(plain), step(recomputed)
        assert (len(plain_traced), len(traced)) == (1, 2)  # the recomputed block's forward is traced again
        np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
        for mine, theirs in zip(remat_grads, grads, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-6)
        assert max(float(np.max(np.abs(g))) for g in grads) > 0
        assert trainer.seed_states(plain)  # dropout is on, so the seeds below are compared at all
        for mine, theirs in zip(trainer.seed_states(recomputed), trainer.seed_states(plain), strict=True):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())  # advanced once: the next masks agree too

    return check
