"""The `decoder` family: decoder LLMs as classifiers through keras-hub (Llama 3, Qwen, Gemma, Mistral, ...):
the prompt packer, last-token pooling, the MLP head, LoRA on every projection.

A preset is a keras-hub preset name, a local Keras preset folder or a local Hugging Face folder; keras-hub
reads which family it is from the preset (`Backbone.from_preset`, `Tokenizer.from_preset`), so one `--model
llm` serves every decoder family that keras-hub can load. Each text is put into a prompt template (the original
LLM project's by default) with the dataset's class names; the classifier reads the hidden state of the prompt's
last real token, which in a causal model is the one that has seen the whole prompt.

- `family`: the family contract (`textclf.families.Family`);
- `backbone`: loading the preset's tokenizer and decoder, and the projections LoRA adapts;
- `packer`: the prompt template around each text, inside the model;
- `head`: last-token pooling and the MLP or label-words head.

What it shares with the encoder family (presets, the subword cut, LoRA, AdamW) is in `families.pretrained`.
"""
