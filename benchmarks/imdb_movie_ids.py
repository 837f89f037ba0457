"""Do aclImdb review ids run movie by movie? Named-entity overlap of neighbouring ids against random pairs.

IMDB's test movies are not in train, but a validation split carved at random from train shares
movies with it. Whether consecutive ids are one movie's reviews decides whether validation could be
carved by id blocks instead (tried; see docs/benchmarks/issue-02-the-spine.md). The CSV form has no movie ids, so this checks
from the texts: the capitalised words inside sentences (names of actors, characters, titles) of
reviews `i` and `i + 1` of one polarity, against those of random pairs.

    python benchmarks/imdb_movie_ids.py --data-dir ../shared/data

Prints one JSON line per polarity: mean Jaccard overlap and the share of pairs above 0.1.
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

NAME = re.compile(r"(?<=[a-z,] )([A-Z][a-z]{3,})")  # capitalised, not sentence-initial


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    reviews = pd.read_csv(Path(args.data_dir) / "imdb" / "imdb_train.csv.gz")
    reviews["polarity"] = reviews["file"].str.split("/").str[1]
    rng = np.random.default_rng(args.seed)
    for polarity, part in reviews.sort_values("id").groupby("polarity"):
        names = [set(NAME.findall(text)) for text in part["review"]]
        neighbours = np.array([jaccard(a, b) for a, b in zip(names, names[1:])])
        pairs = rng.integers(0, len(names), (len(names), 2))
        random = np.array([jaccard(names[i], names[j]) for i, j in pairs])
        print(json.dumps({
            "polarity": polarity, "reviews": len(names),
            "neighbours_mean": round(neighbours.mean(), 4), "random_mean": round(random.mean(), 4),
            "neighbours_over_0.1": round((neighbours > 0.1).mean(), 4), "random_over_0.1": round((random > 0.1).mean(), 4),
        }))


if __name__ == "__main__":
    main()
