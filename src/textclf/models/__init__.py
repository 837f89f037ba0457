"""Model architectures; `registry.MODELS` maps each `--model` name to its family."""
