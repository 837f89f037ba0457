"""The `decoder` family's contract (`textclf.families.Family`): `--model llm --preset ...`, fine-tuned whole or
through LoRA on every attention and MLP projection, as a classifier of the prompt's last token. Its parts are the
modules beside this one; the settings it shares with the encoders are checked by `fine_tuning.check_pretrained`.
"""

import dataclasses

import keras

from textclf.config import RunConfig
from textclf.data import splits
from textclf.families import Prepared
from textclf.families.decoder import head
from textclf.families.decoder.backbone import check_preset, load_backbone, load_tokenizer, projection_names
from textclf.families.decoder.packer import PromptPacker, check_template
from textclf.families.pretrained import adapters, fine_tuning, packing
from textclf.families.pretrained import presets as hub
from textclf.models.registry import run_defaults


def check(config: RunConfig):
    """The pretrained models' checks, a usable preset, the template, and model_args (the --head's settings)."""
    fine_tuning.check_pretrained(config)
    head_name = config.head or run_defaults(config.model)["head"]
    fine_tuning.check_head(config, head.SETTINGS[head_name], f"llm with --head {head_name}")
    if config.prompt_template is not None:
        check_template(config.prompt_template)
    check_preset(config.preset)


def model_settings(config: RunConfig) -> dict:
    """The --head's settings (`head.SETTINGS`)."""
    return dict.fromkeys(head.SETTINGS[config.head or run_defaults(config.model)["head"]])


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """The subword cut as the encoders read it (the template and the head are llm's run defaults, already filled in).
    A hub's preset is fetched here, before the run claims a folder."""
    hub.fetch_preset(config.preset, config.model)
    return dataclasses.replace(config, truncate=packing.SUBWORD_CUT.get(config.truncate, config.truncate))


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The preset's tokenizer in the prompt packer, and the three batched datasets of input dicts."""
    packer = PromptPacker(load_tokenizer(config.preset), config.prompt_template, data.class_names,
                                  config.max_len, config.truncate)
    packer.build()  # here, not in the data pipeline's trace: refuses a --max-len that the template fills
    return packing.packed(config, data, packer, global_batch=global_batch, replicas=replicas)


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """The decoder, LoRA on its projections when --lora-rank, gradient checkpointing with --remat, and the --head
    on the last token."""
    backbone = load_backbone(config.preset)
    if config.lora_rank:
        adapters.enable_lora(backbone, config.lora_rank, config.lora_alpha, targets=projection_names(backbone))
    if config.remat:
        adapters.remat(backbone)
    label_ids = None
    if config.head == "label_words":
        label_ids = head.label_token_ids(prepared.state.tokenizer, prepared.state.labels)
    model = head.build_classifier(backbone, num_classes, head=config.head, label_ids=label_ids,
                                     **config.model_args)
    fine_tuning.report_parameters(model, f"llm ({type(backbone).__name__})", prepared)
    return model


# The pretrained families' recipe (AdamW on the shared schedule) and raw-text model (the packer inside).
compile_model = fine_tuning.compile_model
serving_model = packing.serving_model
