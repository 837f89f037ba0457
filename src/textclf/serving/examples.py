"""The page's examples: texts of the run's own test split (its `test_predictions.csv`), one per class, each with
its true label, so an English run offers English reviews and a Weibo run Weibo posts."""

from pathlib import Path

import pandas as pd
from loguru import logger

EXAMPLE_CHARS = 280  # the longest text offered while the class has a shorter one: a page shows it whole
SEED = 0  # the same examples each time the run is served


def examples(run_dir: Path, class_names: list[str]) -> list[dict]:
    """[{"text", "label"}, ...]: per class, a seeded choice among its test texts of at most EXAMPLE_CHARS
    characters (its shortest text if none is that short); none for a run folder without test predictions."""
    path = run_dir / "test_predictions.csv"
    try:
        frame = pd.read_csv(path, usecols=["text", "label"], dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:  # pandas' ParserError and a missing column are ValueErrors
        logger.warning(f"the page offers no examples: {path} cannot be read ({err})")
        return []
    chosen = []
    for name in class_names:
        texts = frame.loc[(frame["label"] == name) & (frame["text"].str.strip() != ""), "text"]
        short = texts[texts.str.len() <= EXAMPLE_CHARS]
        pool = short if len(short) else texts[texts.str.len() == texts.str.len().min()]
        if len(pool):
            chosen.append({"text": pool.sample(1, random_state=SEED).iloc[0], "label": name})
    return chosen
