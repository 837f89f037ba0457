"""--grad-accum: K micro-batches of B train exactly as one batch of K x B on one device, on one device and under
MirroredStrategy on two logical CPUs, with the recipe's schedule, clipping, weight average and weight decay."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textclf.errors import InputError
from textclf.training import accumulation

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh process: the two logical CPUs must be set before TensorFlow starts.
SCRIPT = """
import json, sys
import keras, numpy as np, tensorflow as tf
from textclf.training import trainer
from textclf.training.devices import setup_strategy
from textclf.training.optimizers import FusedAdamW

mirrored, _ = setup_strategy(2)
K, B, UPDATES = 4, 8, 3
rows = np.random.default_rng(0)
x = rows.normal(size=(K * B * UPDATES, 5)).astype("float32")
y = rows.integers(0, 3, size=K * B * UPDATES)


def train(strategy, batch, steps, optimizer):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        # A peak rate after one warmup update, a clip that binds, a weight average and AdamW's decay: every
        # part that must count updates, not micro-batches.
        trainer.compile_model(model, peak_lr=0.05, total_steps=UPDATES, warmup_ratio=0.34, clipnorm=0.05,
                              ema_momentum=0.5, accumulation_steps=steps, optimizer=optimizer,
                              **({"weight_decay": 0.1} if optimizer is FusedAdamW else {}))
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch), epochs=1, verbose=0)
    averages = [v.numpy() for v in model.optimizer._model_variables_moving_average]
    return model.get_weights() + averages, int(model.optimizer.iterations.numpy())


result = {}
one_device = tf.distribute.get_strategy()
for optimizer in (keras.optimizers.Adam, FusedAdamW):  # the pretrained families' AdamW
    whole, whole_updates = train(one_device, K * B, 1, optimizer)  # the reference: K x B on one device
    unaccumulated = train(one_device, B, 1, optimizer)[0]
    for name, strategy in (("one device", one_device), ("two replicas", mirrored)):
        accumulated, updates = train(strategy, B, K, optimizer)
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(whole, accumulated))
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(whole, unaccumulated))
        result[f"{name}, {optimizer.__name__}"] = [gap, updates, whole_updates, moved]
print(json.dumps(result))
"""


@pytest.mark.large
def test_k_micro_batches_update_as_one_k_times_batch_on_one_device_and_on_two_replicas():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {f"{n}, {o}" for n in ("one device", "two replicas") for o in ("Adam", "FusedAdamW")}
    for case, (gap, updates, whole_updates, moved) in result.items():
        assert gap < 1e-5, case  # weights and their moving average, after the same 3 updates
        assert updates == whole_updates == 3, case  # iterations count updates, not micro-batches
        assert moved > 1e-3, case  # batches of B without accumulation train otherwise: the check can fail


def test_accumulation_is_refused_with_float16_loss_scaling_only():
    with pytest.raises(InputError, match="--grad-accum does not work with mixed_float16"):
        accumulation.check(4, "mixed_float16")
    accumulation.check(1, "mixed_float16")
    accumulation.check(4, "mixed_bfloat16")
