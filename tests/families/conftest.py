"""What the pretrained families' tests share: tiny random presets written as keras-hub writes real ones."""

from pathlib import Path

import keras
import pytest


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
