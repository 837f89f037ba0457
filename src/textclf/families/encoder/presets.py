"""The keras-hub classes of each pretrained encoder (`models.registry.PRETRAINED_ENCODERS`), and loading their
presets: the tokenizer with its packer, and the backbone."""

from pathlib import Path

import keras_hub

from textclf.errors import InputError
from textclf.families.pretrained.presets import from_preset, preset_config
from textclf.models.registry import PRETRAINED_ENCODERS

CLASSES = {  # --model -> (backbone class, preprocessor class), from the registry's names
    name: (getattr(keras_hub.models, encoder.backbone), getattr(keras_hub.models, encoder.preprocessor))
    for name, encoder in PRETRAINED_ENCODERS.items()
}

SEGMENTED = {name for name, encoder in PRETRAINED_ENCODERS.items() if encoder.segment_ids}


def check_preset(architecture: str, preset: str) -> None:
    """Fails early, in one line, on a preset that cannot hold this architecture's weights."""
    config = preset_config(preset, CLASSES[architecture][0].presets, architecture)
    if config is None or (Path(preset).expanduser() / "metadata.json").is_file():
        return  # a hub's preset, or a Keras preset folder
    model_type = str(config.get("model_type", ""))
    if model_type.startswith("deberta"):
        raise InputError(
            f"--preset {preset}: keras-hub {keras_hub.__version__} cannot convert Hugging Face {model_type} "
            "checkpoints (it converts BERT, DistilBERT, RoBERTa, ALBERT and XLM-R); use a keras-hub preset "
            "such as deberta_v3_base_en or a Keras preset folder"
        )


def _from_preset(cls, architecture: str, preset: str, **kwargs):
    check_preset(architecture, preset)
    return from_preset(cls, preset, architecture, **kwargs)


def load_preprocessor(architecture: str, preset: str, *, max_len: int):
    """The tokenizer and packer of `preset` (a keras-hub TextClassifierPreprocessor), packing to `max_len`.

    Args:
        architecture: a key of CLASSES (bert, roberta, ...).
        preset: a keras-hub preset name, a Keras preset folder or a Hugging Face folder.
        max_len: tokens per text, the special tokens included.
    """
    return _from_preset(CLASSES[architecture][1], architecture, preset, sequence_length=max_len)


def load_backbone(architecture: str, preset: str, *, max_len: int, virtual_tokens: int = 0, scratch: bool = False):
    """The encoder of `preset`, with its weights or (`scratch`) its architecture randomly initialised, for texts of
    `max_len` tokens after `virtual_tokens` places of a soft prompt.

    Variables are made here: under a strategy, call it inside `strategy.scope()`.
    """
    backbone = _from_preset(CLASSES[architecture][0], architecture, preset, load_weights=not scratch)
    if max_len + virtual_tokens > backbone.max_sequence_length:
        asked = f"--max-len {max_len}" + (f" and --virtual-tokens {virtual_tokens}" if virtual_tokens else "")
        raise InputError(f"{asked}: {preset} has position embeddings for {backbone.max_sequence_length} tokens")
    return backbone
