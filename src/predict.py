"""Predict the class of every row of a table of texts: `python src/predict.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from textclf.serving.batch import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
