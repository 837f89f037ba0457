"""The `decoder` family: a keras-hub decoder LLM (`--model llm --preset ...`) fine-tuned whole or through LoRA
on every attention and MLP projection, as a classifier of the prompt's last token (`families.decoder`).

The contract is in `textclf.families`; the settings it shares with the encoders (a preset, LoRA, AdamW's weight
decay; no vocabulary, embeddings or word tokenizer) are checked by `encoder_family.check_pretrained`.
"""

import dataclasses
from pathlib import Path

import keras
import keras_hub

from textclf.config import RunConfig
from textclf.data import splits
from textclf.errors import InputError
from textclf.families import Prepared, decoder, encoder, encoder_family

# The encoder family's settings that this family does not offer.
NOT_OFFERED = {"peft": "--peft", "virtual_tokens": "--virtual-tokens", "prompt_init": "--prompt-init"}


def check(config: RunConfig):
    """The pretrained models' checks, a usable preset, the template, and model_args (only the head's dropout)."""
    encoder_family.check_pretrained(config)
    for name, flag in NOT_OFFERED.items():
        if getattr(config, name) is not None:
            raise InputError(f"{flag} is an encoder setting; --model llm does not take it")
    for key, value in config.model_args.items():
        if key != "dropout" or config.head == "label_words":
            raise InputError(f"model llm has no setting {key!r} with --head {config.head or 'mlp'}; "
                             f"{'its setting is dropout' if config.head != 'label_words' else 'it has none'}")
        takes, fits = encoder_family.HEAD_SETTINGS["dropout"]  # the encoders' head dropout, checked alike
        if not fits(value):
            raise InputError(f"model_args dropout: {value!r} is not {takes}")
    if config.prompt_template is not None:
        decoder.check_template(config.prompt_template)
    _check_preset(config.preset)


def _check_preset(preset: str):
    """A folder holding config.json (a Keras preset's, or a Hugging Face one naming its model_type), a keras-hub
    causal LM preset name, or an address the hub decides on."""
    config = encoder.preset_config(preset, keras_hub.models.CausalLM.presets, "causal LM")
    keras_preset = (Path(preset).expanduser() / "metadata.json").is_file()
    if config is not None and not keras_preset and "model_type" not in config:
        raise InputError(f"--preset {preset}: its config.json names no model_type")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """The subword cut as the encoders read it, and the original's prompt template and MLP head unless given. A hub's
    preset is fetched here, before the run claims a folder."""
    encoder.fetch_preset(config.preset, config.model)
    return dataclasses.replace(config, truncate=encoder_family.SUBWORD_CUT.get(config.truncate, config.truncate),
                               prompt_template=config.prompt_template or decoder.DEFAULT_TEMPLATE,
                               head=config.head or "mlp")


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The preset's tokenizer in the prompt packer, and the three batched datasets of input dicts."""
    packer = decoder.PromptPacker(decoder.load_tokenizer(config.preset), config.prompt_template, data.class_names,
                                  config.max_len, config.truncate)
    packer.build()  # here, not in the data pipeline's trace: refuses a --max-len that the template fills
    return encoder_family.packed(config, data, packer, global_batch=global_batch, replicas=replicas)


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """The decoder, LoRA on its projections when --lora-rank, gradient checkpointing with --remat, and the --head
    on the last token."""
    backbone = decoder.load_backbone(config.preset)
    if config.lora_rank:
        encoder.enable_lora(backbone, config.lora_rank, config.lora_alpha, targets=decoder.projection_names(backbone))
    if config.remat:
        encoder_family.remat(backbone)
    label_ids = None
    if config.head == "label_words":
        label_ids = decoder.label_token_ids(prepared.state.tokenizer, prepared.state.labels)
    model = decoder.build_classifier(backbone, num_classes, head=config.head, label_ids=label_ids,
                                     **config.model_args)
    encoder_family.report_parameters(model, f"llm ({type(backbone).__name__})", prepared)
    return model


def compile_model(model: keras.Model, config: RunConfig, *, peak_lr: float, total_steps: int, ema_momentum: float):
    """The encoders' recipe: AdamW on the shared schedule, with clipping and --grad-accum."""
    encoder_family.compile_model(model, config, peak_lr=peak_lr, total_steps=total_steps, ema_momentum=ema_momentum)


def serving_model(config: RunConfig, prepared: Prepared, model: keras.Model) -> keras.Model:
    """Raw strings -> the --text-filter -> the prompt packer, as in training -> `model`."""
    return encoder.EncoderRawTextClassifier(prepared.state, model, text_filter=config.text_filter)
