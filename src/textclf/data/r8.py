"""R8: Reuters-21578 news in 8 topics (Cardoso-Cachopo "all-terms" version), `label<TAB>text`, no header.

The official split is 5,485 train / 2,189 test documents; validation is carved from
train (stratified, seeded). Class names are the topic labels: acq, crude, earn, grain,
interest, money-fx, ship, trade. Classes are very unbalanced (earn 2,840, grain 41
training documents). The text is already lower-cased, without punctuation or digits.
"""

from textclf.config import RunConfig
from textclf.data import folders, splits, tables

FOLDERS = ("r8", "R8")
FILES = ("r8-train-all-terms.txt", "r8-test-all-terms.txt")
# Half the articles have under 66 words, 90% under 250; 300 keeps 93% whole, and a
# news story states its topic in its first lines, so a long one keeps its start.
# 15k words cover 99% of the training tokens. 5.5k documents give few updates per
# epoch, hence more epochs; early stopping may end sooner.
DEFAULTS = {"max_len": 300, "vocab_size": 15_000, "epochs": 10, "truncate": "post"}


def load(config: RunConfig) -> splits.Splits:
    folder = folders.require_files(config.data_dir, FOLDERS, FILES, "R8")
    train, test = (
        tables.load_labelled(folder / name, "text", "label", header=None, names=["label", "text"]) for name in FILES
    )
    return splits.for_run(config, train, test=test, names=None, language="en", source=str(folder))
