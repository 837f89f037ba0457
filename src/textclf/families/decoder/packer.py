"""The prompt around each text, packed inside the model so that serving prompts as training did."""

import keras
import numpy as np
import tensorflow as tf

from textclf.errors import InputError
from textclf.families.pretrained.packing import TracedPacking, keep_tokens
from textclf.models.saving import Composite


def check_template(template: str) -> None:
    """The template holds `{text}` once (and `{labels}` where the class names go, if anywhere)."""
    if template.count("{text}") != 1:
        raise InputError(f"--prompt-template {template!r}: it must hold {{text}} exactly once")


@keras.saving.register_keras_serializable(package="textclf")
class PromptPacker(TracedPacking, Composite, keras.layers.Layer):
    """Raw strings -> {"token_ids", "padding_mask"} of the prompt `template` around each text, right-padded.

    Only the text is cut (by `truncate`, to what `max_len` leaves after the start token and the template): the
    template and the class names always stay whole.

    Args:
        tokenizer: the preset's keras-hub tokenizer.
        template: holds `{text}` once and may hold `{labels}`.
        labels: the class names that fill `{labels}`.
        max_len: tokens per prompt, the start token included.
        truncate: head, tail or head_tail (`pretrained.packing.keep_tokens`).
    """

    input_names = ["padding_mask", "token_ids"]  # noqa: RUF012 - read as the encoders' packer's attribute
    KERAS_ARGS = ("tokenizer",)
    VALUE_ARGS = ("template", "labels", "max_len", "truncate")

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
        self.text_budget = self.max_len - len(self.prefix) - len(self.suffix)
        if self.text_budget < 1:
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

    @property
    def text_start(self) -> int:
        """The position of the text's first token: after the start token and the template's part before it."""
        return len(self.prefix)

    def _pack(self, texts):
        ids = keep_tokens(self.tokenizer(texts), self.text_budget, self.truncate)
        rows = ids.nrows()
        before, after = (tf.RaggedTensor.from_tensor(tf.tile(tf.constant([part], ids.dtype, shape=(1, len(part))),
                                                             [rows, 1]))
                         for part in (self.prefix, self.suffix))
        prompts = tf.concat([before, ids, after], axis=1)
        token_ids = tf.cast(prompts.to_tensor(self.pad_id), "int32")
        padding_mask = tf.sequence_mask(prompts.row_lengths(), tf.shape(token_ids)[1], dtype="int32")
        return {"padding_mask": padding_mask, "token_ids": token_ids}

