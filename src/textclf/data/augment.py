"""Augmented copies of training texts for a distillation transfer set (`--augment K`, with `--teacher`).

Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", section 3.3): each
word of a text is masked with probability 0.1, or else replaced with probability 0.1 by a word like it; then, with
probability 0.25, the copy is cut to one of its n-grams (n from 1 to 5). The teacher labels every copy, so the
student sees the teacher's answer on texts near the training texts instead of the training texts alone.

"A word like it" is one of the 10 nearest neighbours of the word among the training words in word vectors
(`--embeddings`), or, for Chinese (jieba) without vectors, a training word of the same part of speech (jieba's
tagger), drawn by frequency. English without vectors is masked and cut only: no tagger comes with the stack.
Only the texts given are augmented (the training split's), each copy drawn from a generator seeded with the run's
seed: the same command gives the same copies.
"""

import collections
import re
from collections.abc import Callable, Sequence

import numpy as np
from loguru import logger

from textclf.data.embeddings import vectors_of

# The mask: a word of no language, which every tokenizer and --text-filter keeps whole (no brackets, which jieba
# splits and Weibo's emoticon filter removes), so the student learns it as one token, as Tang et al.'s learns
# [MASK]; the teacher reads it as an unknown word (its subwords).
MASK = "xxmask"
P_MASK, P_REPLACE, P_NGRAM, MAX_N = 0.1, 0.1, 0.25, 5
NEIGHBOURS = 10
# A word or a run of other non-space characters (punctuation): only words are masked or replaced.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]+")
_WORD = re.compile(r"\w")

Replacer = Callable[[str, np.random.Generator], str | None]


def english_tokens(text: str) -> list[str]:
    """`text`'s words and punctuation, in order; `<br />` and other tags dropped (IMDB's line breaks)."""
    return _TOKEN.findall(re.sub(r"<[^>]*>", " ", text))


def neighbour_replacer(words: Sequence[str], vectors: np.ndarray, chunk: int = 2048) -> Replacer:
    """A replacement among the `NEIGHBOURS` nearest words by cosine of `words` (rows of `vectors`, at least 2); None
    for a word without a vector."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = min(NEIGHBOURS, len(words) - 1)
    nearest = np.zeros((len(words), k), dtype=np.int64)
    for start in range(0, len(words), chunk):
        similarity = unit[start:start + chunk] @ unit.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf  # not itself
        nearest[start:start + chunk] = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    index = {word: i for i, word in enumerate(words)}

    def replace(word: str, rng: np.random.Generator) -> str | None:
        i = index.get(word.lower())
        return None if i is None else words[nearest[i, rng.integers(k)]]

    return replace


def tag_replacer(tagged_texts: Sequence[Sequence[tuple[str, str]]]) -> Replacer:
    """A replacement by a word of the same part of speech in `tagged_texts` ((word, tag) pairs), drawn by how often
    each word occurs; None for a word never seen."""
    counts = collections.defaultdict(collections.Counter)
    tag_of = {}
    for pairs in tagged_texts:
        for word, tag in pairs:
            if _WORD.search(word):
                counts[tag][word] += 1
                tag_of.setdefault(word, tag)
    pools = {tag: (list(counter), np.array(list(counter.values()), dtype=float) / sum(counter.values()))
             for tag, counter in counts.items()}

    def replace(word: str, rng: np.random.Generator) -> str | None:
        if (tag := tag_of.get(word)) is None:
            return None
        candidates, weights = pools[tag]
        return candidates[rng.choice(len(candidates), p=weights)]

    return replace


def augmented(tokens: Sequence[str], replace: Replacer | None, rng: np.random.Generator) -> list[str]:
    """One copy of a text's `tokens`: each word masked or replaced, then perhaps cut to one of its n-grams."""
    copy = []
    for token in tokens:
        draw = rng.random()
        if not _WORD.search(token):
            copy.append(token)
        elif draw < P_MASK:
            copy.append(MASK)
        elif draw < P_MASK + P_REPLACE and replace is not None:
            copy.append(replace(token, rng) or token)
        else:
            copy.append(token)
    if copy and rng.random() < P_NGRAM:
        n = min(int(rng.integers(1, MAX_N + 1)), len(copy))
        start = int(rng.integers(len(copy) - n + 1))
        copy = copy[start:start + n]
    return copy


def transfer_texts(token_lists: Sequence[Sequence[str]], copies: int, replace: Replacer | None, seed: int,
                   joiner: str) -> list[str]:
    """Up to `copies` augmented copies of each text (its tokens joined by `joiner`), each different from the text
    and from its other copies; a copy drawn twice is drawn again, up to `copies` times more."""
    rng = np.random.default_rng(seed)
    texts = []
    for tokens in token_lists:
        seen = {joiner.join(tokens)}
        for _ in range(2 * copies):
            if len(seen) > copies:
                break
            copy = joiner.join(augmented(tokens, replace, rng))
            if copy.strip() and copy not in seen:
                seen.add(copy)
                texts.append(copy)
    return texts


def augment(texts: Sequence[str], copies: int, seed: int, *, chinese: bool, embeddings: str | None) -> list[str]:
    """`copies` augmented copies of each of `texts` (`transfer_texts`): English over `english_tokens`, Chinese over
    jieba's words, with `neighbour_replacer` over the `embeddings` file's vectors of the texts' words when given,
    else for Chinese `tag_replacer`, else no replacement."""
    if chinese:
        from jieba import posseg

        tagged = [[(pair.word, pair.flag) for pair in posseg.cut(text)] for text in texts]
        token_lists, joiner = [[word for word, _ in pairs] for pairs in tagged], ""
    else:
        tagged, token_lists, joiner = None, [english_tokens(text) for text in texts], " "
    replace = None
    if embeddings:
        words = sorted({token.lower() for tokens in token_lists for token in tokens if _WORD.search(token)})
        found, vectors = vectors_of(embeddings, words)
        if len(found) >= 2:
            replace = neighbour_replacer(found, vectors)
        logger.info(f"augmentation: {len(found):,} of {len(words):,} training words have a vector to replace by")
    elif chinese:
        replace = tag_replacer(tagged)
    else:
        logger.info("augmentation: no word vectors (--embeddings), so words are masked and texts cut, not replaced")
    made = transfer_texts(token_lists, copies, replace, seed, joiner)
    logger.info(f"augmentation: {len(made):,} copies of {len(texts):,} training texts")
    return made
