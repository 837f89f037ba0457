"""Peak memory and step time of encoder training with and without --remat, each in a fresh process.

The run's own code path (load_backbone, rematerialize, build_classifier, compile_classifier, fit) on a
preset folder, a few steps of random token ids at a length where activations dominate:

    python benchmarks/remat_memory.py --preset <MiniLM folder> --max-len 512 --batch-size 16 --steps 3

Prints, per variant, the process's peak RSS before training (model and optimizer built) and after `--steps`
steps, and the seconds per step after the first (which traces); then the ratios.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(preset: str, max_len: int, batch_size: int, steps: int, remat: bool) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from textclf.families.encoder.head import build_classifier
    from textclf.families.encoder.presets import load_backbone
    from textclf.families.pretrained.adapters import rematerialize
    from textclf.families.pretrained.fine_tuning import compile_classifier

    keras.utils.set_random_seed(0)
    backbone = load_backbone("bert", preset, max_len=max_len)
    if remat:
        rematerialize(backbone)
    model = build_classifier(backbone, 2)
    compile_classifier(model, peak_lr=1e-5, total_steps=steps, warmup_ratio=0.0, clipnorm=1.0,
                       weight_decay=0.01)
    rows = np.random.default_rng(0)
    inputs = {"token_ids": rows.integers(1000, 20000, size=(batch_size * steps, max_len)).astype("int32"),
              "padding_mask": np.ones((batch_size * steps, max_len), "int32"),
              "segment_ids": np.zeros((batch_size * steps, max_len), "int32")}
    data = tf.data.Dataset.from_tensor_slices((inputs, rows.integers(0, 2, size=batch_size * steps))).batch(batch_size)
    model.optimizer.build(model.trainable_variables)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    batches = iter(data)
    model.train_on_batch(*next(batches))  # traces the step
    start = time.perf_counter()
    for x, y in batches:
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / (steps - 1)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"remat": remat, "peak_rss_mb_built": round(before), "peak_rss_mb_trained": round(after),
            "seconds_per_step": round(seconds, 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", required=True, help="a BERT preset folder, e.g. the MiniLM checkpoint's")
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="at least 2")
    p.add_argument("--variant", choices=("remat", "plain"), help="measure one variant in this process")
    args = p.parse_args()
    if args.variant:
        result = measure(args.preset, args.max_len, args.batch_size, args.steps, args.variant == "remat")
        print(json.dumps(result))
        return
    results = {}
    for variant in ("plain", "remat"):
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant], capture_output=True,
                              text=True, check=True, timeout=3600,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"})
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(results[variant]))
    plain, remat = results["plain"], results["remat"]
    grown = {v: r["peak_rss_mb_trained"] - r["peak_rss_mb_built"] for v, r in results.items()}
    print(f"training's added peak: {grown['plain']} MB without, {grown['remat']} MB with --remat "
          f"({grown['remat'] / grown['plain']:.2f}x); peak RSS {remat['peak_rss_mb_trained'] / plain['peak_rss_mb_trained']:.2f}x; "
          f"step time {remat['seconds_per_step'] / plain['seconds_per_step']:.2f}x")


if __name__ == "__main__":
    main()
