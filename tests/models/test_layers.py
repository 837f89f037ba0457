import json
import zipfile

import keras
import numpy as np
import pytest

from textclf.errors import InputError
from textclf.models.blocks import RunInputs
from textclf.models.fasttext import Settings, fasttext
from textclf.models.layers import BigramHashing, Capsule, MaskedConv1D, TransformerBlock


def test_bigram_hashing_numbers_pairs_and_leaves_padding_out():
    ids = np.array([[2, 3, 4, 0, 0]], dtype="int32")
    hashed = np.asarray(BigramHashing(buckets=7)(ids))
    m = BigramHashing.MULTIPLIER
    assert hashed.dtype == np.int32
    assert hashed.tolist() == [[(2 * m + 3) % 7 + 1, (3 * m + 4) % 7 + 1, 0, 0, 0]]


def test_bigram_hashing_does_not_overflow_with_a_large_vocabulary():
    hashed = np.asarray(BigramHashing(buckets=1_000_003)(np.array([[199_999, 199_998]])))
    assert hashed[0, 0] == (199_999 * BigramHashing.MULTIPLIER + 199_998) % 1_000_003 + 1


def test_bigram_hashing_spreads_pairs_over_the_table_like_random_buckets():
    """90,000 distinct pairs of 300 words in 200,000 buckets fill as many rows as random hashing would.

    (a * vocab_size + b) % buckets with a 10,000-word vocabulary kept only a mod 20: 6,000 rows.
    """
    words = np.arange(2, 302)
    first, second = (grid.ravel() for grid in np.meshgrid(words, words))
    hashed = np.asarray(BigramHashing(buckets=200_000)(np.stack([first, second], axis=1)))[:, 0]
    expected = 200_000 * (1 - np.exp(-first.size / 200_000))  # distinct rows for uniform random buckets
    assert len(np.unique(hashed)) > 0.98 * expected


def test_a_model_saved_with_the_old_bigram_hash_fails_to_load_in_one_line(tmp_path):
    """Its config has the old layer's `vocab_size`: loading it must not predict by the new hash silently."""
    fasttext(RunInputs(10, 2, max_len=8), Settings(embedding_dim=4, buckets=7)).save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as saved:
        files = {name: saved.read(name) for name in saved.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "BigramHashing":
            layer["config"]["vocab_size"] = 10
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for name, content in files.items():
            old.writestr(name, content)
    assert keras.saving.load_model(tmp_path / "new.keras") is not None
    with pytest.raises(InputError, match="old bigram hash"):
        keras.saving.load_model(tmp_path / "old.keras")


def test_capsules_are_shorter_than_one():
    states = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    capsules = np.asarray(Capsule(num_capsules=3, capsule_dim=2)(states))
    assert capsules.shape == (2, 3, 2)
    assert np.all(np.linalg.norm(capsules, axis=-1) < 1)


def test_masked_conv_refuses_valid_padding():
    with pytest.raises(ValueError, match="padding='same' or 'causal'"):
        MaskedConv1D(2, 3, padding="valid")


@pytest.mark.parametrize("attention_dropout, changes", [(0.5, True), (0.0, False)])
def test_transformer_block_drops_attention_at_its_own_rate(attention_dropout, changes):
    # The residual branches' dropout is 0: only the attention probabilities' rate can make training differ.
    keras.utils.set_random_seed(1)
    block = TransformerBlock(8, 2, dropout=0.0, attention_dropout=attention_dropout)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    inference = np.asarray(block(x, training=False))
    assert (not np.allclose(np.asarray(block(x, training=True)), inference)) == changes
    copy = TransformerBlock.from_config(block.get_config())
    assert copy.attention_dropout == attention_dropout and copy.dropout == 0.0


def test_transformer_block_takes_the_blocks_dropout_by_default():
    assert TransformerBlock(8, 2, dropout=0.2).attention_dropout == 0.2
