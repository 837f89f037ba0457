"""A labelled file drawn from a real one with one class made rare, for the class-weight benchmark.

Every row of the most common class is kept and the others are sampled down to 1 / --ratio of it (seeded),
so a user's imbalanced file can be reproduced from ../shared/data:

    python benchmarks/skewed_file.py --source ../shared/data/chnsenticorp/train.csv --ratio 9 \\
        --names 0=negative,1=positive --out data/cache/chnsenticorp_9to1.csv
    python src/server_main.py --dataset data/cache/chnsenticorp_9to1.csv --model fasttext [--class-weight balanced]
"""

import argparse
from pathlib import Path

import pandas as pd


def skewed(frame: pd.DataFrame, ratio: float, seed: int) -> pd.DataFrame:
    """All rows of the most common label; every other label sampled down to (its count) / `ratio` of it."""
    counts = frame["label"].value_counts()
    keep = int(counts.iloc[0] / ratio)
    parts = [frame[frame["label"] == counts.index[0]]]
    parts += [frame[frame["label"] == label].sample(min(keep, n), random_state=seed) for label, n in counts.iloc[1:].items()]
    return pd.concat(parts).sample(frac=1, random_state=seed).reset_index(drop=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, required=True, help="CSV with text and label columns")
    p.add_argument("--ratio", type=float, default=9.0, help="rows of the common class per row of a rare one")
    p.add_argument("--names", default="", help="rename labels, e.g. 0=negative,1=positive")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    frame = pd.read_csv(args.source, dtype={"label": str})[["text", "label"]]
    names = dict(pair.split("=") for pair in args.names.split(",") if pair)
    frame["label"] = frame["label"].map(lambda label: names.get(label, label))
    out = skewed(frame, args.ratio, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(args.out, out["label"].value_counts().to_dict())


if __name__ == "__main__":
    main()
