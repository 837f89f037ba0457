"""Raw strings -> an encoder's input dict, inside the model, so that serving packs as training did."""

import keras
import tensorflow as tf

from textclf.families.encoder.presets import SEGMENTED
from textclf.families.pretrained.packing import TracedPacking, keep_tokens
from textclf.models.saving import Composite


@keras.saving.register_keras_serializable(package="textclf")
class TextPacker(TracedPacking, Composite, keras.layers.Layer):
    """Raw strings -> the backbone's input dict, cut by `truncate` before the special tokens are added.

    keras-hub's packer only truncates at the end, so tail and head_tail cut the token ids first.

    Args:
        preprocessor: the architecture's keras-hub TextClassifierPreprocessor (its sequence_length is max_len).
        truncate: one of TRUNCATIONS.
        input_names: the backbone's input keys (segment_ids only where the architecture has them).
        virtual_tokens: places kept after the start token for a soft prompt (`families.encoder.prompts`), holding the
            start token's id until the prompt's vectors replace their embeddings; they count in sequence_length.
    """

    KERAS_ARGS = ("preprocessor",)
    VALUE_ARGS = ("truncate", "input_names", "virtual_tokens")

    def __init__(self, preprocessor, truncate: str, input_names, virtual_tokens: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.truncate = truncate
        self.input_names = list(input_names)
        self.virtual_tokens = virtual_tokens

    def build(self, input_shape=None):
        if not self.preprocessor.built:
            self.preprocessor.build(None)  # makes its packer, from the tokenizer's special token ids
        super().build(input_shape)

    def get_build_config(self):
        # As keras-hub's preprocessing layers: no build at loading, before the tokenizer's vocabulary is back.
        return None

    @property
    def pad_id(self) -> int:
        return self.preprocessor.tokenizer.pad_token_id

    @property
    def sequence_length(self) -> int:
        return self.preprocessor.sequence_length

    @property
    def tokenizer(self):
        return self.preprocessor.tokenizer

    @property
    def text_budget(self) -> int:
        """The text's tokens kept: a start and an end token around them, and the soft prompt's places."""
        return self.preprocessor.sequence_length - 2 - self.virtual_tokens

    @property
    def text_start(self) -> int:
        """The position of the text's first token: after the start token and the soft prompt's places."""
        return 1 + self.virtual_tokens

    def _pack(self, texts):
        tokenizer, packer = self.preprocessor.tokenizer, self.preprocessor.packer
        ids = keep_tokens(tokenizer(texts), self.text_budget, self.truncate)
        if self.virtual_tokens:
            places = tf.fill([ids.nrows(), self.virtual_tokens], tf.cast(tokenizer.start_token_id, ids.dtype))
            ids = tf.concat([tf.RaggedTensor.from_tensor(places), ids], axis=1)
        token_ids, segment_ids = packer(ids)
        # int32 as the backbones declare it, not keras-hub's bool: under MirroredStrategy, Keras' fit averages
        # a first batch across the replicas to build the model, and TensorFlow cannot add booleans.
        padding_mask = tf.cast(token_ids != self.pad_id, "int32")
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids}
        return {name: inputs[name] for name in self.input_names}


def make_packer(architecture: str, preprocessor, truncate: str, virtual_tokens: int = 0) -> TextPacker:
    names = ["padding_mask", "token_ids"] + (["segment_ids"] if architecture in SEGMENTED else [])
    return TextPacker(preprocessor, truncate, input_names=names, virtual_tokens=virtual_tokens)
