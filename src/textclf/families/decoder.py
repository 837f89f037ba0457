"""Decoder LLMs as classifiers through keras-hub (Llama 3, Qwen, Gemma, Mistral, ...): the prompt packer,
last-token pooling, the MLP head, LoRA on every projection.

A preset is a keras-hub preset name, a local Keras preset folder or a local Hugging Face folder; keras-hub
reads which family it is from the preset (`Backbone.from_preset`, `Tokenizer.from_preset`), so one `--model
llm` serves every decoder family that keras-hub can load. Each text is put into a prompt template (the original
LLM project's by default) with the dataset's class names; the classifier reads the hidden state of the prompt's
last real token, which in a causal model is the one that has seen the whole prompt.
"""

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

from textclf.errors import InputError
from textclf.families import encoder

# The original LLM project's template; {labels} becomes the class names joined by commas.
DEFAULT_TEMPLATE = ('Please carefully read the following reference text:"{text}", and determine which of the '
                    'following categories it belongs to:{labels},answer:')


def check_template(template: str) -> None:
    """The template holds `{text}` once (and `{labels}` where the class names go, if anywhere)."""
    if template.count("{text}") != 1:
        raise InputError(f"--prompt-template {template!r}: it must hold {{text}} exactly once")


def load_tokenizer(preset: str):
    """The tokenizer of `preset`, of whichever decoder family it is."""
    return encoder.from_preset(keras_hub.tokenizers.Tokenizer, preset, "llm")


def load_backbone(preset: str):
    """The decoder of `preset`, its language-model head frozen where it is a matrix of its own (untied, as in
    Llama 3 8B: 525M weights). The classifier reads hidden states, so that matrix gets no gradient, and the
    optimizer would keep moments for it all the same; `--head label_words` copies its classes' rows into a layer
    of its own."""
    backbone = encoder.from_preset(keras_hub.models.Backbone, preset, "llm")
    if not backbone.token_embedding.tie_weights:
        backbone.token_embedding.reverse_embeddings.trainable = False
    return backbone


@keras.saving.register_keras_serializable(package="textclf")
class PromptPacker(keras.layers.Layer):
    """Raw strings -> {"token_ids", "padding_mask"} of the prompt `template` around each text, right-padded.

    Only the text is cut (by `truncate`, to what `max_len` leaves after the start token and the template): the
    template and the class names always stay whole.

    Args:
        tokenizer: the preset's keras-hub tokenizer.
        template: holds `{text}` once and may hold `{labels}`.
        labels: the class names that fill `{labels}`.
        max_len: tokens per prompt, the start token included.
        truncate: head, tail or head_tail (`encoder.keep_tokens`).
    """

    input_names = ["padding_mask", "token_ids"]

    def __init__(self, tokenizer, template: str, labels: list[str], max_len: int, truncate: str, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer, self.template, self.labels = tokenizer, template, list(labels)
        self.max_len, self.truncate = max_len, truncate

    def build(self, input_shape=None):
        """Tokenizes the template around the text, once (eagerly, also when first called in a graph).

        Raises:
            InputError: the template and the class names leave no token of max_len for the text.
        """
        before, after = self.template.replace("{labels}", ",".join(self.labels)).split("{text}")
        start = getattr(self.tokenizer, "start_token_id", None)  # Llama 3 and Gemma have one, Qwen none
        with tf.init_scope():
            self.prefix = ([] if start is None else [int(start)]) + self._ids(before)
            self.suffix = self._ids(after)
        self.budget = self.max_len - len(self.prefix) - len(self.suffix)
        if self.budget < 1:
            raise InputError(f"--max-len {self.max_len}: the prompt template and the class names take "
                             f"{len(self.prefix) + len(self.suffix)} tokens and leave none for the text")
        super().build(input_shape)

    def get_build_config(self):
        # As keras-hub's preprocessing layers: no build at loading, before the tokenizer's vocabulary is back.
        return None

    def _ids(self, text: str) -> list[int]:
        return [int(i) for i in np.asarray(self.tokenizer(text)).reshape(-1)] if text else []

    @property
    def pad_id(self) -> int:
        return int(getattr(self.tokenizer, "pad_token_id", None) or 0)

    @property
    def sequence_length(self) -> int:
        return self.max_len

    def call(self, texts):
        return self._pack(texts) if tf.inside_function() else tf.function(self._pack)(texts)

    def _pack(self, texts):
        ids = encoder.keep_tokens(self.tokenizer(texts), self.budget, self.truncate)
        rows = ids.nrows()
        before, after = (tf.RaggedTensor.from_tensor(tf.tile(tf.constant([part], ids.dtype, shape=(1, len(part))),
                                                             [rows, 1]))
                         for part in (self.prefix, self.suffix))
        prompts = tf.concat([before, ids, after], axis=1)
        token_ids = tf.cast(prompts.to_tensor(self.pad_id), "int32")
        padding_mask = tf.sequence_mask(prompts.row_lengths(), tf.shape(token_ids)[1], dtype="int32")
        return {"padding_mask": padding_mask, "token_ids": token_ids}

    def get_config(self):
        return {**super().get_config(), "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "template": self.template, "labels": self.labels, "max_len": self.max_len, "truncate": self.truncate}

    @classmethod
    def from_config(cls, config):
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="textclf")
class LastTokenPooling(keras.layers.Layer):
    """(batch, length, d) states and a padding mask -> the states of each row's last real token, whether the
    batch is padded on the right or on the left."""

    def call(self, states, padding_mask):
        positions = ops.arange(ops.shape(padding_mask)[1], dtype="int32") + 1
        last = ops.argmax(ops.cast(padding_mask, "int32") * positions[None, :], axis=1)
        return ops.take_along_axis(states, ops.cast(last, "int32")[:, None, None], axis=1)[:, 0, :]


def label_token_ids(tokenizer, labels: list[str]) -> list[int]:
    """The first token of each class name, as the tokenizer splits the name alone.

    Raises:
        InputError: two class names start with the same token, so that their scores would be one.
    """
    ids = [int(np.asarray(tokenizer(label)).reshape(-1)[0]) for label in labels]
    if len(set(ids)) < len(ids):
        raise InputError(f"--head label_words: the class names {labels} do not all start with different tokens; "
                         "use --head mlp")
    return ids


def lm_head_rows(backbone, token_ids: list[int]) -> np.ndarray:
    """(hidden, len(token_ids)): the columns of the backbone's language-model head (its tied embeddings, or its own
    output matrix) that score `token_ids` (without Gemma's logit soft cap)."""
    embedding = backbone.token_embedding
    kernel = ops.transpose(embedding.embeddings) if embedding.tie_weights else embedding.reverse_embeddings
    return keras.ops.convert_to_numpy(ops.cast(ops.take(kernel, token_ids, axis=1), "float32"))


def build_classifier(backbone, num_classes: int, *, head: str = "mlp", label_ids: list[int] | None = None,
                     dropout: float = 0.1) -> keras.Model:
    """backbone -> the last real token's state -> head -> float32 softmax, on the backbone's input dict.

    Args:
        head: "mlp", the original's (512 -> 256 -> classes, ReLU, `dropout`, Glorot); or "label_words", one linear
            layer that starts as the language-model head's columns of `label_ids` (`label_token_ids`), so that it
            first scores each class as the model scores the first token of its name after the prompt.
    """
    inputs = backbone.input
    x = LastTokenPooling(name="last_token", dtype="float32")(backbone(inputs), inputs["padding_mask"])
    if head == "label_words":
        words = keras.layers.Dense(num_classes, use_bias=False, name="label_words")
        x = words(x)
        words.kernel.assign(lm_head_rows(backbone, label_ids))
    else:
        for width in (512, 256):
            x = keras.layers.Dense(width, activation="relu", name=f"head_dense_{width}")(x)
            x = keras.layers.Dropout(dropout, name=f"head_dropout_{width}")(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, probabilities, name="decoder_classifier")


def projection_names(backbone) -> list[str]:
    """The names of the attention and MLP projections in the backbone's blocks: the original's LoRA targets."""
    return sorted({layer.name for block in backbone.transformer_layers for layer in block._flatten_layers()
                   if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))})
