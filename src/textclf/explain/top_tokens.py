"""What a run leans on overall: per class, the words with the highest mean score over the texts it predicts as
that class, in `top_tokens.csv` (class, token, score, count) and `top_tokens.png`.

Each text is explained towards its predicted class by the run's default method; a word's score in the table is
its mean over the texts that hold it, among those it appears in at least `MIN_COUNT` times. The texts are a seeded
shuffle of the split, explained until a time budget is spent (a run gives a tenth of its training time), so a
large test split costs no more than that.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from loguru import logger

from textclf.explain.explainer import Explanation
from textclf.reporting import plots

TOP = 20  # words per class
MIN_COUNT = 3  # occurrences a word needs: fewer say more about one text than about the run


def top_tokens(explain: Callable[[int], Explanation], count: int, class_names: list[str], seconds: float,
               seed: int) -> tuple[pd.DataFrame, int]:
    """The table over `count` texts, where `explain(i)` is text i's explanation towards its predicted class: the
    texts are explained in a seeded order until `seconds` have passed (at least one), and how many were."""
    deadline = time.monotonic() + seconds
    rows, explained = [], 0
    for index in np.random.default_rng(seed).permutation(count):
        explanation = explain(int(index))
        rows += [(explanation.label, word, score) for word, score in zip(explanation.words, explanation.scores)]
        explained += 1
        if time.monotonic() > deadline:
            break
    scores = pd.DataFrame(rows, columns=["class", "token", "score"])
    table = scores.groupby(["class", "token"], sort=False)["score"].agg(["mean", "count"]).reset_index()
    table = table[table["count"] >= MIN_COUNT].rename(columns={"mean": "score"})
    table["class"] = pd.Categorical(table["class"], categories=class_names, ordered=True)
    table = table.sort_values(["class", "score"], ascending=[True, False]).groupby("class", observed=True).head(TOP)
    table["class"] = table["class"].astype(str)
    return table.reset_index(drop=True), explained


def write(table: pd.DataFrame, folder: Path, title: str) -> Path:
    """`top_tokens.csv` and `top_tokens.png` in `folder`; returns the CSV's path."""
    path = folder / "top_tokens.csv"
    table.to_csv(path, index=False)
    plots.top_tokens_png(table, folder / "top_tokens.png", title)
    return path


def explain_and_write(explain: Callable[[int], Explanation], count: int, class_names: list[str], seconds: float,
                      seed: int, folder: Path, title: str, method: str) -> int:
    """`top_tokens` over `count` texts, written into `folder` (`write`) and logged with `method`, the explanations'
    method; returns how many texts were explained. A run, its ensemble and evaluate.py write theirs here."""
    table, explained = top_tokens(explain, count, class_names, seconds, seed)
    write(table, folder, f"{title} ({explained} texts)")
    logger.info(f"top_tokens.csv: {method} over {explained} of {count} texts")
    return explained
