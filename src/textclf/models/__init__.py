"""Model architectures; `registry.MODELS` maps each `--model` name to its builder's module."""
