"""The encoder family's parts on tiny random presets of each family, saved as Keras preset folders and
loaded back through `load_encoder`, as a real preset would be."""

import importlib.util
import io
import json
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from textclf.data.pipeline import EpochShuffle
from textclf.errors import InputError
from textclf.families import encoder
from textclf.serving.export import export

MAX_LEN = 16
SENTENCES = ["the quick brown fox", "the earth is round", "a fox is quick", "the round earth is brown"]
TEXTS = ["the quick brown fox", "the earth is round and the fox is quick and brown and round and the earth is brown and round", "", "a fox"]
LABELS = np.array([0, 1, 1, 0])
WORDS = ["the", "quick", "brown", "fox", "earth", "is", "round", "a", "and"]
TINY = dict(num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=8, max_sequence_length=MAX_LEN)


def _sentencepiece(**pieces) -> bytes:
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES), model_writer=proto, vocab_size=14, model_type="WORD", **pieces
    )
    return proto.getvalue()


def _bert():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    return keras_hub.models.BertBackbone(vocabulary_size=len(vocab), **TINY), tokenizer


def _distil_bert():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = keras_hub.models.DistilBertTokenizer(vocabulary=vocab)
    return keras_hub.models.DistilBertBackbone(vocabulary_size=len(vocab), **TINY), tokenizer


def _roberta():
    # Byte-pair merges that spell each word from its letters, every step in the vocabulary as keras-hub asks.
    words = [f"Ġ{w}" for w in WORDS]
    pieces = sorted({w[:i] for w in words for i in range(1, len(w) + 1)} | {c for w in words for c in w})
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, **{p: 4 + i for i, p in enumerate(pieces)}}
    merges = sorted({f"{w[:i]} {w[i]}" for w in words for i in range(1, len(w))}, key=len)
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocab, merges=merges)
    backbone = keras_hub.models.RobertaBackbone(vocabulary_size=len(vocab), **{**TINY, "max_sequence_length": 20})
    return backbone, tokenizer


def _deberta_v3():
    proto = _sentencepiece(pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
                           eos_piece="[SEP]", unk_piece="[UNK]", user_defined_symbols="[MASK]")
    tokenizer = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    backbone = keras_hub.models.DebertaV3Backbone(vocabulary_size=tokenizer.vocabulary_size(), bucket_size=4, **TINY)
    return backbone, tokenizer


def _albert():
    proto = _sentencepiece(pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>",
                           bos_piece="[CLS]", eos_piece="[SEP]", user_defined_symbols="[MASK]")
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto)
    backbone = keras_hub.models.AlbertBackbone(vocabulary_size=tokenizer.vocabulary_size(), embedding_dim=4, **TINY)
    return backbone, tokenizer


def _xlm_roberta():
    proto = _sentencepiece(pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>",
                           bos_piece="<s>", eos_piece="</s>", user_defined_symbols="[MASK]")
    tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=proto)
    backbone = keras_hub.models.XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(),
                                                   **{**TINY, "max_sequence_length": 20})
    return backbone, tokenizer


TINY_PRESETS = {"bert": _bert, "distil_bert": _distil_bert, "roberta": _roberta, "deberta_v3": _deberta_v3,
                "albert": _albert, "xlm_roberta": _xlm_roberta}


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> dict[str, Path]:
    """A Keras preset folder per family, written as keras-hub's save_to_preset writes one."""
    # Seeded once, before any tokenizer exists: tf.random.set_seed restarts the eager op counter that names
    # tf-text's SentencePiece resources, and a later tokenizer then shares an earlier one's resource, which
    # the earlier one's deletion destroys (NotFoundError: Resource ..._SentencepieceOp does not exist).
    keras.utils.set_random_seed(0)
    folders = {}
    for family, make in TINY_PRESETS.items():
        backbone, tokenizer = make()
        folders[family] = tmp_path_factory.mktemp(family)
        backbone.save_to_preset(str(folders[family]))
        tokenizer.save_to_preset(str(folders[family]))
    return folders


@pytest.fixture(scope="module")
def tiny(presets):
    """family -> (packer, classifier) loaded from its preset folder."""
    loaded = {}
    for family, folder in presets.items():
        backbone, preprocessor = encoder.load_encoder(family, str(folder), max_len=MAX_LEN)
        loaded[family] = encoder.make_packer(backbone, preprocessor, "head"), encoder.build_classifier(backbone, 2)
    return loaded


@pytest.mark.parametrize("family", sorted(TINY_PRESETS))
def test_each_family_loads_from_a_preset_folder_and_classifies_raw_texts(tiny, family):
    packer, classifier = tiny[family]
    inputs = packer(tf.constant(TEXTS))
    assert sorted(inputs) == sorted(classifier.input)
    assert inputs["token_ids"].shape == (len(TEXTS), MAX_LEN)
    probabilities = classifier(inputs)
    assert probabilities.dtype == "float32"
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("family", ["bert", "xlm_roberta"])
def test_batches_are_padded_to_their_longest_row_and_predict_as_at_full_length(tiny, family):
    packer, classifier = tiny[family]
    batches = list(encoder.make_dataset(TEXTS, LABELS, packer, global_batch=2))
    lengths = [int(b[0]["token_ids"].shape[1]) for b in batches]
    assert lengths == [MAX_LEN, 4]  # the second batch: "" and "a fox", 2 and 4 tokens with start and end
    short = np.concatenate([classifier.predict(x, verbose=0) for x, _ in batches])
    full = classifier.predict(packer(tf.constant(TEXTS)), verbose=0)
    np.testing.assert_allclose(short, full, atol=1e-6)
