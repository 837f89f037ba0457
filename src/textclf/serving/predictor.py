"""Loads a run folder's exported model and predicts class probabilities for raw texts.

The web app, batch prediction and the tests all go through `Predictor`, which applies
the same `text.prepare` (jieba for Chinese word runs) as training did. A run folder whose
files cannot be used is an `InputError` naming the file, raised before any text is served.
"""

import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from textclf.data import text, union
from textclf.errors import InputError
from textclf.explain import top_tokens
from textclf.explain.explainer import Explainer, Explanation
from textclf.families.decoder.head import LastTokenPooling
from textclf.families.decoder.packer import PromptPacker
from textclf.families.encoder.packer import TextPacker
from textclf.families.encoder.prompts import SoftPrompt
from textclf.files import read_json
from textclf.models import layers
from textclf.models.raw_text import EncoderRawTextClassifier, EnsembleClassifier, RawTextClassifier
from textclf.run_folders import checked_files
from textclf.training.calibration import TemperatureScaling

CONFIG_KEYS = ("dataset", "model", "tokenizer")  # what serving reads of a run's config.json
# Every class of textclf's that a run's model.keras may hold, given to Keras by the name it was saved under.
CUSTOM_OBJECTS = {keras.saving.get_registered_name(cls): cls for cls in (
    RawTextClassifier, EnsembleClassifier, EncoderRawTextClassifier, TextPacker, PromptPacker, LastTokenPooling,
    SoftPrompt, TemperatureScaling, *layers.CUSTOM_LAYERS)}


def _config(path: Path) -> dict:
    config = read_json(path)
    if not (isinstance(config, dict) and all(isinstance(config.get(key), str) for key in CONFIG_KEYS)):
        raise InputError(f"{path}: not a run's config (a JSON object with the strings {', '.join(CONFIG_KEYS)})")
    return config


def _class_names(path: Path) -> list[str]:
    names = read_json(path)
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names) > 1):
        raise InputError(f"{path}: not a list of at least 2 distinct class names")
    return names


def _model(path: Path) -> keras.Model:
    if not zipfile.is_zipfile(path):  # Keras itself would say "File not found"
        raise InputError(f"{path}: cannot be loaded (not a .keras zip archive: empty, truncated or another file)")
    try:
        # Serving only predicts: no optimizer (a LoRA run's would not match its merged weights and warn).
        return keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False)
    except Exception as err:  # noqa: BLE001 - whatever a damaged archive raises, the file is the user's to fix
        reason = (str(err).strip().splitlines() or [""])[0][:200]  # Keras's messages run to paragraphs
        raise InputError(f"{path}: cannot be loaded ({type(err).__name__}: {reason})") from err


class Predictor:
    """A trained run, ready to classify raw texts.

    Example:
        `Predictor(Path("data/output/run_20261123_112112")).predict(["很好看", "太差了"])`
        -> array of shape (2, num_classes)
    """

    def __init__(self, run_dir: Path):
        run_dir = checked_files(Path(run_dir))  # not checked_run: a run scores itself before its report is written
        self.run_dir = run_dir
        self.config = _config(run_dir / "config.json")
        self.class_names = _class_names(run_dir / "classes.json")
        self.model = _model(run_dir / "model.keras")
        # One traced graph for any number of texts: far less overhead per request than model.predict.
        self._probabilities = tf.function(
            lambda texts: self.model(texts, training=False),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )
        # The first call traces the model and loads jieba's dictionary: here, not in the first request.
        width = self.predict(["warm up"]).shape[-1]
        if width != len(self.class_names):
            raise InputError(f"{run_dir / 'classes.json'}: {len(self.class_names)} class names, "
                             f"but {run_dir / 'model.keras'} predicts {width} classes")
        self.explainer = Explainer(self.model, self.config["tokenizer"], self.class_names, self._prepared_probabilities)

    def predict(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in the order of `class_names`."""
        return self._prepared_probabilities(text.prepare(list(texts), self.config["tokenizer"]))

    def _prepared_probabilities(self, prepared: list[str]) -> np.ndarray:
        return self._probabilities(tf.constant(prepared, dtype=tf.string)).numpy()

    def explain(self, texts: list[str], targets: list[int], method: str | None = None) -> list[Explanation]:
        """Each text's words and their scores towards its class index in `targets` (`textclf.explain`), by `method`
        (`self.explainer.methods`; None: the default)."""
        prepared = text.prepare(list(texts), self.config["tokenizer"])
        return [self.explainer.explain(one, target, method) for one, target in zip(prepared, targets)]

    def top_tokens(self, texts: list[str], predicted, seconds: float, seed: int, folder: Path, title: str) -> int:
        """`top_tokens.csv` and `.png` in `folder` over `texts`, each explained towards its class index in
        `predicted`, within `seconds` (`explain.top_tokens`); returns how many texts were explained."""
        return top_tokens.explain_and_write(lambda i: self.explain([texts[i]], [int(predicted[i])])[0], len(texts),
                                            self.class_names, seconds, seed, folder, title, self.explainer.methods[0])

    def describe(self) -> dict:
        """What is loaded, for the web page and /healthz: names, not this machine's paths."""
        dataset = union.SEPARATOR.join(Path(part).name for part in union.parts(self.config["dataset"]))
        return {"run": self.run_dir.name, "dataset": dataset, "model": self.config["model"],
                "classes": self.class_names}
