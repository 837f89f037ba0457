"""Times training steps of the original PyTorch project's IMDB LSTM, for comparison with ours.

Runs under its own venv (torch is not a project dependency), so it imports neither
TensorFlow nor textclf. Prints one line of JSON to stdout; progress goes to stderr.

    bash benchmarks/torch_venv.sh
    benchmarks/.torch-venv/bin/python benchmarks/torch_imdb_lstm.py \
        --train-csv ../shared/data/imdb/imdb_train.csv.gz --batches 60
"""

import argparse
import collections
import json
import os
import re
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

VOCAB_SIZE = 10_000  # embedding rows, including the two reserved ids below
PAD, OOV = 0, 1
MAX_LEN = 250  # only the first 250 words of each review, as in the original project
BATCH_SIZE = 64
TAG = re.compile(r"<[^>]+>")  # reviews contain "<br />"
WORD = re.compile(r"[a-z0-9']+")


class BadInput(Exception):
    """Input the user can fix: reported in one line, without a traceback."""


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, 128)
        self.lstm = nn.LSTM(128, 256, batch_first=True)
        self.fc = nn.Linear(256, 2)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return self.fc(h_n[-1])


def load_reviews(path, max_samples, rng):
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}")
    except (OSError, ValueError, UnicodeDecodeError) as e:  # bad gzip, unparsable CSV
        raise BadInput(f"cannot read {path} as a (gzipped) CSV: {e}")
    missing = {"label", "review"} - set(df.columns)
    if missing:
        raise BadInput(f"{path}: missing column(s) {sorted(missing)}; found {list(df.columns)}")
    if not df["label"].isin([0, 1]).all():
        raise BadInput(f"{path}: column 'label' must hold only 0 and 1")
    # The file is sorted by label, so a cap must sample rather than take the head.
    if max_samples is not None and max_samples < len(df):
        df = df.iloc[rng.permutation(len(df))[:max_samples]]
    return df["review"].fillna("").tolist(), df["label"].to_numpy(dtype=np.int64, copy=True)


def tokenize(text):
    return WORD.findall(TAG.sub(" ", text.lower()))


def encode(texts):
    """Token ids, cut and padded at the end to MAX_LEN, with a vocabulary built from texts."""
    tokens = [tokenize(t) for t in texts]
    counts = collections.Counter(w for ts in tokens for w in ts)
    # Two of the VOCAB_SIZE ids are reserved, so the embedding stays at exactly VOCAB_SIZE rows.
    index = {w: i for i, (w, _) in enumerate(counts.most_common(VOCAB_SIZE - 2), start=2)}
    ids = np.full((len(tokens), MAX_LEN), PAD, dtype=np.int64)
    for row, ts in enumerate(tokens):
        kept = ts[:MAX_LEN]
        ids[row, : len(kept)] = [index.get(w, OOV) for w in kept]
    return torch.from_numpy(ids)


def batches(n, generator):
    """Shuffled index batches, reshuffled every epoch; the short last batch is dropped so
    every timed step does the same work."""
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - BATCH_SIZE + 1, BATCH_SIZE):
            yield order[start : start + BATCH_SIZE]


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-csv", required=True, help="gzipped CSV with label and review columns")
    p.add_argument("--max-samples", type=positive_int, help="use at most this many reviews")
    p.add_argument("--batches", type=positive_int, help="batches to time (default: one epoch)")
    p.add_argument("--warmup-batches", type=int, default=5, help="untimed batches run first")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.warmup_batches < 0:
        p.error("argument --warmup-batches: must be >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    texts, labels = load_reviews(args.train_csv, args.max_samples, np.random.default_rng(args.seed))
    if len(texts) < BATCH_SIZE:
        raise BadInput(f"need at least {BATCH_SIZE} reviews, got {len(texts)}")
    t0 = time.perf_counter()
    ids, labels = encode(texts), torch.from_numpy(labels)
    print(f"preprocessed {len(texts)} reviews in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    n_batches = args.batches or len(texts) // BATCH_SIZE
    model = LSTMClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    stream = batches(len(texts), torch.Generator().manual_seed(args.seed))
    timed = 0.0
    for step in range(args.warmup_batches + n_batches):
        idx = next(stream)
        x, y = ids[idx], labels[idx]  # gathering a batch is data loading, so it is not timed
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        if step >= args.warmup_batches:
            timed += elapsed
        if (step + 1) % 10 == 0:
            print(f"batch {step + 1}: loss {loss.item():.4f}, {elapsed:.3f}s", file=sys.stderr)

    samples = n_batches * BATCH_SIZE
    print(json.dumps({
        "framework": "pytorch", "torch_version": torch.__version__, "threads": args.threads,
        "batch_size": BATCH_SIZE, "max_len": MAX_LEN, "batches": n_batches, "samples": samples,
        "seconds": round(timed, 3), "samples_per_second": round(samples / timed, 1),
    }))


if __name__ == "__main__":
    try:
        main()
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
