"""Soft prompts for the encoder family (`--peft prompt|ptuning --virtual-tokens N`): N trainable vectors in the
first N places after the start token, the backbone frozen, the head trained.

- prompt (Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning"): the vectors are
  the weights, initialised from the embeddings of a text (`--prompt-init`) or at random.
- ptuning (Liu et al. 2021, "GPT Understands, Too"): the vectors come out of a small prompt encoder over N
  learnt seeds; as PEFT's default, an MLP (d -> d, ReLU, d -> d, ReLU, d -> d), which eases their optimisation.

The packer (`encoder.TextPacker`) puts N placeholder ids after the start token, so that the padding mask,
the segment ids and the positions count the virtual tokens with no change to the backbone; the `SoftPrompt`
layer, put after the layer that embeds the token ids, writes the vectors over the placeholders' embeddings.
The backbone's own code is not copied: `keras.models.clone_model` rebuilds its graph with the same layers and
the prompt inserted. In the backbones whose embedding layer also adds the positions (RoBERTa, XLM-R,
DistilBERT), the vectors replace the sum, so they learn their position in with them.

Prefix tuning (key and value vectors prepended in every attention layer) is not offered: keras-hub 0.32's
`TransformerEncoder.call` (BERT, RoBERTa, XLM-R, DistilBERT, ALBERT) calls Keras' MultiHeadAttention with the
block's input as query and value, and DeBERTa's `DisentangledAttentionEncoder` its own attention likewise; no
argument takes extra keys and values, so it would need a copy of each block's `call`.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="textclf")
class SoftPrompt(keras.layers.Layer):
    """Token embeddings (batch, length, d) -> the same with places 1..N holding the prompt's N vectors.

    Args:
        virtual_tokens: N.
        encoder: None (prompt tuning: the vectors are the weights) or "mlp" (P-tuning's prompt encoder).
        initial: an (N, d) array for the vectors (prompt tuning) or seeds (P-tuning); None: Keras' default
            normal draws. Not part of the config: a loaded model gets its trained weights.
    """

    def __init__(self, virtual_tokens: int, encoder: str | None = None, initial: np.ndarray | None = None, **kwargs):
        super().__init__(**kwargs)
        self.virtual_tokens = virtual_tokens
        self.encoder = encoder
        self.initial = initial

    def build(self, input_shape):
        width = input_shape[-1]
        initializer = keras.initializers.Constant(self.initial) if self.initial is not None else "random_normal"
        self.prompt = self.add_weight(shape=(self.virtual_tokens, width), initializer=initializer, name="prompt")
        self.mlp = []
        if self.encoder == "mlp":
            self.mlp = [keras.layers.Dense(width, activation="relu", name="prompt_encoder_1"),
                        keras.layers.Dense(width, activation="relu", name="prompt_encoder_2"),
                        keras.layers.Dense(width, name="prompt_encoder_3")]
            for layer in self.mlp:
                layer.build((self.virtual_tokens, width))

    def call(self, embeddings):
        vectors = self.prompt
        for layer in self.mlp:
            vectors = layer(vectors)
        vectors = ops.cast(vectors, embeddings.dtype)
        batch = ops.shape(embeddings)[0]
        tiled = ops.broadcast_to(vectors[None], (batch, self.virtual_tokens, ops.shape(vectors)[-1]))
        return ops.concatenate([embeddings[:, :1], tiled, embeddings[:, 1 + self.virtual_tokens:]], axis=1)

    def get_config(self):
        return {**super().get_config(), "virtual_tokens": self.virtual_tokens, "encoder": self.encoder}


def embedding_layer(backbone: keras.Model) -> keras.layers.Layer:
    """The backbone's layer that embeds its token ids (with the positions, in RoBERTa's family)."""
    token_ids = backbone.input["token_ids"]
    return next(layer for layer in backbone.layers if getattr(layer, "input", None) is token_ids)


def initial_vectors(backbone: keras.Model, virtual_tokens: int, start_id: int,
                    init_ids: list[int] | None, seed: int) -> np.ndarray:
    """The prompt's first values: the embeddings of `init_ids`, repeated to fill N places (as PEFT's TEXT init),
    at places 1..N after the start token; without ids, normal draws with the spread of the embedding table."""
    layer = embedding_layer(backbone)
    if init_ids:
        ids = np.array([[start_id] + (init_ids * virtual_tokens)[:virtual_tokens]], dtype="int32")
        return keras.ops.convert_to_numpy(ops.cast(layer(ids)[0, 1:], "float32"))
    table = keras.ops.convert_to_numpy(ops.cast(backbone.token_embedding.embeddings, "float32"))
    width = table.shape[1]
    return np.random.default_rng(seed).normal(0, table.std(), size=(virtual_tokens, width)).astype("float32")


def add_soft_prompt(backbone: keras.Model, method: str, virtual_tokens: int, initial: np.ndarray) -> keras.Model:
    """`backbone` frozen, with a trainable SoftPrompt after its embedding layer: a functional model on the same
    layers, with the same inputs and outputs.

    Args:
        method: "prompt" or "ptuning" (`config.PEFT_METHODS`).
        initial: the (N, d) first values of the vectors or seeds (`initial_vectors`).
    """
    backbone.trainable = False
    embed = embedding_layer(backbone)
    prompt = SoftPrompt(virtual_tokens, "mlp" if method == "ptuning" else None, initial, name="soft_prompt")

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        return prompt(outputs) if layer is embed else outputs

    return keras.models.clone_model(backbone, clone_function=lambda layer: layer, call_function=call)
