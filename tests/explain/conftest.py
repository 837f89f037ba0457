"""Tiny raw-text models trained in a few seconds on a toy task (`good` is positive, `bad` negative), so that an
explanation has something to find: a from-scratch GRU, fastText with its hashed bigrams, and a 1-layer BERT."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textclf.data import text
from textclf.families.encoder.head import build_classifier
from textclf.families.encoder.packer import make_packer
from textclf.families.encoder.presets import load_backbone, load_preprocessor
from textclf.models import fasttext, gru
from textclf.models.blocks import RunInputs
from textclf.models.raw_text import EncoderRawTextClassifier, RawTextClassifier

CLASSES = ["negative", "positive"]
TEXTS = ["a good film", "good and great", "it is good", "the film is good", "a bad film", "bad and not good",
         "it is bad", "the movie is bad"]
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def _trained(model: keras.Model, inputs, learning_rate: float = 0.01) -> keras.Model:
    """`model` fitted to about 0.9 on the toy task: sure enough to explain, short of the saturation that makes the
    path of integrated gradients turn sharply (`test_explain`'s saturated GRU)."""
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    model.fit(inputs, LABELS, epochs=20, batch_size=8, verbose=0)
    return model


@pytest.fixture(scope="session")
def scratch_models() -> dict[str, RawTextClassifier]:
    """name -> a trained raw-text GRU or fastText (word tokens, --max-len 12)."""
    vectorizer = text.make_vectorizer("word", 40)
    vectorizer.adapt(TEXTS)
    ids = vectorizer(tf.constant(TEXTS)).to_tensor(0)
    run = RunInputs(vectorizer.vocabulary_size(), 2, max_len=12)
    keras.utils.set_random_seed(0)
    classifiers = {"gru": gru.gru(run, gru.Settings(embedding_dim=8, units=8, dropout=0.0)),
                   "fasttext": fasttext.fasttext(run, fasttext.Settings(embedding_dim=8, buckets=64, dropout=0.0))}
    return {name: RawTextClassifier(vectorizer, _trained(model, ids), 12, "post")
            for name, model in classifiers.items()}


@pytest.fixture(scope="session")
def encoder_model(bert_preset) -> EncoderRawTextClassifier:
    """A trained raw-text 1-layer BERT over the `bert_preset` WordPiece vocabulary."""
    preprocessor = load_preprocessor("bert", str(bert_preset), max_len=16)
    packer = make_packer("bert", preprocessor, "head")
    keras.utils.set_random_seed(0)
    classifier = build_classifier(load_backbone("bert", str(bert_preset), max_len=16), 2, dropout=0.0)
    return EncoderRawTextClassifier(packer, _trained(classifier, packer(tf.constant(TEXTS)), learning_rate=0.05))

