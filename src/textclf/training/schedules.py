"""Learning-rate scaling and the warmup + cosine decay schedule."""

import math

import keras


def scaled_learning_rate(base: float, replicas: int) -> float:
    """sqrt scaling: the global batch grows with the replicas, the peak rate by its square root."""
    return base * math.sqrt(replicas)


def warmup_cosine(peak: float, total_steps: int, warmup_ratio: float) -> keras.optimizers.schedules.CosineDecay:
    """Linear warmup from 0 to `peak` over `warmup_ratio` of the steps, then cosine decay to 0.

    Keras' own schedule: it saves and loads with the model without custom objects.
    """
    warmup_steps = int(total_steps * warmup_ratio)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=peak,
        warmup_steps=warmup_steps,
    )
