"""Soft prompts (`--peft prompt|ptuning`) on tiny random BERT and DistilBERT presets: one embeds tokens alone,
the other tokens and positions in one layer."""

from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from textclf.errors import InputError
from textclf.families.encoder.head import build_classifier
from textclf.families.encoder.packer import make_packer
from textclf.families.encoder.presets import load_backbone, load_preprocessor
from textclf.families.encoder.prompts import add_soft_prompt, initial_vectors
from textclf.families.pretrained.fine_tuning import compile_classifier, parameter_counts

WORDS = ["the", "a", "film", "movie", "is", "good", "bad", "great", "not", "and"]
MAX_LEN, VIRTUAL = 8, 3
TEXTS = ["a good film", "the movie is bad and not great and not good and the film is bad", "", "great"]
LABELS = np.array([1, 0, 1, 1])


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> dict[str, Path]:
    keras.utils.set_random_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tiny = dict(vocabulary_size=len(vocab), num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=8,
                max_sequence_length=16)
    folders = {}
    for family, backbone, tokenizer in (
        ("bert", keras_hub.models.BertBackbone(**tiny), keras_hub.models.BertTokenizer(vocabulary=vocab)),
        ("distil_bert", keras_hub.models.DistilBertBackbone(**tiny),
         keras_hub.models.DistilBertTokenizer(vocabulary=vocab)),
    ):
        folders[family] = tmp_path_factory.mktemp(family)
        backbone.save_to_preset(str(folders[family]))
        tokenizer.save_to_preset(str(folders[family]))
    return folders


def _parts(presets, family: str):
    """(packer, backbone, tokenizer) for texts of MAX_LEN tokens after VIRTUAL places."""
    preprocessor = load_preprocessor(family, str(presets[family]), max_len=MAX_LEN + VIRTUAL)
    packer = make_packer(family, preprocessor, "head", VIRTUAL)
    backbone = load_backbone(family, str(presets[family]), max_len=MAX_LEN, virtual_tokens=VIRTUAL)
    return packer, backbone, preprocessor.tokenizer


def test_the_packer_keeps_the_places_after_the_start_token_and_cuts_the_text_to_max_len(presets):
    packer, _, tokenizer = _parts(presets, "bert")
    ids = packer(tf.constant(TEXTS))["token_ids"].numpy()
    start, end = tokenizer.start_token_id, tokenizer.end_token_id
    assert ids.shape[1] == MAX_LEN + VIRTUAL
    assert (ids[:, : 1 + VIRTUAL] == start).all()
    assert list(ids[0, 1 + VIRTUAL: 1 + VIRTUAL + 4]) == [*tokenizer("a good film"), end]
    assert ids[1, -1] == end and (ids[1, 1 + VIRTUAL: -1] > 4).all()  # the long text: MAX_LEN - 2 of its words
    assert list(ids[2, : 2 + VIRTUAL]) == [start] * (1 + VIRTUAL) + [end]  # an empty text keeps its prompt


def test_the_virtual_tokens_count_against_the_presets_positions(presets):
    with pytest.raises(InputError, match="--max-len 8 and --virtual-tokens 9: .* position embeddings for 16 tokens"):
        load_backbone("bert", str(presets["bert"]), max_len=8, virtual_tokens=9)


def _sequence(outputs):
    return outputs["sequence_output"] if isinstance(outputs, dict) else outputs  # DistilBERT: the sequence only


@pytest.mark.parametrize("family", ["bert", "distil_bert"])
def test_a_prompt_that_equals_the_placeholders_embeddings_changes_nothing(presets, family):
    # So the prompt sits exactly where the placeholders' embeddings were, positions included, and nowhere else.
    packer, backbone, tokenizer = _parts(presets, family)
    inputs = packer(tf.constant(TEXTS))
    plain = _sequence(backbone(inputs))
    same = initial_vectors(backbone, VIRTUAL, tokenizer.start_token_id, [tokenizer.start_token_id], seed=0)
    prompted = add_soft_prompt(backbone, "prompt", VIRTUAL, same)
    np.testing.assert_allclose(_sequence(prompted(inputs)), plain, atol=1e-6)
    moved = same + np.random.default_rng(0).normal(size=same.shape)  # not a constant: LayerNorm would remove it
    other = add_soft_prompt(backbone, "prompt", VIRTUAL, moved)
    assert np.abs(_sequence(other(inputs)) - plain).max() > 1e-2


def test_prompt_init_repeats_the_texts_token_embeddings(presets):
    _, backbone, tokenizer = _parts(presets, "bert")
    ids = [int(i) for i in tokenizer("good film")]  # eager: a list
    vectors = initial_vectors(backbone, VIRTUAL, tokenizer.start_token_id, ids, seed=0)
    table = backbone.token_embedding.embeddings.numpy()
    np.testing.assert_allclose(vectors, table[[ids[0], ids[1], ids[0]]], atol=1e-6)
    drawn = initial_vectors(backbone, VIRTUAL, tokenizer.start_token_id, None, seed=0)
    assert drawn.shape == vectors.shape and drawn.std() == pytest.approx(table.std(), rel=0.9)


def _weights(model) -> dict[str, np.ndarray]:
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


@pytest.mark.large
@pytest.mark.parametrize("method", ["prompt", "ptuning"])
def test_only_the_prompt_and_the_head_train(presets, method):
    packer, backbone, tokenizer = _parts(presets, "bert")
    initial = initial_vectors(backbone, VIRTUAL, tokenizer.start_token_id, None, seed=0)
    classifier = build_classifier(add_soft_prompt(backbone, method, VIRTUAL, initial), 2)
    trainable, total = parameter_counts(classifier)
    prompt_size = VIRTUAL * 4 + (3 * (4 * 4 + 4) if method == "ptuning" else 0)  # P-tuning: its 3-layer MLP
    assert trainable == prompt_size + 4 * 2 + 2  # the prompt and the logits; BERT's pooler is the backbone's, frozen
    compile_classifier(classifier, peak_lr=1e-1, total_steps=2, warmup_ratio=0.0, clipnorm=1.0,
                       weight_decay=0.0)
    before = _weights(classifier)
    classifier.train_on_batch(packer(tf.constant(TEXTS)), LABELS)
    changed = {path for path, value in _weights(classifier).items() if not np.array_equal(value, before[path])}
    assert any("soft_prompt" in path for path in changed) and any("logits" in path for path in changed)
    assert all(path.split("/")[0] in ("soft_prompt", "logits") for path in changed), changed
