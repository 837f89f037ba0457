"""Where a fasttext training step goes: the same model and batch under three optimizers, in milliseconds.

    python benchmarks/fasttext_step.py --vocab-size 30000 --steps 10 --rounds 3

Builds fasttext over `vocab_size` ids and 2 classes with its default settings (10-wide vectors, 2,000,000
bigram buckets) once per optimizer: Adam with clipnorm 1.0 (what a run uses), Adam without clipping, and
plain SGD (fastText's own). Each trains on the same random batch of ids; the rounds interleave the three, so
load on a shared machine hits them alike. Prints one JSON line: the milliseconds per step of every round, per
optimizer. Adam updates both moment estimates of every weight at every step, however few rows a batch touches;
SGD touches only the rows a batch uses.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from textclf.models.blocks import RunInputs  # noqa: E402
from textclf.models.fasttext import fasttext  # noqa: E402

OPTIMIZERS = {
    "adam_clipnorm_1": lambda: keras.optimizers.Adam(1e-2, clipnorm=1.0),
    "adam": lambda: keras.optimizers.Adam(1e-2),
    "sgd": lambda: keras.optimizers.SGD(0.1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-size", type=int, default=30_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=250)
    parser.add_argument("--steps", type=int, default=10, help="steps timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(2, args.vocab_size, size=(args.batch_size, args.length)).astype("int32")
    y = rng.integers(0, 2, size=args.batch_size)
    models = {}
    for name, optimizer in OPTIMIZERS.items():
        model = fasttext(RunInputs(args.vocab_size, 2, max_len=args.length))
        model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy")
        model.train_on_batch(x, y)  # builds the step function and the optimizer's variables
        models[name] = model
    ms = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            ms[name].append(round((time.perf_counter() - start) / args.steps * 1000, 1))
    print(json.dumps({"parameters": models["adam"].count_params(), "ms_per_step": ms}))


if __name__ == "__main__":
    main()
