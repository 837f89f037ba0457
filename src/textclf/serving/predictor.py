"""Loads a run folder's exported model and predicts class probabilities for raw texts.

The web app, batch prediction and the tests all go through `Predictor`, which applies
the same `text.prepare` (jieba for Chinese word runs) as training did.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from textclf.data import text
from textclf.models import layers  # noqa: F401 - registers the custom layers (all of them live there)
from textclf.serving import export  # noqa: F401 - registers RawTextClassifier for loading
from textclf.serving.runs import checked_run, newest_run  # noqa: F401 - newest_run: part of this module's API


class Predictor:
    """A trained run, ready to classify raw texts.

    Example:
        `Predictor(Path("data/output/run_20261123_112112")).predict(["很好看", "太差了"])`
        -> array of shape (2, num_classes)
    """

    def __init__(self, run_dir: Path):
        run_dir = checked_run(Path(run_dir))
        self.run_dir = run_dir
        self.config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        self.class_names: list[str] = json.loads((run_dir / "classes.json").read_text(encoding="utf-8"))
        self.model = keras.saving.load_model(run_dir / "model.keras")
        # One traced graph for any number of texts: far less overhead per request than model.predict.
        self._probabilities = tf.function(
            lambda texts: self.model(texts, training=False),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    def predict(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in the order of `class_names`."""
        prepared = text.prepare(list(texts), self.config["tokenizer"])
        return self._probabilities(tf.constant(prepared, dtype=tf.string)).numpy()

    def describe(self) -> dict:
        """What is loaded, for the web page and /healthz."""
        return {"run": self.run_dir.name, "run_dir": str(self.run_dir), "dataset": self.config["dataset"],
                "model": self.config["model"], "classes": self.class_names}
