import numpy as np
import pytest

from textclf.models.layers import BigramHashing, Capsule, MaskedConv1D


def test_bigram_hashing_numbers_pairs_and_leaves_padding_out():
    ids = np.array([[2, 3, 4, 0, 0]], dtype="int32")
    hashed = np.asarray(BigramHashing(vocab_size=10, buckets=7)(ids))
    assert hashed.dtype == np.int32
    assert hashed.tolist() == [[(2 * 10 + 3) % 7 + 1, (3 * 10 + 4) % 7 + 1, 0, 0, 0]]


def test_bigram_hashing_does_not_overflow_with_a_large_vocabulary():
    hashed = np.asarray(BigramHashing(vocab_size=200_000, buckets=1_000_003)(np.array([[199_999, 199_998]])))
    assert hashed[0, 0] == (199_999 * 200_000 + 199_998) % 1_000_003 + 1


def test_capsules_are_shorter_than_one():
    states = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    capsules = np.asarray(Capsule(num_capsules=3, capsule_dim=2)(states))
    assert capsules.shape == (2, 3, 2)
    assert np.all(np.linalg.norm(capsules, axis=-1) < 1)


def test_masked_conv_refuses_valid_padding():
    with pytest.raises(ValueError, match="padding='same' or 'causal'"):
        MaskedConv1D(2, 3, padding="valid")
