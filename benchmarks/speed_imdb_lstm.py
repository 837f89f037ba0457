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

Prints one JSON line: samples/s of each side per round and the ratio.
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

from textclf.config import RunConfig  # noqa: E402
from textclf.data import imdb, pipeline, text  # noqa: E402
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
                               truncate=config.truncate, global_batch=BATCH_SIZE, training=True, seed=seed)
    model = builder_for("lstm")(vectorizer.vocabulary_size(), 2)
    trainer.compile_model(model, peak_lr=config.learning_rate, total_steps=10_000,
                          warmup_ratio=config.warmup_ratio, clipnorm=config.clipnorm)
    return model, ds.repeat()


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
    args = p.parse_args()
    train_csv = Path(args.data_dir) / "imdb" / "imdb_train.csv.gz"
    if not train_csv.is_file():
        sys.exit(f"error: {train_csv}: no such file")
    python = subprocess.run(["bash", str(HERE / "torch_venv.sh")], capture_output=True, text=True,
                            check=True).stdout.strip()
    model, ds = keras_model_and_data(args.data_dir, args.seed)
    rounds = []
    for _ in range(args.rounds):
        torch_sps = torch_round(python, train_csv, args.batches, args.warmup, args.seed)
        keras_sps = keras_round(model, ds, args.batches, args.warmup)
        rounds.append({"torch": round(torch_sps, 1), "keras": round(keras_sps, 1)})
        print(f"round {len(rounds)}: {rounds[-1]}", file=sys.stderr)
    keras_total, torch_total = (sum(r[k] for r in rounds) for k in ("keras", "torch"))
    print(json.dumps({"batch_size": BATCH_SIZE, "batches": args.batches, "rounds": rounds,
                      "keras_samples_per_second": round(keras_total / len(rounds), 1),
                      "torch_samples_per_second": round(torch_total / len(rounds), 1),
                      "ratio_keras_over_torch": round(keras_total / torch_total, 3)}))


if __name__ == "__main__":
    main()
