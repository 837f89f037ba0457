"""A decoder preset: checking it, loading its tokenizer and its backbone, and the projections LoRA adapts."""

from pathlib import Path

import keras
import keras_hub

from textclf.errors import InputError
from textclf.families.pretrained.presets import from_preset, preset_config


def check_preset(preset: str):
    """A folder holding config.json (a Keras preset's, or a Hugging Face one naming its model_type), a keras-hub
    causal LM preset name, or an address the hub decides on."""
    config = preset_config(preset, keras_hub.models.CausalLM.presets, "causal LM")
    keras_preset = (Path(preset).expanduser() / "metadata.json").is_file()
    if config is not None and not keras_preset and "model_type" not in config:
        raise InputError(f"--preset {preset}: its config.json names no model_type")


def load_tokenizer(preset: str):
    """The tokenizer of `preset`, of whichever decoder family it is."""
    return from_preset(keras_hub.tokenizers.Tokenizer, preset, "llm")


def load_backbone(preset: str):
    """The decoder of `preset`, its language-model head frozen where it is a matrix of its own (untied, as in
    Llama 3 8B: 525M weights). The classifier reads hidden states, so that matrix gets no gradient, and the
    optimizer would keep moments for it all the same; `--head label_words` copies its classes' rows into a layer
    of its own."""
    backbone = from_preset(keras_hub.models.Backbone, preset, "llm")
    if not backbone.token_embedding.tie_weights:
        backbone.token_embedding.reverse_embeddings.trainable = False
    return backbone


def projection_names(backbone) -> list[str]:
    """The names of the attention and MLP projections in the backbone's blocks: the original's LoRA targets."""
    return sorted({layer.name for block in backbone.transformer_layers for layer in block._flatten_layers()
                   if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))})
