"""A text's words as a packed model reads them: subword pieces merged back into words for WordPiece, byte-level BPE
and SentencePiece, at the places the packer puts them."""

from types import SimpleNamespace

import keras_hub
import pytest

from textclf.explain.reading import packed_reading, reading
from textclf.families.decoder.backbone import load_tokenizer
from textclf.families.decoder.packer import PromptPacker
from textclf.families.encoder.packer import make_packer


def _model(packer):
    """What `packed_reading` reads of an `EncoderRawTextClassifier`: its packer and its --text-filter."""
    return SimpleNamespace(packer=packer, text_filter=None)


def _bert_packer(truncate: str = "head", max_len: int = 16):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "##ed", "good", "film", "a",
             "很", "好", "看"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=max_len)
    return make_packer("bert", preprocessor, truncate)


def test_wordpiece_pieces_join_the_word_before_them():
    read = packed_reading(_model(_bert_packer()), "a good film playing played")
    assert read.words == ["a", "good", "film", "playing", "played"]
    assert read.places == [[1], [2], [3], [4, 5], [6, 7]]  # after [CLS]
    assert packed_reading(_model(_bert_packer()), "很好看").words == ["很", "好", "看"]  # one word per character


def test_only_the_pieces_the_packer_keeps_are_read():
    packer = _bert_packer("tail", max_len=6)  # 4 pieces between [CLS] and [SEP]: the last 4
    read = packed_reading(_model(packer), "a good film playing played")
    assert read.words == ["playing", "played"] and read.places == [[1, 2], [3, 4]]


def test_byte_level_bpe_pieces_start_a_word_after_a_space():
    pieces = ["Ġ", "Ġt", "Ġth", "Ġthe", "Ġq", "Ġf", "Ġfo", "Ġfox", *sorted(set("thequickfox"))]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, **{piece: 4 + i for i, piece in enumerate(pieces)}}
    merges = ["Ġ t", "Ġt h", "Ġth e", "Ġ q", "Ġ f", "Ġf o", "Ġfo x"]
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocab, merges=merges)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(tokenizer, sequence_length=16)
    read = packed_reading(_model(make_packer("roberta", preprocessor, "head")), "the quick fox the")
    assert read.words == ["the", "quick", "fox", "the"]  # the first "the" is 3 pieces (no space before it)
    assert read.places == [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10]]


@pytest.mark.large
def test_sentencepiece_pieces_after_a_prompt_template_merge_into_the_texts_words(tiny_decoder_preset):
    tokenizer = load_tokenizer(str(tiny_decoder_preset))
    packer = PromptPacker(tokenizer, "Review: {text} Sentiment ({labels}):", ["negative", "positive"], 64, "head")
    packer.build()
    text = "a gripping and wonderful film"
    read = packed_reading(_model(packer), text)
    assert read.words == text.split()
    assert any(len(places) > 1 for places in read.places)  # the fixture's small vocabulary splits some words
    flat = [place for places in read.places for place in places]
    assert flat == list(range(packer.text_start, packer.text_start + len(flat)))  # after the template's start


def test_an_ensemble_reads_words_at_white_space_and_chinese_at_each_character():
    ensemble = SimpleNamespace()
    assert reading(ensemble, "a good  film", "word").words == ["a", "good", "film"]
    chinese = reading(ensemble, "很好看", "word")
    assert chinese.words == ["很", "好", "看"] and chinese.joiner == ""
