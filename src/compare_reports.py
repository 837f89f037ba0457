"""Compare training reports side by side: `python src/compare_reports.py data/output/*.csv --help`."""

import sys

from textclf.reporting.compare import main

if __name__ == "__main__":
    sys.exit(main())
