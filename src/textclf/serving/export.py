"""Writing a run's end-to-end model (`models.raw_text`): `model.keras` and a TF-Serving SavedModel."""

from pathlib import Path

import tensorflow as tf

from textclf.models.raw_text import StringsModel


def export(model: StringsModel, run_dir: Path) -> tuple[Path, Path]:
    """Saves `model.keras` and a TF-Serving SavedModel `saved_model/` (signature `serve`,
    a string vector in, probabilities out) into `run_dir`."""
    keras_path, saved_path = run_dir / "model.keras", run_dir / "saved_model"
    model(tf.constant([""]))  # a subclassed model is built by its first call; export needs it built
    model.save(keras_path)
    model.export(str(saved_path), format="tf_saved_model", verbose=False,
                 input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    return keras_path, saved_path
