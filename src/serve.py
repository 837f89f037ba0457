"""Try a trained run in the browser or through its JSON API: `python src/serve.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from textclf.serving.app import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
