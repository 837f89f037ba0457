"""The end-to-end models a run exports: raw strings in, class probabilities out.

The --text-filter, cleaning, vectorization and cutting to --max-len run inside the model as TensorFlow
ops, with the training run's own vocabulary, so serving cannot drift from training.
Only jieba segmentation is Python: `textclf.data.text.prepare` is applied to the texts
before the model, by training and serving alike (`serving.predictor.Predictor` does it).
`EncoderRawTextClassifier` is the encoder and decoder families' (their subword packer inside);
`serving.export.export` writes any of them.
"""

import keras
import tensorflow as tf

from textclf.data import pipeline, text
from textclf.models.saving import Composite


class StringsModel(keras.Model):
    """A model that takes a vector of strings, built by its first call: its layers load built from their own
    configs, and Keras' build from a shape would feed it floats."""

    def get_build_config(self):
        return None

    @property
    def input_dtype(self):
        # SavedModel export traces a default signature of this dtype: floats would reach the string ops.
        return "string"


@keras.saving.register_keras_serializable(package="textclf")
class RawTextClassifier(Composite, StringsModel):
    """Strings -> token ids (as in training) -> the trained classifier -> probabilities.

    Args:
        vectorizer: the run's adapted TextVectorization (ragged output).
        classifier: the trained model taking right-padded token ids.
        max_len, truncate, text_filter: as the run's config.
    """

    KERAS_ARGS = ("vectorizer", "classifier")
    VALUE_ARGS = ("max_len", "truncate", "text_filter")

    def __init__(self, vectorizer, classifier, max_len: int, truncate: str, text_filter: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.max_len = max_len
        self.truncate = truncate
        self.text_filter = text_filter

    def call(self, texts):
        texts = text.filter_texts(tf.reshape(texts, [-1]), self.text_filter)  # a batch, given as (n,) or (n, 1)
        ids = pipeline.clip_tokens(self.vectorizer(texts), self.max_len, self.truncate).to_tensor(0)
        return self.classifier(ids)


@keras.saving.register_keras_serializable(package="textclf")
class EnsembleClassifier(StringsModel):
    """Strings -> each member's raw-text model -> the weighted average of their probabilities.

    Args:
        members: the members' exported raw-text models (their own cleaning, vocabulary and calibration inside).
        weights: one per member, summing to 1.
    """

    def __init__(self, members, weights, **kwargs):
        super().__init__(**kwargs)
        self.members = members
        self.member_weights = [float(w) for w in weights]

    def call(self, texts):
        texts = tf.reshape(texts, [-1])
        return tf.add_n([weight * member(texts) for weight, member in zip(self.member_weights, self.members)])

    def get_config(self):
        return {**super().get_config(), "weights": self.member_weights,
                "members": [keras.saving.serialize_keras_object(member) for member in self.members]}

    @classmethod
    def from_config(cls, config):
        config["members"] = [keras.saving.deserialize_keras_object(member) for member in config["members"]]
        return cls(**config)


@keras.saving.register_keras_serializable(package="textclf")
class EncoderRawTextClassifier(Composite, StringsModel):
    """Strings -> the --text-filter -> the encoder's tokenizer and packer (as in training) -> the trained classifier.

    Args:
        packer: the run's packer layer, strings -> the classifier's input dict (`families.encoder.packer.TextPacker`,
            `families.decoder.packer.PromptPacker`).
        classifier: the trained model taking the packer's dict.
        text_filter: the run's --text-filter (`data.filters`), or None.
    """

    KERAS_ARGS = ("packer", "classifier")
    VALUE_ARGS = ("text_filter",)

    def __init__(self, packer: keras.layers.Layer, classifier: keras.Model, text_filter: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.packer = packer
        self.classifier = classifier
        self.text_filter = text_filter

    def call(self, texts):
        return self.classifier(self.packer(text.filter_texts(tf.reshape(texts, [-1]), self.text_filter)))
