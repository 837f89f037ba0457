"""Integrated gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks") on the token
embeddings of a differentiable run: from-scratch models, pretrained encoders (LoRA and soft prompts included) and
decoders.

The path runs, in every embedding layer of the classifier (token embeddings; fastText's bigram embeddings; BERT's
segment embeddings), from a baseline text whose tokens are all the padding id to the text's own vectors, while the
padding mask, the positions, the start and end tokens, a prompt template and a soft prompt stay as they are (as
Captum's BERT tutorial does). From all-zero vectors instead, a MiniLM's probability jumped within a twentieth of the
path and no number of points kept the sum near the difference. The integral over alpha is a
Gauss-Legendre quadrature of `STEPS` points, all in one batch, with more points where the sum says so
(`Integrator.converged`); `tests/explain/test_explain.py` checks completeness, the attributions' sum against
f(text) - f(baseline), on GRU, fastText and BERT models. A place's attribution is the dot product of its vectors
with the averaged gradients, summed over the embedding layers.
"""

import contextlib
from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf
from loguru import logger

from textclf.data import text
from textclf.data.pipeline import clip_tokens
from textclf.models.raw_text import EncoderRawTextClassifier, RawTextClassifier

STEPS = 16  # quadrature points: one batch of 16 copies of the text, more where the sum says so (`converged`)
CHUNK = 64  # copies of the text per batch
# An embedding layer whose place t embeds tokens t to t + n - 1 (fastText's hashed bigrams, `models/fasttext.py`):
# its attribution at t is shared evenly by those tokens.
SPANS = {"bigram_embedding": 2}
TOLERANCE = 0.01  # |sum of the attributions - (f(text) - f(baseline))| that `converged` accepts, in probability


def differentiable(model) -> bool:
    """Whether integrated gradients apply: a raw-text model whose classifier embeds its tokens (not nbsvm's n-gram
    weights, not an ensemble)."""
    return isinstance(model, (RawTextClassifier, EncoderRawTextClassifier)) and bool(embedding_layers(model.classifier))


def embedding_layers(classifier: keras.Model) -> list[keras.layers.Layer]:
    """The classifier's layers that turn token ids into vectors (keras-hub's ReversibleEmbedding among them)."""
    return [layer for layer in classifier._flatten_layers() if isinstance(layer, keras.layers.Embedding)]


def classifier_inputs(model, prepared: str):
    """What `model`'s classifier takes for the text `prepared`, as the raw-text model makes it: token ids of shape
    (1, places), or the packer's input dict cut to the text's real places (no padding)."""
    texts = text.filter_texts(tf.constant([prepared]), model.text_filter)
    if isinstance(model, RawTextClassifier):
        return clip_tokens(model.vectorizer(texts), model.max_len, model.truncate).to_tensor(0)
    packed = model.packer(texts)
    places = int(tf.reduce_sum(packed["padding_mask"]))
    return {name: value[:, :places] for name, value in packed.items()}


@contextlib.contextmanager
def _on_path(layers: list, alphas: tf.Tensor, baseline_ids: Callable, tape: tf.GradientTape,
             points: list) -> Iterator[None]:
    """Each of `layers` puts out baseline + alpha * (its vectors - baseline), one alpha per row of the batch, the
    baseline being its vectors of `baseline_ids(its input ids)`; the point is watched by `tape` and (layer, vectors -
    baseline, point) appended to `points`. The layers' own `call` is back afterwards."""
    own = {layer: vars(layer).get("call") for layer in layers}

    def on_path(layer, call):
        def run(ids, *args, **kwargs):
            vectors = call(ids, *args, **kwargs)
            baseline = call(baseline_ids(ids), *args, **kwargs)
            point = baseline + tf.cast(alphas, vectors.dtype)[:, None, None] * (vectors - baseline)
            tape.watch(point)
            points.append((layer, vectors - baseline, point))
            return point

        return run

    for layer in layers:
        layer.call = on_path(layer, layer.call)
    try:
        yield
    finally:
        for layer, call in own.items():
            if call is None:
                del layer.call
            else:
                layer.call = call


class Integrator:
    """Integrated gradients of one classifier. A batch of points runs as one TensorFlow graph, traced for any text
    length (the layers are put on the path while it is traced): eagerly, a MiniLM's explained request took 1.2 s.

    Not thread-safe: `explainer.Explainer` holds a lock around it.
    """

    def __init__(self, classifier: keras.Model):
        self.classifier = classifier
        self.layers = embedding_layers(classifier)
        self._chunk = tf.function(self._points, reduce_retracing=True)

    def _points(self, inputs, alphas, weights, text_places, pad_id, target):
        """For the points `alphas` of the path: the class's probabilities, and per embedding layer (in
        `self.layers`' order) its vectors minus the baseline's and the `weights`-sum of the gradients there."""
        batch = tf.nest.map_structure(lambda value: tf.repeat(value, tf.shape(alphas)[0], axis=0), inputs)

        def baseline_ids(ids):
            return tf.where(text_places[None, :], tf.cast(pad_id, ids.dtype), ids)

        points: list = []
        with (tf.GradientTape(watch_accessed_variables=False) as tape,
              _on_path(self.layers, alphas, baseline_ids, tape, points)):
            probabilities = tf.cast(self.classifier(batch, training=False), "float32")
            probabilities = tf.gather(probabilities, target, axis=1)
        gradients = tape.gradient(probabilities, [point for _, _, point in points])
        by_layer = {layer: (tf.cast(difference[0], "float32"), tf.tensordot(weights, tf.cast(gradient, "float32"), 1))
                    for (layer, difference, _), gradient in zip(points, gradients)}
        return probabilities, [by_layer[layer] for layer in self.layers]

    def integrated_gradients(self, inputs, target: int, text_places: np.ndarray, pad_id: int,
                             steps: int = STEPS) -> tuple[np.ndarray, float]:
        """The attribution of each input place to the probability of class `target`, and f(inputs) - f(baseline),
        which their sum approximates (completeness).

        Args:
            inputs: one text's input, batch of 1 (token ids, or a dict of them).
            text_places: a bool per place, True where the text's tokens are: the baseline puts `pad_id` there and
                keeps the others (start and end tokens, a template, a soft prompt's places) as they are.
            steps: quadrature points, run `CHUNK` at a time.
        """
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas = np.concatenate([[0.0, 1.0], (nodes + 1) / 2]).astype("float32")  # the baseline and the text first
        weights = np.concatenate([[0.0, 0.0], weights / 2]).astype("float32")
        places, pad, label = tf.constant(text_places, dtype=tf.bool), tf.constant(pad_id), tf.constant(target)
        averaged, ends = None, None
        for start in range(0, len(alphas), CHUNK):
            probabilities, layers = self._chunk(inputs, tf.constant(alphas[start:start + CHUNK]),
                                                tf.constant(weights[start:start + CHUNK]), places, pad, label)
            ends = ends if ends is not None else probabilities[:2].numpy()
            parts = [part for _, part in layers]
            averaged = parts if averaged is None else [total + part for total, part in zip(averaged, parts)]
        attributions = 0.0
        for layer, (difference, _), average in zip(self.layers, layers, averaged):
            share = np.asarray(tf.reduce_sum(difference * average, axis=-1)) / SPANS.get(layer.name, 1)
            attributions = attributions + np.convolve(share, np.ones(SPANS.get(layer.name, 1)))[:len(share)]
        return attributions, float(ends[1] - ends[0])

    def converged(self, inputs, target: int, text_places: np.ndarray, pad_id: int) -> tuple[np.ndarray, float]:
        """`integrated_gradients` at `STEPS` points, then at 4, 16 and 64 times as many while the attributions' sum
        is more than `TOLERANCE` from f(text) - f(baseline). A saturated model's path can turn sharply, and the sum
        tells: a GRU trained to probabilities of 0 and 1 fell from 0.91 to 0.0006 between alpha 0.04 and 0.05, and
        its sum was off by 0.9 at 16 points, 4.6 at 64, 0.5 at 256 and 5e-4 at 1,024 (`tests/explain`)."""
        for steps in (STEPS, 4 * STEPS, 16 * STEPS, 64 * STEPS):
            attributions, difference = self.integrated_gradients(inputs, target, text_places, pad_id, steps)
            if abs(attributions.sum() - difference) <= TOLERANCE:
                break
        else:
            logger.warning(f"integrated gradients: the attributions sum to {attributions.sum():.4f} against "
                           f"f(text) - f(baseline) = {difference:.4f} even at {steps} points")
        return attributions, difference
