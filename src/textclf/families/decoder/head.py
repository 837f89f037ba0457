"""The classifier on a decoder: the last real token's state, then an MLP or the language model's label words."""

import keras
import numpy as np
from keras import ops

from textclf.errors import InputError
from textclf.families.pretrained.fine_tuning import DROPOUT

# --head -> its settings that model_args may set (`fine_tuning.check_head`): the MLP's dropout; label words none.
SETTINGS = {"mlp": {"dropout": DROPOUT}, "label_words": {}}


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
