"""A small random BERT with a Chinese character vocabulary, written as a Keras preset folder.

No Chinese checkpoint is reachable from this machine, so this stands in for `bert_base_zh` to show that a
Chinese dataset trains end to end through the encoder family: keras-hub's WordPiece tokenizer splits
Chinese text into characters, as bert-base-chinese's does, and the vocabulary is every character seen at
least `--min-count` times in the training texts (plus the Latin letters and digits they contain).

    python benchmarks/tiny_chinese_bert.py --train ../shared/data/chnsenticorp/train.csv --out data/cache/tiny_zh
    python src/server_main.py --dataset chnsenticorp --data-dir ../shared/data --model bert \\
        --preset data/cache/tiny_zh --learning-rate 5e-4
"""

import argparse
import collections
import os
from pathlib import Path

import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402 - after the log level
import keras_hub  # noqa: E402

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def character_vocabulary(texts, min_count: int = 1) -> list[str]:
    """The special tokens, then the texts' characters (lower-cased, no spaces) from the most frequent down."""
    counts = collections.Counter(char for text in texts for char in str(text).lower() if not char.isspace())
    return SPECIAL + [char for char, count in counts.most_common() if count >= min_count]


def write_preset(texts, folder: Path, *, min_count: int = 1, num_layers: int = 2, hidden_dim: int = 128,
                 num_heads: int = 2, max_sequence_length: int = 512, seed: int = 0) -> int:
    """A random BertBackbone and a BertTokenizer on the texts' characters, saved to `folder`; the vocabulary size."""
    keras.utils.set_random_seed(seed)
    vocabulary = character_vocabulary(texts, min_count)
    folder.mkdir(parents=True, exist_ok=True)
    keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim, max_sequence_length=max_sequence_length,
    ).save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(str(folder))
    return len(vocabulary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="a CSV of training texts")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--out", type=Path, required=True, help="the preset folder to write")
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    texts = pd.read_csv(args.train)[args.text_column].fillna("")
    size = write_preset(texts, args.out, min_count=args.min_count, num_layers=args.layers, hidden_dim=args.hidden)
    print(f"{args.out}: a random {args.layers}-layer BERT, width {args.hidden}, {size:,} characters in its vocabulary")


if __name__ == "__main__":
    main()
