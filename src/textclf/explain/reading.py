"""A text as a run's model reads it: the run's own tokens in text order, each with the places of the model's input
that hold it.

- A from-scratch model (`models.raw_text.RawTextClassifier`): the words its vectorizer makes (English words
  standardized, jieba's words, or characters), cut to --max-len as in training; word i is input place i.
- A pretrained encoder or decoder (`EncoderRawTextClassifier`): the preset's subword tokens, cut as the packer cuts
  them, merged back into words (WordPiece's `##` pieces, SentencePiece's and byte-level BPE's pieces that start no
  word); a word holds the places of its pieces, after the start token, a soft prompt's places or the template.
"""

import dataclasses

import keras_hub
import numpy as np
import tensorflow as tf

from textclf.data import text
from textclf.data.pipeline import cut_tokens
from textclf.families.pretrained.packing import keep_tokens
from textclf.models.raw_text import EncoderRawTextClassifier, RawTextClassifier

SENTENCEPIECE_SPACE = "\u2581"  # "▁": starts a word in SentencePiece's pieces
BYTE_LEVEL_SPACE = "\u0120"  # "Ġ": a space before a word in byte-level BPE's pieces (GPT-2, RoBERTa, Llama 3, Qwen)


@dataclasses.dataclass(frozen=True)
class Reading:
    """The words of one text and the input places each covers."""

    words: list[str]
    places: list[list[int]]  # for each word, the places (along the model's token axis) of its tokens
    joiner: str = " "  # what puts the words back into a text the model reads as the same words


def joiner_of(tokenizer: str) -> str:
    """What joins a from-scratch run's words into a text its vectorizer splits into the same words."""
    return "" if tokenizer == "char" else " "


def scratch_reading(model: RawTextClassifier, prepared: str, tokenizer: str) -> Reading:
    """The words `model`'s vectorizer makes of `prepared` (a text after `text.prepare`: jieba's words for a jieba
    run), as `model` cuts them: --text-filter, standardization, split, --max-len."""
    filtered = text.filter_texts(tf.constant([prepared]), model.text_filter)
    standardized = text.STANDARDIZERS[tokenizer](filtered)
    tokens = (tf.strings.unicode_split(standardized, "UTF-8") if tokenizer == "char"
              else tf.strings.split(standardized))
    kept = cut_tokens(tokens, model.max_len, model.truncate)
    words = [word.decode("utf-8") for word in kept[0].numpy()]
    return Reading(words, [[place] for place in range(len(words))], joiner_of(tokenizer))


def packed_reading(model: EncoderRawTextClassifier, prepared: str) -> Reading:
    """The words of `prepared` as `model`'s packer reads it: its subword tokens, cut as the packer cuts them, merged
    into words."""
    packer = model.packer
    filtered = text.filter_texts(tf.constant([prepared]), model.text_filter)
    ids = [int(i) for i in np.asarray(packer.tokenizer(filtered)[0])]  # eagerly, keras-hub answers in lists
    positions = tf.ragged.constant([list(range(len(ids)))], dtype=tf.int64, ragged_rank=1)
    kept = keep_tokens(positions, packer.text_budget, packer.truncate)[0].numpy().tolist()
    pieces = [ids[k] for k in kept]
    words, places = [], []
    for place, (piece_id, piece) in enumerate(zip(pieces, (packer.tokenizer.id_to_token(i) for i in pieces))):
        if not words or _starts_word(packer.tokenizer, piece):
            words.append([])
            places.append([])
        words[-1].append(piece_id)
        places[-1].append(packer.text_start + place)
    return Reading([_word(packer.tokenizer, word) for word in words], places)


def _starts_word(tokenizer, piece: str) -> bool:
    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        return not piece.startswith("##")
    if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        return piece.startswith(SENTENCEPIECE_SPACE)
    if isinstance(tokenizer, keras_hub.tokenizers.BytePairTokenizer):
        return piece.startswith(BYTE_LEVEL_SPACE)
    return True  # a tokenizer of another kind: each of its tokens is shown as a word


def _word(tokenizer, ids: list[int]) -> str:
    """A word's pieces as text: the tokenizer's own detokenization (bytes back to characters for byte-level BPE),
    without WordPiece's `##` marks and the space a piece starts with."""
    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        return "".join(tokenizer.id_to_token(i).removeprefix("##") for i in ids)
    detokenized = tokenizer.detokenize(np.asarray(ids, dtype="int32"))
    detokenized = detokenized.numpy() if hasattr(detokenized, "numpy") else detokenized
    detokenized = detokenized.decode("utf-8", "replace") if isinstance(detokenized, bytes) else str(detokenized)
    return detokenized.replace(SENTENCEPIECE_SPACE, " ").strip()


def reading(model, prepared: str, tokenizer: str) -> Reading:
    """The words of `prepared` as `model` reads them (a from-scratch or a packed model); for any other model (an
    ensemble, whose members read it each their own way), the words of the text split at white space (a text that
    is one non-ASCII run, such as Chinese, at each character)."""
    if isinstance(model, RawTextClassifier):
        return scratch_reading(model, prepared, tokenizer)
    if isinstance(model, EncoderRawTextClassifier):
        return packed_reading(model, prepared)
    words, joiner = prepared.split(), " "
    if len(words) == 1 and not words[0].isascii():  # Chinese, say, without spaces: one word per character
        words, joiner = list(words[0]), ""
    return Reading(words, [[place] for place in range(len(words))], joiner)
