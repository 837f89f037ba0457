"""SST-2 (GLUE): English movie-review sentences, TSV `sentence<TAB>label`, 1 = positive.

Validation is GLUE's dev.tsv (872 sentences). GLUE's test.tsv has no labels, so the
report uses test_labeled.tsv (`index<TAB>sentence<TAB>label`, the original SST binary test
labels joined to GLUE's test sentences) when it is there; without it, a test split is
carved from train (stratified, seeded) and a warning says so. Train holds the phrases
of about 6,900 sentences (9 words on average, against 18 in dev and test), so a test
carved from it shares sentences with train and flatters a model. 2 sentences of
test_labeled.tsv also occur in train.
"""

from loguru import logger

from textclf.config import RunConfig
from textclf.data import folders, splits, tables

FOLDERS = ("sst2", "SST-2")
FILES = ("train.tsv", "dev.tsv")
LABELED_TEST = "test_labeled.tsv"
NAMES = {"0": "negative", "1": "positive"}
# The longest sentence is 49 words in train and 44 in dev; 50 cuts one test sentence
# of 1,821. The whole training vocabulary (13.8k words) fits in 15k. 67k short rows
# give many updates per epoch, so a few epochs suffice; early stopping may end sooner.
DEFAULTS = {"max_len": 50, "vocab_size": 15_000, "epochs": 4, "truncate": "post"}


def load(config: RunConfig) -> splits.Splits:
    folder = folders.require_files(config.data_dir, FOLDERS, FILES, "SST-2")
    train, dev = (tables.load_labelled(folder / name, "sentence", "label") for name in FILES)
    test = None
    if (folder / LABELED_TEST).is_file():
        test = tables.load_labelled(folder / LABELED_TEST, "sentence", "label")
    else:
        logger.warning(
            f"{folder}: no {LABELED_TEST} (GLUE's test.tsv has no labels); carving the test split from train "
            "(optimistic: its phrases share sentences with train)"
        )
    return splits.for_run(config, train, dev, test, names=NAMES, language="en", source=str(folder))
