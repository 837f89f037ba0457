"""What a run changes in a pretrained backbone before training it: LoRA adapters (`--lora-rank`) and gradient
checkpointing of its transformer blocks (`--remat`)."""

import tensorflow as tf
from keras.src.backend.common import global_state  # Keras' call context: no public API reads or sets it
from loguru import logger

from textclf.training import trainer


def enable_lora(backbone, rank: int, alpha: float | None = None, targets: list[str] | None = None) -> None:
    """keras-hub's LoRA on the attention's query and value projections (or the layers named `targets`), the rest
    of the backbone frozen.

    keras-hub passes no alpha, so its update is scaled by 1; Keras' EinsumDense scales it by
    lora_alpha / lora_rank, read at each call and saved in its config, so setting it here gives alpha / rank.
    Keras freezes an adapted layer's kernel but not its bias; the bias is frozen too, as in LoRA's paper and
    PEFT's default (bias="none").
    """
    backbone.enable_lora(rank, target_layer_names=targets)
    for layer in backbone._flatten_layers():  # the walk keras-hub's enable_lora does itself
        if getattr(layer, "lora_enabled", False):
            layer.lora_alpha = rank if alpha is None else alpha
            if layer.bias is not None:
                layer.bias.trainable = False


def remat(backbone):
    """--remat: gradient checkpointing of every transformer block of the backbone (encoder or decoder), logged."""
    logger.info(f"--remat: {rematerialize(backbone)} transformer blocks recompute their forward in the "
                "backward pass")


def rematerialize(backbone) -> int:
    """Gradient checkpointing (`--remat`): each transformer block keeps only its input for the backward pass and
    runs its forward again there (tf.recompute_grad); returns the number of blocks.

    Not Keras' RematScope (keras 3.15.1), for two reasons measured on a tiny BERT: inside a tf.function (every
    fit) it fails, because tf.custom_gradient takes no keyword arguments in graph mode and a block gets its
    padding mask as one (keras-team/keras issue 21207); and where it runs (eagerly), the recomputed forward
    draws new dropout masks, since each draw advances a SeedGenerator's state: the gradients are of another
    forward than the loss (2.5e-2 apart), and every mask after it shifts. Here the block's seed states are
    read before its forward and put back at the start of each run of it, so the recompute draws the same masks
    and the states advance once, as without; the recompute runs in the forward's Keras call context, from
    which DeBERTa's dropouts read `training`; float keyword inputs (DeBERTa's relative embeddings) are passed
    as arguments so that their gradients flow, the others (masks) are closed over.
    """
    blocks = transformer_blocks(backbone)
    for block in blocks:
        block.call = _recomputed(block, block.call)
    return len(blocks)


def transformer_blocks(backbone) -> list:
    """A keras-hub backbone's transformer blocks, in order (ALBERT's: the shared block of each group)."""
    return [block for group in backbone.transformer_layers for block in (group if isinstance(group, list) else [group])]


def _recomputed(block, call):
    states = trainer.seed_states(block)

    def run(inputs, **kwargs):
        floats = sorted(k for k, v in kwargs.items() if tf.is_tensor(v) and v.dtype.is_floating)
        seeds = [tf.identity(state.value) for state in states]
        # The block's sublayers that are not passed `training` read it from Keras' call context (DeBERTa's
        # dropouts), which the backward pass has left: the recompute runs in the forward's.
        context = global_state.get_global_attribute("current_call_ctx")

        def forward(x, *values):
            for state, seed in zip(states, seeds):
                state.assign(seed)
            outer = global_state.get_global_attribute("current_call_ctx")
            global_state.set_global_attribute("current_call_ctx", context)
            try:
                return call(x, **{**kwargs, **dict(zip(floats, values))})
            finally:
                global_state.set_global_attribute("current_call_ctx", outer)

        return tf.recompute_grad(forward)(inputs, *(kwargs[k] for k in floats))

    return run
