"""weibo_senti_100k: Chinese Weibo posts, CSV `label,review`, 1 = positive.

With no data of its own the run falls back to the embedded sample committed in
data/input: the whole 23,998-row public 20% subset, NOT the full 119,988-row set.
"""

from loguru import logger

from textclf.config import RunConfig
from textclf.data import folders, splits, tables
from textclf.errors import InputError

FOLDERS = ("weibo", "weibo_senti_100k", "weibo_senti_100k_subset")
EMBEDDED = "weibo_senti_100k_subset_23998rows.csv.gz"  # committed in data/input
FILES = (
    "weibo_senti_100k.csv",  # the full set, as the original project expects it
    "all_utf8.csv",  # the name the original project also accepted
    "weibo_senti_100k_test_split.csv",  # the public 20% subset, as ../shared/data holds it
    EMBEDDED,
)
NAMES = {"0": "negative", "1": "positive"}
DEFAULTS = {"max_len": 180, "vocab_size": 10_000, "epochs": 2, "truncate": "post"}


def load(config: RunConfig) -> splits.Splits:
    folders.require_dir(config.data_dir)
    path = folders.find_file(config.data_dir, FOLDERS, FILES)
    if path is None:
        raise InputError(f"{config.data_dir}: no Weibo CSV found; looked for {', '.join(FILES[:3])}")
    if path.name == EMBEDDED:
        logger.warning(f"using the embedded sample {path} (23,998 rows, a 20% subset, not the full set)")
    frame = tables.load_labelled(path, "review", "label")
    return splits.for_run(config, frame, names=NAMES, language="zh", source=str(path))
