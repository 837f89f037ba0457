"""Evaluate a trained run on another dataset or a labelled file: `python src/evaluate.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from textclf.evaluation import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
