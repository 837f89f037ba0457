"""What the pretrained families (`families.encoder`, `families.decoder`) share, over keras-hub:

- `presets`: finding and loading a preset (a hub name, a Keras preset folder or a Hugging Face folder), each
  failure one line;
- `packing`: the subword cut and the batched datasets of a packer's input dicts;
- `adapters`: LoRA and gradient checkpointing (`--remat`) on a backbone;
- `fine_tuning`: the settings every pretrained model takes or refuses, AdamW, the trainable share.
"""
