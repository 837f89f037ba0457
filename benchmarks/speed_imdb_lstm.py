"""Training speed of the IMDB `lstm`: textclf (Keras) against the original's PyTorch model.

Both sides train Embedding(10000, 128) -> LSTM(256) -> softmax/Linear with batch 64 and
at most 250 tokens per review, on the same IMDB training reviews and the same CPU. The
two are timed in turns (torch, keras, torch, keras, ...) so the machine's load, which
varies, falls on both; the ratio is of the summed samples/s over all rounds.

textclf's side is its real training path: the same tf.data pipeline (length-bucketed
batches, right padding, masking), model builder, optimizer and schedule as
`python src/server_main.py --dataset imdb --model lstm`. PyTorch's side is the original's
recipe: every batch padded to 250, no masking.

    python benchmarks/speed_imdb_lstm.py --data-dir ../shared/data --batches 60 --rounds 2

`--xla` adds two sides that are not textclf's path, to measure XLA on this CPU: the same
model compiled with `jit_compile=True`, once on every batch padded to 250 (`xla_250`, one
shape) and once on batches padded to their length bucket's boundary (`xla_buckets`, four
shapes); each is compiled on untimed batches first.

Prints one JSON line: samples/s of each side per round and each side's ratio to torch.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from textclf.config import RunConfig  # noqa: E402
from textclf.data import imdb, pipeline, text  # noqa: E402
from textclf.models.blocks import RunInputs  # noqa: E402
from textclf.models.registry import builder_for, run_defaults  # noqa: E402
from textclf.training import trainer  # noqa: E402

BATCH_SIZE = 64  # the original's batch
MAX_LEN = 250  # the original's length, whatever the IMDB default of server_main


class StepTimer(keras.callbacks.Callback):
    """Wall time of each training step (data loading between steps excluded)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def keras_model_and_data(data_dir: str, seed: int):
    config = RunConfig(dataset="imdb", data_dir=data_dir, model="lstm", max_len=MAX_LEN, seed=seed)
    config = config.resolve(run_defaults("lstm")).resolve(imdb.DEFAULTS)
    keras.utils.set_random_seed(seed)
    train = imdb.load(config).train
    texts = text.prepare(train["text"].tolist(), "word", None)
    vectorizer = text.make_vectorizer("word", config.vocab_size)
    vectorizer.adapt(texts, batch_size=pipeline.VECTORIZE_CHUNK)
    ds = pipeline.make_dataset(texts, train["label"].to_numpy(), vectorizer, max_len=config.max_len,
                               truncate=config.truncate, global_batch=BATCH_SIZE, shuffle=pipeline.EpochShuffle(seed))
    model = builder_for("lstm")(RunInputs(vectorizer.vocabulary_size(), 2, max_len=config.max_len))
    trainer.compile_model(model, peak_lr=config.learning_rate, total_steps=10_000,
                          warmup_ratio=config.warmup_ratio, clipnorm=config.clipnorm)
    return model, ds.repeat()


def xla_sides(ds) -> dict:
    """The model under XLA on batches padded to 250, and to their bucket's boundary."""
    boundaries = tf.constant([*pipeline.bucket_boundaries(MAX_LEN), MAX_LEN])

    def padded_to(length_of):
        return ds.map(lambda ids, y: (tf.pad(ids, [[0, 0], [0, length_of(tf.shape(ids)[1]) - tf.shape(ids)[1]]]), y))

    sides = {}
    for name, padded in (("xla_250", padded_to(lambda n: MAX_LEN)),
                         ("xla_buckets", padded_to(lambda n: tf.reduce_min(tf.boolean_mask(boundaries, boundaries >= n))))):
        model = builder_for("lstm")(RunInputs(10_000, 2, max_len=MAX_LEN))
        model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                      jit_compile=True)
        model.fit(padded, steps_per_epoch=40, epochs=1, verbose=0)  # compiles every shape it meets
        sides[name] = (model, padded)
    return sides


def keras_round(model, ds, batches: int, warmup: int) -> float:
    timer = StepTimer()
    model.fit(ds, steps_per_epoch=warmup + batches, epochs=1, shuffle=False, callbacks=[timer], verbose=0)
    timed = [s for s in timer.seconds[warmup:] if s > 0]
    return batches * BATCH_SIZE / sum(timed)


def torch_round(python: str, train_csv: Path, batches: int, warmup: int, seed: int) -> float:
    done = subprocess.run(
        [python, str(HERE / "torch_imdb_lstm.py"), "--train-csv", str(train_csv), "--batches", str(batches),
         "--warmup-batches", str(warmup), "--seed", str(seed)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["samples_per_second"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data", help="holds imdb/imdb_train.csv.gz")
    p.add_argument("--batches", type=int, default=60, help="timed batches per side and round")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches first (tracing, caches)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--xla", action="store_true", help="also time the model under XLA (not textclf's path)")
    args = p.parse_args()
    train_csv = Path(args.data_dir) / "imdb" / "imdb_train.csv.gz"
    if not train_csv.is_file():
        sys.exit(f"error: {train_csv}: no such file")
    python = subprocess.run(["bash", str(HERE / "torch_venv.sh")], capture_output=True, text=True,
                            check=True).stdout.strip()
    model, ds = keras_model_and_data(args.data_dir, args.seed)
    sides = {"keras": (model, ds), **(xla_sides(ds) if args.xla else {})}
    rounds = []
    for _ in range(args.rounds):
        rounds.append({"torch": round(torch_round(python, train_csv, args.batches, args.warmup, args.seed), 1)})
        for name, (side_model, side_ds) in sides.items():
            rounds[-1][name] = round(keras_round(side_model, side_ds, args.batches, args.warmup), 1)
        print(f"round {len(rounds)}: {rounds[-1]}", file=sys.stderr)
    mean = {side: round(sum(r[side] for r in rounds) / len(rounds), 1) for side in rounds[0]}
    print(json.dumps({"batch_size": BATCH_SIZE, "batches": args.batches, "rounds": rounds,
                      **{f"{side}_samples_per_second": sps for side, sps in mean.items()},
                      **{f"ratio_{side}_over_torch": round(mean[side] / mean["torch"], 3) for side in sides}}))


if __name__ == "__main__":
    main()
