"""Occlusion (leave one word out), for any run through its exported raw-text model: nbsvm, ensembles and every
other family. A word's score is the drop in the class's probability when the text is read without it.

The cost is one forward pass per word: a text of more than `MAX_PASSES` words is occluded in windows of
consecutive words (as many as it takes to stay within `MAX_PASSES`), each word of a window scored with the
window's drop divided by its length.
"""

from collections.abc import Callable

import numpy as np

from textclf.explain.reading import Reading

MAX_PASSES = 128  # texts read per explanation besides the whole one
CHUNK = 64  # texts per call of the model


def occlusion(probabilities: Callable[[list[str]], np.ndarray], reading: Reading, target: int) -> np.ndarray:
    """Each word's drop in `probabilities`' column `target` when it is left out of the text.

    Args:
        probabilities: texts (as the model takes them, after `text.prepare`) -> class probabilities.
        reading: the text's words and how to join them back (`reading.Reading`).
    """
    words = reading.words
    if not words:
        return np.zeros(0, dtype="float32")
    window = -(-len(words) // MAX_PASSES)
    starts = range(0, len(words), window)
    texts = [reading.joiner.join(words)] + [reading.joiner.join(words[:start] + words[start + window:])
                                            for start in starts]
    scores = np.concatenate([probabilities(texts[i:i + CHUNK])[:, target] for i in range(0, len(texts), CHUNK)])
    lengths = np.array([min(window, len(words) - start) for start in starts])
    return np.repeat((scores[0] - scores[1:]) / lengths, lengths).astype("float32")
