"""Combine finished runs into an ensemble written as a run: `python src/ensemble.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from textclf.ensemble import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
