"""Text cleaning and tokenizers, shared by training and serving.

English and character tokenization run as TensorFlow ops inside `TextVectorization`,
so an exported model takes raw strings. Jieba word segmentation is Python: `segment`
is the one function both training and serving call, and its output is cached on
disk keyed by a hash of the input, so a second run does not segment again.
"""

from pathlib import Path

import jieba
import keras
import tensorflow as tf
from loguru import logger

from textclf.data.filters import PATTERNS
from textclf.files import cache_key, replacing

jieba.setLogLevel(60)  # jieba prints its dictionary loading at INFO to stderr


@keras.saving.register_keras_serializable(package="textclf")
def standardize_english(text):
    """Lowercase, drop HTML tags such as IMDB's `<br />`, keep words."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<[^>]*>", " ")
    return tf.strings.regex_replace(text, r"[^\pL\pN']+", " ")


@keras.saving.register_keras_serializable(package="textclf")
def standardize_segmented(text):
    """Text already split into space-separated words (jieba): only lowercase Latin letters."""
    return tf.strings.lower(text, encoding="utf-8")


@keras.saving.register_keras_serializable(package="textclf")
def standardize_chars(text):
    """One token per character: lowercase and drop white space."""
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), r"\s+", "")


STANDARDIZERS = {"word": standardize_english, "jieba": standardize_segmented, "char": standardize_chars}


def resolve_tokenizer(tokenizer: str, language: str) -> str:
    if tokenizer != "auto":
        return tokenizer
    return "jieba" if language == "zh" else "word"


def make_vectorizer(tokenizer: str, vocab_size: int, ngrams: int | None = None) -> keras.layers.TextVectorization:
    """Maps strings to ragged token ids (0 = padding, 1 = out of vocabulary). With `ngrams` n, a text's ids are
    those of its tokens, then of its bigrams, ... up to its n-grams."""
    return keras.layers.TextVectorization(
        max_tokens=vocab_size,
        ngrams=ngrams,
        standardize=STANDARDIZERS[tokenizer],
        split="character" if tokenizer == "char" else "whitespace",
        output_mode="int",
        ragged=True,
    )


def _segment_one(text: str) -> str:
    return " ".join(token for token in jieba.cut(text) if token.strip())


def segment(texts: list[str], cache_dir: str | None = None) -> list[str]:
    """Jieba word segmentation, one space-joined line per text.

    Args:
        texts: raw texts.
        cache_dir: where to keep segmented copies, keyed by a hash of `texts`; None: no cache.
    """
    if cache_dir is None:
        return [_segment_one(t) for t in texts]
    path = Path(cache_dir) / f"jieba_{cache_key(texts, jieba.__version__)}.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").split("\n")
        if len(lines) == len(texts):
            logger.info(f"segmented text from cache {path}")
            return lines
    logger.info(f"segmenting {len(texts)} texts with jieba")
    lines = [_segment_one(t) for t in texts]
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return lines


def prepare(texts: list[str], tokenizer: str, cache_dir: str | None = None) -> list[str]:
    """What a text goes through before the model's TensorFlow ops: jieba, or nothing."""
    return segment(texts, cache_dir) if tokenizer == "jieba" else list(texts)


def filter_texts(texts: tf.Tensor, text_filter: str | None) -> tf.Tensor:
    """`texts` (a string tensor) with the matches of the `--text-filter` named `text_filter` replaced by a space."""
    return texts if text_filter is None else tf.strings.regex_replace(texts, PATTERNS[text_filter], " ")


def filtered(texts: list[str], text_filter: str | None) -> list[str]:
    """`filter_texts` on a list of texts (training's), by the same TensorFlow op the exported model runs."""
    if text_filter is None:
        return texts
    kept = [text.decode("utf-8") for text in filter_texts(tf.constant(texts, dtype=tf.string), text_filter).numpy()]
    changed = sum(old != new for old, new in zip(texts, kept))
    logger.info(f"--text-filter {text_filter}: {changed:,} of {len(texts):,} texts changed, "
                f"{sum(not text.strip() for text in kept):,} left blank")
    return kept
