"""Pretrained word vectors (GloVe or word2vec text format) as the initial embedding matrix of a vocabulary."""

import contextlib
import gzip
from pathlib import Path

import numpy as np
from loguru import logger

from textclf.errors import InputError

RESERVED = 2  # ids 0 (padding) and 1 (out of vocabulary) are not words to look up
FLOAT32_MAX = float(np.finfo("float32").max)
INIT_SCALE = 0.05  # words without a vector start like Keras's default Embedding: uniform(-0.05, 0.05)


def load_vectors(path: str | Path, vocabulary: list[str], *, seed: int = 0) -> tuple[np.ndarray, float]:
    """Reads the vectors of `vocabulary`'s words from a GloVe or word2vec text file (.txt or .txt.gz).

    The file is streamed and only vocabulary words are kept, so a multi-gigabyte file needs little memory.
    Row 0 (padding) is zeros; row 1 (OOV) and words missing from the file get small seeded random values.

    Args:
        path: the vectors file, one "word v1 v2 ..." line per word; a first line of two integers
            ("count dim") marks word2vec's text format.
        vocabulary: words in id order, as `TextVectorization.get_vocabulary()` gives them.
        seed: for the random rows.

    Returns:
        The (len(vocabulary), dim) float32 matrix, and the fraction of vocabulary words (ids >= 2) found.

    Example:
        matrix, coverage = load_vectors("glove.6B.50d.txt.gz", vectorizer.get_vocabulary())
        model = builder(RunInputs(len(matrix), num_classes, max_len, embeddings=matrix))  # textclf.models.blocks
    """
    path = Path(path)
    check_file(path)
    ids = {word: i for i, word in enumerate(vocabulary) if i >= RESERVED}
    with _readable(path):
        found, dim = _read_vectors(path, ids)
    matrix = np.random.default_rng(seed).uniform(-INIT_SCALE, INIT_SCALE, (len(vocabulary), dim)).astype("float32")
    matrix[:1] = 0.0  # padding: masked anyway, zeros keep it inert if a layer ever reads it
    for i, vector in found.items():
        matrix[i] = vector
    coverage = len(found) / max(len(ids), 1)
    logger.info(f"{path.name}: {dim}-d vectors for {len(found)} of {len(ids)} words ({coverage:.1%})")
    return matrix, coverage


def vectors_of(path: str | Path, words: list[str]) -> tuple[list[str], np.ndarray]:
    """The words of `words` that the vectors file at `path` holds, in their order, and their (found, dim) vectors."""
    path = Path(path)
    check_file(path)
    with _readable(path):
        found, dim = _read_vectors(path, {word: i for i, word in enumerate(words)})
    kept = sorted(found)
    return [words[i] for i in kept], np.array([found[i] for i in kept], dtype="float32").reshape(len(kept), dim)


def check_file(path: str | Path):
    """Fails with one line unless `path` opens as a vectors file whose first line gives a width.

    Cheap (one line read), so a run checks it before it claims a run folder.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"embeddings file not found: {path}")
    with _readable(path), _open(path) as lines:
        first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise InputError(f"{path} is empty")
    _width(first.rstrip().split(" "), path)


@contextlib.contextmanager
def _readable(path: Path):
    try:
        yield
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise InputError(f"{path} is not a readable text vectors file (.txt or .txt.gz): {error}") from None


def _read_vectors(path: Path, ids: dict[str, int]) -> tuple[dict[int, np.ndarray], int]:
    """Streams `path`; returns {id: vector} for the words in `ids` (first occurrence wins) and the width."""
    found: dict[int, np.ndarray] = {}
    dim = None
    with _open(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            fields = line.rstrip().split(" ")
            if dim is None:
                dim = _width(fields, path)
                if len(fields) == 2:  # the word2vec header: count and width, no vector
                    continue
            if len(fields) != dim + 1:
                if len(fields) > dim + 1 and not _is_number(fields[1]):
                    continue  # a "word" with spaces (glove.840B has a few); never one of our tokens
                raise InputError(f"{path}, line {number}: expected a word and {dim} numbers, got {len(fields) - 1}")
            i = ids.get(fields[0])
            if i is not None and i not in found:
                found[i] = _vector(fields, path, number)
    return found, dim


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _width(first: list[str], path: Path) -> int:
    """The vector width, from the word2vec header ("count dim") or from the first GloVe line."""
    if len(first) == 2 and first[0].isdigit() and first[1].isdigit():
        dim = int(first[1])
    else:
        dim = len(first) - 1
    if dim < 1:
        raise InputError(f"{path}, line 1: neither a 'count dim' header nor a 'word v1 v2 ...' vector line")
    return dim


def _vector(fields: list[str], path: Path, number: int) -> np.ndarray:
    """The vector of a "word v1 v2 ..." line; nan or inf (also a value beyond float32) is an error, as it
    would turn every loss into nan."""
    try:
        vector = np.array(fields[1:], dtype="float64")
    except ValueError:
        raise InputError(f"{path}, line {number}: the vector has a value that is not a number") from None
    if not (np.abs(vector) <= FLOAT32_MAX).all():  # false for nan too
        raise InputError(f"{path}, line {number}: the vector of {fields[0]!r} holds nan or inf")
    return vector.astype("float32")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
