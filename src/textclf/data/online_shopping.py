"""online_shopping_10_cats: Chinese e-commerce reviews, 1 = positive (SophonPlus ChineseNlpCorpus).

One zip, online_shopping_10_cats.zip, holding online_shopping_10_cats.csv with
`cat,label,review`; 62,774 reviews of 10 product categories, one of them empty (dropped).
There is no official split: validation and test are carved from it (80/10/10 with the
default fractions, stratified by label, seeded). The category is not used.

Overlap: 8,370 of its reviews are identical to ChnSentiCorp texts (computers, books,
hotels), including 1,025 of ChnSentiCorp's 1,200 test texts. Never train on this set
and evaluate on ChnSentiCorp, or the other way round, without deduplicating first.
"""

from textclf.config import RunConfig
from textclf.data import folders, splits, tables

FOLDERS = ("online_shopping_10_cats", "online_shopping")
FILE = "online_shopping_10_cats.zip"
NAMES = {"0": "negative", "1": "positive"}
# In jieba words the median review is 22 long and 97.5% are at most 150; which end
# of the rest is cut matters little. 20k words cover 97% of the tokens. 50k training
# reviews give many updates per epoch, so a few epochs suffice.
DEFAULTS = {"max_len": 150, "vocab_size": 20_000, "epochs": 3, "truncate": "post"}


def load(config: RunConfig) -> splits.Splits:
    folder = folders.require_files(config.data_dir, FOLDERS, (FILE,), "online_shopping_10_cats")
    frame = tables.load_labelled(folder / FILE, "review", "label")
    return splits.for_run(config, frame, names=NAMES, language="zh", source=str(folder / FILE))
