"""The decoder family (`--model llm`) on tiny random Llama 3, Qwen and Gemma presets with tokenizers built here: a
byte-level BPE vocabulary for Llama 3 and Qwen, a SentencePiece model for Gemma."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pandas as pd
import pytest
import sentencepiece
import tensorflow as tf

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.families.decoder.backbone import load_backbone, load_tokenizer, projection_names
from textclf.families.decoder.head import LastTokenPooling, build_classifier, label_token_ids
from textclf.families.decoder.packer import PromptPacker, check_template
from textclf.families.pretrained.adapters import enable_lora
from textclf.families.pretrained.fine_tuning import compile_classifier
from textclf.models.registry import LLM_TEMPLATE
from textclf.run import run
from textclf.serving.predictor import Predictor

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["the", "a", "film", "movie", "is", "good", "bad", "great", "not", "and", "it", "of", "positive", "negative",
         "read", "answer", "text", "which", ":", ",", '"']
SENTENCES = ["the film is good", "a movie is bad", "not great and not good", "positive , negative answer :"]
TINY = dict(num_layers=1, num_query_heads=2, num_key_value_heads=1, hidden_dim=8, intermediate_dim=16)


def _byte_pair(special: list[str]) -> tuple[dict, list[str]]:
    # Merges that spell each word from its characters, every step in the vocabulary as keras-hub asks; ranked in a
    # fixed order (not a set's), those of space-led words first, so that every word in the vocabulary is one token.
    words = [f"Ġ{w}" for w in WORDS] + WORDS
    pieces = sorted({w[:i] for w in words for i in range(1, len(w) + 1)} | {c for w in words for c in w})
    vocabulary = {piece: i for i, piece in enumerate(pieces + special)}
    merges = {f"{w[:i]} {w[i]}" for w in words for i in range(1, len(w))}
    return vocabulary, sorted(merges, key=lambda merge: (not merge.startswith("Ġ"), len(merge), merge))


def _llama3():
    vocabulary, merges = _byte_pair(["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                     "<|end_header_id|>", "<|eot_id|>"])
    tokenizer = keras_hub.models.Llama3Tokenizer(vocabulary=vocabulary, merges=merges)
    return keras_hub.models.Llama3Backbone(vocabulary_size=len(vocabulary), **TINY), tokenizer


def _qwen():
    vocabulary, merges = _byte_pair(["<|endoftext|>"])
    tokenizer = keras_hub.models.QwenTokenizer(vocabulary=vocabulary, merges=merges)
    return keras_hub.models.QwenBackbone(vocabulary_size=len(vocabulary), **TINY), tokenizer


def _gemma():
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES), model_writer=proto, vocab_size=17, model_type="WORD", pad_id=0, eos_id=1,
        bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>")
    tokenizer = keras_hub.models.GemmaTokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.GemmaBackbone(vocabulary_size=tokenizer.vocabulary_size(), head_dim=4,
                                              **{k: v for k, v in TINY.items()})
    return backbone, tokenizer


TINY_PRESETS = {"llama3": _llama3, "qwen": _qwen, "gemma": _gemma}


@pytest.fixture(scope="module")
def presets(save_presets) -> dict[str, Path]:
    """A Keras preset folder per family, written as keras-hub's save_to_preset writes one."""
    return save_presets(TINY_PRESETS)


LABELS = ["negative", "positive"]
TEMPLATE = 'read the text:"{text}", which of:{labels},answer:'


@pytest.mark.large
def test_the_packer_cuts_the_text_and_never_the_template_or_the_labels(presets):
    tokenizer = load_tokenizer(str(presets["llama3"]))
    whole = PromptPacker(tokenizer, TEMPLATE, LABELS, max_len=200, truncate="head")
    whole.build()
    cut = PromptPacker(tokenizer, TEMPLATE, LABELS, max_len=len(whole.prefix) + len(whole.suffix) + 3,
                       truncate="head")
    assert whole.prefix[0] == tokenizer.start_token_id  # Llama 3's <|begin_of_text|> opens the prompt
    text = "the film is good and not bad and great"
    ids, mask = (cut(tf.constant([text, "a film"]))[k].numpy() for k in ("token_ids", "padding_mask"))
    kept = [int(i) for i in tokenizer(text)][:3]
    assert list(ids[0]) == cut.prefix + kept + cut.suffix  # three text tokens, the template whole around them
    short = len(cut.prefix) + 2 + len(cut.suffix)
    assert list(mask[1]) == [1] * short + [0] * (len(ids[1]) - short)  # right-padded
    with pytest.raises(InputError, match="leave none for the text"):
        PromptPacker(tokenizer, TEMPLATE, LABELS, max_len=len(whole.prefix) + len(whole.suffix),
                     truncate="head").build()


def test_the_labels_fill_the_template_and_a_template_needs_one_text():
    check_template("{text}")
    for bad in ("no text here", "{text} and {text}"):
        with pytest.raises(InputError, match="exactly once"):
            check_template(bad)


def test_last_token_pooling_reads_the_last_real_token_of_right_and_left_padded_rows():
    states = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
    right, left = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]), np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    pooled = LastTokenPooling()
    np.testing.assert_array_equal(pooled(states, right), states[[0, 1], [2, 4]])
    np.testing.assert_array_equal(pooled(states, left), states[[0, 1], [4, 4]])


@pytest.mark.large
@pytest.mark.parametrize("family", sorted(TINY_PRESETS))
def test_label_words_score_the_class_names_first_tokens_as_the_language_model_does(presets, family):
    backbone = load_backbone(str(presets[family]))
    tokenizer = load_tokenizer(str(presets[family]))
    ids = label_token_ids(tokenizer, LABELS)
    classifier = build_classifier(backbone, 2, head="label_words", label_ids=ids)
    packer = PromptPacker(tokenizer, TEMPLATE, LABELS, 64, "head")
    inputs = packer(tf.constant(SENTENCES))
    states = backbone(inputs).numpy()
    last = inputs["padding_mask"].numpy().sum(axis=1) - 1
    logits = backbone.token_embedding(states[np.arange(4), last], reverse=True).numpy()  # over the vocabulary
    if getattr(backbone.token_embedding, "logit_soft_cap", None):  # Gemma caps its logits; the head does not
        logits = np.arctanh(logits / backbone.token_embedding.logit_soft_cap) * backbone.token_embedding.logit_soft_cap
    expected = np.exp(logits[:, ids]) / np.exp(logits[:, ids]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(classifier(inputs), expected, atol=1e-5)
    with pytest.raises(InputError, match="do not all start with different tokens"):
        label_token_ids(tokenizer, ["good film", "good movie"])


def _weights(model) -> dict[str, np.ndarray]:
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


def _assert_the_update_is_scaled_by_alpha_over_rank(layer, scale: float):
    """The layer's output moves by exactly `scale` x its input through A @ B once B is no longer zero."""
    x = np.random.default_rng(0).normal(size=(1, 3, layer.lora_kernel_a.shape[0])).astype("float32")  # (batch, seq, d)
    before = keras.ops.convert_to_numpy(layer(x))
    layer.lora_kernel_b.assign(np.random.default_rng(1).normal(size=layer.lora_kernel_b.shape))
    update = keras.ops.matmul(layer.lora_kernel_a, layer.lora_kernel_b)
    moved = keras.ops.einsum(layer.equation, x, update) if hasattr(layer, "equation") else keras.ops.matmul(x, update)
    expected = before + scale * keras.ops.convert_to_numpy(moved)  # EinsumDense or Dense, as the family builds it
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)
    layer.lora_kernel_b.assign(np.zeros(layer.lora_kernel_b.shape))


@pytest.mark.large
@pytest.mark.parametrize("family", sorted(TINY_PRESETS))
def test_lora_on_every_projection_trains_only_the_adapters_and_the_head(presets, family):
    backbone = load_backbone(str(presets[family]))
    targets = projection_names(backbone)
    assert {"query", "value", "attention_output"} <= set(targets) and len(targets) >= 6  # attention and MLP
    classifier = build_classifier(backbone, 2)
    enable_lora(backbone, rank=2, alpha=8, targets=targets)
    adapted = [layer for layer in backbone._flatten_layers() if getattr(layer, "lora_enabled", False)]
    assert len(adapted) == len(targets) and all(layer.lora_alpha / layer.lora_rank == 4 for layer in adapted)
    _assert_the_update_is_scaled_by_alpha_over_rank(adapted[0], scale=4)
    compile_classifier(classifier, peak_lr=1e-2, total_steps=2, warmup_ratio=0.0, clipnorm=1.0,
                       weight_decay=0.01)
    packer = PromptPacker(load_tokenizer(str(presets[family])), TEMPLATE, LABELS, 64, "head")
    before = _weights(classifier)
    classifier.train_on_batch(packer(tf.constant(SENTENCES)), np.array([1, 0, 0, 1]))
    changed = {path for path, value in _weights(classifier).items() if not np.array_equal(value, before[path])}
    head = {w.path for layer in classifier.layers if layer is not backbone for w in layer.weights}
    assert head <= changed and any("lora_kernel_b" in path for path in changed)
    assert changed <= head | {path for path in changed if "lora_kernel" in path}


def test_an_untied_language_model_head_is_frozen_since_the_classifier_never_reads_it(presets):
    embedding = load_backbone(str(presets["llama3"])).token_embedding  # Llama 3: untied by default
    assert not embedding.tie_weights
    assert not embedding.reverse_embeddings.trainable and embedding.embeddings.trainable


@pytest.mark.large
@pytest.mark.parametrize("family", sorted(TINY_PRESETS))
def test_remat_recomputes_each_decoder_block_with_the_same_loss_and_gradients(presets, family,
                                                                               assert_remat_changes_nothing):
    packer = PromptPacker(load_tokenizer(str(presets[family])), TEMPLATE, LABELS, 64, "head")
    assert_remat_changes_nothing(lambda: load_backbone(str(presets[family])),
                         lambda backbone: build_classifier(backbone, 2),
                         packer(tf.constant(SENTENCES)), np.array([1, 0, 0, 1]))


MIRRORED = """
import json, sys
import keras, numpy as np, tensorflow as tf
from textclf.data.pipeline import EpochShuffle
from textclf.families.decoder.backbone import load_backbone, load_tokenizer, projection_names
from textclf.families.decoder.head import build_classifier
from textclf.families.decoder.packer import PromptPacker
from textclf.families.pretrained.adapters import enable_lora
from textclf.families.pretrained.fine_tuning import compile_classifier
from textclf.families.pretrained.packing import make_dataset
from textclf.training.devices import setup_strategy

strategy, _ = setup_strategy(2)  # before TensorFlow starts: two logical CPUs
folders, template, labels, texts, targets = json.loads(sys.argv[1])
for folder in folders:
    with strategy.scope():
        backbone = load_backbone(folder)
        classifier = build_classifier(backbone, 2)
        enable_lora(backbone, 2, 4, targets=projection_names(backbone))
        compile_classifier(classifier, peak_lr=1e-2, total_steps=2, warmup_ratio=0.0, clipnorm=1.0,
                           weight_decay=0.01)
    packer = PromptPacker(load_tokenizer(folder), template, labels, 64, "head")
    packer.build()
    shuffle = EpochShuffle(1)
    train = make_dataset(texts, targets, packer, global_batch=4, shuffle=shuffle, replicas=2)
    adapters = [w for w in classifier.trainable_weights if "lora_kernel_b" in w.path]
    history = classifier.fit(train, epochs=1, callbacks=[shuffle], verbose=0).history
    moved = max(float(np.abs(keras.ops.convert_to_numpy(w)).max()) for w in adapters)  # B starts at zero
    print(json.dumps({"family": type(backbone).__name__, "replicas": strategy.num_replicas_in_sync,
                      "loss": history["loss"][0], "moved": moved}))
"""


@pytest.mark.large
def test_each_family_trains_with_lora_under_mirrored_strategy_on_two_cpus(presets):
    # Four copies of four sentences: every length bucket fills whole batches of 4, two rows per replica.
    folders = [str(presets[family]) for family in sorted(TINY_PRESETS)]
    argument = json.dumps([folders, TEMPLATE, LABELS, SENTENCES * 4, [1, 0, 0, 1] * 4])
    done = subprocess.run([sys.executable, "-c", MIRRORED, argument], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.strip().splitlines()[-len(folders):]]
    assert [result["family"] for result in results] == ["GemmaBackbone", "Llama3Backbone", "QwenBackbone"]
    for result in results:
        assert result["replicas"] == 2 and np.isfinite(result["loss"]) and result["moved"] > 0, result


def _config(fixtures, out, preset: Path, **given) -> RunConfig:
    return RunConfig(**{**dict(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model="llm", epochs=1,
                               batch_size=8, max_len=128, output_dir=str(out), preset=str(preset)), **given})


@pytest.mark.large
def test_an_llm_run_reports_exports_and_serves_what_it_tested(tmp_path, fixtures, presets):
    # LoRA, --remat and the label-word head in one run; the MLP head trains in the LoRA and MirroredStrategy tests.
    config = _config(fixtures, tmp_path, presets["qwen"], lora_rank=2, head="label_words", remat=True)
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    assert row["model"] == "llm" and row["config_head"] == "label_words"
    assert row["trainable_parameters"] < row["total_parameters"]
    assert row["config_prompt_template"] == LLM_TEMPLATE and row["config_max_len"] == 128
    assert "--remat: 1 transformer blocks recompute" in (Path(row["run_dir"]) / "run.log").read_text()
    predictions = pd.read_csv(Path(row["run_dir"]) / "test_predictions.csv")
    texts = predictions["text"].fillna("").tolist()
    np.testing.assert_allclose(Predictor(row["run_dir"]).predict(texts), predictions.filter(like="p_").to_numpy(),
                               atol=1e-6)
    # In a fresh process, as serve.py and predict.py load it: the prompt packer and pooling are registered there too.
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'src'); from textclf.serving.predictor import Predictor; "
         "print(Predictor(sys.argv[1]).predict([sys.argv[2]])[0, 1])", row["run_dir"], texts[0]],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert float(fresh.stdout.split()[-1]) == pytest.approx(predictions.filter(like="p_").to_numpy()[0, 1], abs=1e-6)


@pytest.mark.large
def test_zero_shot_label_words_score_the_classes_as_the_preset_does(tmp_path, fixtures, presets):
    config = _config(fixtures, tmp_path, presets["gemma"], head="label_words", epochs=0, calibrate="none")
    row = pd.read_csv(run(config, "cmd", tf.distribute.get_strategy(), False)).iloc[0]
    assert (row["epochs_run"], row["best_epoch"], row["train_seconds"]) == (0, 0, 0)
    predictions = pd.read_csv(Path(row["run_dir"]) / "test_predictions.csv")
    backbone = load_backbone(str(presets["gemma"]))  # untouched: the preset's own weights
    tokenizer = load_tokenizer(str(presets["gemma"]))
    classifier = build_classifier(backbone, 2, head="label_words",
                                  label_ids=label_token_ids(tokenizer, LABELS))
    packer = PromptPacker(tokenizer, LLM_TEMPLATE, LABELS, 128, "head")
    expected = classifier(packer(tf.constant(predictions["text"].fillna("").tolist())))
    np.testing.assert_allclose(predictions.filter(like="p_").to_numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(("given", "message"), [
    ({"preset": None}, "--model llm needs --preset"),
    ({"epochs": 0}, "--epochs 0 evaluates a model without training it, which only --model llm --head label_words"),
    ({"max_len": 40}, r"--max-len 40: the prompt template and the class names take \d+ tokens and leave none"),
    ({"prompt_template": "no placeholder"}, "it must hold {text} exactly once"),
    ({"model_args": {"pooling": "mean"}}, "model llm with --head mlp has no setting 'pooling'; its settings are dropout"),
    ({"head": "label_words", "model_args": {"dropout": 0.2}}, "model llm with --head label_words has no setting 'dropout'; it takes none"),
    ({"model": "gru", "preset": None, "head": "mlp", "prompt_template": None}, "--head does not apply to --model gru"),
    ({"peft": "prompt"}, r"--peft does not apply to --model llm \(decoder family\): it is a setting of the encoder family"),
    ({"preset": "no_such_preset"}, "neither a folder nor a keras-hub causal LM preset"),
    ({"model": "bert"}, "--prompt-template does not apply to --model bert"),
    ({"model": "gru", "preset": None}, "--prompt-template does not apply to --model gru"),
])
def test_settings_that_do_not_apply_to_an_llm_are_refused_before_a_run_folder(tmp_path, fixtures, presets, given,
                                                                              message):
    settings = {**_config(fixtures, tmp_path / "out", presets["llama3"]).to_dict(), **given}
    if settings["model"] != "llm" and "prompt_template" not in given:
        settings["prompt_template"] = "{text}"
    with pytest.raises(InputError, match=message.replace("{text}", r"\{text\}")):
        run(RunConfig(**settings), "cmd", tf.distribute.get_strategy(), False)
    assert not list((tmp_path / "out").glob("run_*"))  # the --max-len one, found once the tokenizer is loaded
