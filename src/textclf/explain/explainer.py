"""One loaded raw-text model's explanations: the words of a text and their scores (`textclf.explain`)."""

import dataclasses
import threading
from collections.abc import Callable

import numpy as np

from textclf.errors import InputError
from textclf.explain import METHODS, gradients, occlusion, reading


@dataclasses.dataclass(frozen=True)
class Explanation:
    """One text's words and their scores towards class `label`, found by `method`."""

    label: str
    method: str
    words: list[str]
    scores: list[float]

    def to_dict(self) -> dict:
        """As the API answers it: {"class", "method", "tokens": [{"token", "score"}, ...]} in text order."""
        return {"class": self.label, "method": self.method,
                "tokens": [{"token": word, "score": score} for word, score in zip(self.words, self.scores)]}

    def top(self, count: int) -> list[dict]:
        """The `count` words that raised the class's probability most, highest first."""
        order = sorted(range(len(self.words)), key=lambda i: -self.scores[i])[:count]
        return [{"token": self.words[i], "score": self.scores[i]} for i in order if self.scores[i] > 0]


class Explainer:
    """Explanations of one loaded raw-text model.

    Args:
        model: the run's exported raw-text model (`models.raw_text`).
        tokenizer: the run's resolved --tokenizer (how its vectorizer splits; `auto` for encoders and decoders).
        class_names: the run's classes, in the model's order.
        probabilities: texts (after `text.prepare`) -> class probabilities, the model as served.
    """

    def __init__(self, model, tokenizer: str, class_names: list[str],
                 probabilities: Callable[[list[str]], np.ndarray]):
        self.model, self.tokenizer, self.class_names = model, tokenizer, list(class_names)
        self.probabilities = probabilities
        self.methods = METHODS if gradients.differentiable(model) else ("occlusion",)
        self._integrator = gradients.Integrator(model.classifier) if "integrated_gradients" in self.methods else None
        self._lock = threading.Lock()  # the integrator puts the embedding layers on its path while it traces

    def check_method(self, method: str | None) -> str:
        """`method`, or the default where None; InputError for one that does not apply to this model."""
        if method is None:
            return self.methods[0]
        if method not in self.methods:
            raise InputError(f"explanation method {method!r} does not apply to this run; it offers "
                             f"{', '.join(self.methods)}")
        return method

    def explain(self, prepared: str, target: int, method: str | None = None) -> Explanation:
        """The words of `prepared` (a text after `text.prepare`) and their scores towards class index `target`."""
        method = self.check_method(method)
        read = reading.reading(self.model, prepared, self.tokenizer)
        if method == "occlusion":
            scores = occlusion.occlusion(self.probabilities, read, target)
        else:
            attributions = self.attributions(prepared, read, target)[0]
            scores = np.array([attributions[places].sum() for places in read.places], dtype="float32")
        return Explanation(self.class_names[target], method, read.words, [round(float(s), 6) for s in scores])

    def attributions(self, prepared: str, read: reading.Reading, target: int) -> tuple[np.ndarray, float]:
        """Integrated gradients of each input place of `prepared` towards class index `target`, and f(text) -
        f(baseline): the baseline puts the padding id in the places of `read`'s words."""
        inputs = gradients.classifier_inputs(self.model, prepared)
        ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        text_places = np.zeros(int(ids.shape[1]), dtype=bool)
        text_places[[place for places in read.places for place in places]] = True
        pad_id = self.model.packer.pad_id if hasattr(self.model, "packer") else 0
        with self._lock:
            return self._integrator.converged(inputs, target, text_places, pad_id)
