"""The `encoder` family: a pretrained (or, for bert_scratch, randomly initialised) keras-hub encoder
fine-tuned whole, through LoRA adapters or through a soft prompt, with the preset's own subword tokenizer.

- `family`: the family contract (`textclf.families.Family`);
- `presets`: the keras-hub classes of each `--model` (`models.registry.PRETRAINED_ENCODERS`), loading them;
- `packer`: raw strings -> the backbone's input dict, cut head, tail or head_tail;
- `head`: the classifier on the backbone, and its settings (model_args);
- `prompts`: prompt tuning and P-tuning's soft prompt.

The raw-text model that serving loads is `models.raw_text.EncoderRawTextClassifier`; what the decoder family
shares with this one is in `families.pretrained`.

This file imports nothing (no Keras), so the command line's help can read the family's default below.
"""

DEFAULT_VIRTUAL_TOKENS = 20  # --peft without --virtual-tokens: PEFT's examples for prompt tuning and P-tuning
