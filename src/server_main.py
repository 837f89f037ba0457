"""Train, evaluate and report a text classifier: `python src/server_main.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from textclf.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
