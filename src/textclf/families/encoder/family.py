"""The `encoder` family's contract (`textclf.families.Family`); its parts are the modules beside this one.

The tokenizer field stays `auto`: the subword tokenizer runs inside the model, so serving (`text.prepare`)
passes texts through untouched, Chinese ones included (no jieba).
"""

import dataclasses

import keras

from textclf.config import RunConfig
from textclf.data import splits
from textclf.errors import InputError
from textclf.families import Prepared
from textclf.families.encoder import DEFAULT_VIRTUAL_TOKENS, head, presets, prompts
from textclf.families.encoder.packer import TextPacker, make_packer
from textclf.families.pretrained import adapters, fine_tuning, packing
from textclf.families.pretrained import presets as hub

# --model -> the keras-hub architecture whose preset it loads; bert_scratch is BERT's architecture, randomly initialised.
ARCHITECTURE = {**{name: name for name in presets.CLASSES}, "bert_scratch": "bert"}


def check(config: RunConfig):
    """Refuses what `check_pretrained` refuses, model_args other than the head's, a soft prompt's settings where
    they do not apply, and a preset that cannot hold this architecture's weights."""
    fine_tuning.check_pretrained(config)
    fine_tuning.check_head(config, head.SETTINGS, config.model)
    _check_prompt(config)
    presets.check_preset(ARCHITECTURE[config.model], config.preset)  # before any run of a matrix starts


def model_settings(config: RunConfig) -> dict:
    """The head's settings (`head.SETTINGS`)."""
    return dict.fromkeys(head.SETTINGS)


def _check_prompt(config: RunConfig):
    """A soft prompt's settings only with --peft, --prompt-init only for prompt tuning, and one method at a time."""
    if config.peft is None:
        for name in ("virtual_tokens", "prompt_init"):
            if getattr(config, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} needs --peft prompt or --peft ptuning")
        return
    if config.lora_rank is not None:
        raise InputError(f"--peft {config.peft} and --lora-rank are two ways to tune a few parameters; choose one")
    if config.prompt_init is not None and config.peft != "prompt":
        raise InputError("--prompt-init starts prompt tuning's vectors; P-tuning's come out of its prompt encoder")


def resolve(config: RunConfig, data: splits.Splits) -> RunConfig:
    """The datasets' pre/post cut read as tail/head; the tokenizer left `auto` (the preset's); a soft prompt of
    DEFAULT_VIRTUAL_TOKENS unless given. A hub's preset is fetched here, before the run claims a folder."""
    hub.fetch_preset(config.preset, config.model)
    virtual = config.virtual_tokens or (DEFAULT_VIRTUAL_TOKENS if config.peft else None)
    return dataclasses.replace(config, truncate=packing.SUBWORD_CUT.get(config.truncate, config.truncate),
                               virtual_tokens=virtual)


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The preset's tokenizer and packer, and the three batched datasets of input dicts."""
    architecture = ARCHITECTURE[config.model]
    virtual = config.virtual_tokens or 0
    preprocessor = presets.load_preprocessor(architecture, config.preset, max_len=config.max_len + virtual)
    packer = make_packer(architecture, preprocessor, config.truncate, virtual)
    return packing.packed(config, data, packer, global_batch=global_batch, replicas=replicas)


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """The backbone (random for bert_scratch), LoRA on it when --lora-rank, gradient checkpointing with --remat,
    a soft prompt with --peft, and the classification head."""
    backbone = presets.load_backbone(ARCHITECTURE[config.model], config.preset, max_len=config.max_len,
                                     virtual_tokens=config.virtual_tokens or 0, scratch=config.model == "bert_scratch")
    if config.lora_rank:
        adapters.enable_lora(backbone, config.lora_rank, config.lora_alpha)
    if config.remat:
        adapters.remat(backbone)
    if config.peft:
        backbone = _prompted(backbone, config, prepared.state)
    model = head.build_classifier(backbone, num_classes, **config.model_args)
    fine_tuning.report_parameters(model, config.model, prepared)
    return model


def _prompted(backbone, config: RunConfig, packer: TextPacker):
    """The backbone frozen, with --peft's soft prompt of --virtual-tokens vectors (from --prompt-init's tokens)."""
    tokenizer = packer.preprocessor.tokenizer
    init_ids = None
    if config.prompt_init is not None:
        init_ids = [int(i) for i in keras.ops.convert_to_numpy(tokenizer(config.prompt_init))]
        if not init_ids:
            raise InputError(f"--prompt-init {config.prompt_init!r}: the preset's tokenizer finds no token in it")
    initial = prompts.initial_vectors(backbone, config.virtual_tokens, tokenizer.start_token_id, init_ids, config.seed)
    return prompts.add_soft_prompt(backbone, config.peft, config.virtual_tokens, initial)


# The pretrained families' recipe (AdamW on the shared schedule) and raw-text model (the packer inside).
compile_model = fine_tuning.compile_model
serving_model = packing.serving_model
