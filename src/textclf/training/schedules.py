"""Learning-rate and weight-averaging scaling with the replicas, and the warmup + cosine decay schedule."""

import math

import keras


def scaled_learning_rate(base: float, replicas: int) -> float:
    """sqrt scaling: the global batch grows with the replicas, the peak rate by its square root."""
    return base * math.sqrt(replicas)


def scaled_ema_momentum(momentum: float, replicas: int) -> float:
    """The per-step momentum whose average spans as many examples on `replicas` replicas as `momentum` on one.

    A step of N replicas sees N times the examples, so it decays the average as much as N single-replica steps:
    momentum ** N. Unscaled, 0.99 on two replicas averaged over twice the examples and lagged the weights
    (Weibo, 2 epochs: test 0.9629 against 0.9733 on one device).
    """
    return momentum**replicas


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
