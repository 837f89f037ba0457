"""Throughput of batch prediction (predict.py) on a CSV, in texts per second.

    python benchmarks/predict_throughput.py --run data/output/run_YYYYMMDD_HHMMSS \\
        --input reviews.csv --text-column review

Runs predict.py's body in this process, timing its two parts apart: loading the run
(TensorFlow's start is paid before, by the import) and reading, predicting and writing
every row in chunks, exactly as `python src/predict.py` does. Prints one JSON line: rows,
chunk_size, load_seconds, predict_seconds and texts_per_second (rows / predict_seconds).
Timing the two in separate processes and subtracting proved useless here: the start-up
alone varied by more than a 3,000-row file takes on a shared 2-core machine.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from textclf import run_folders  # noqa: E402
from textclf.serving import batch  # noqa: E402
from textclf.serving.predictor import Predictor  # noqa: E402 - TensorFlow starts here, before the clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder")
    parser.add_argument("--input", type=Path, required=True, help="CSV file of texts")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--chunk-size", type=int, default=1024)
    args = parser.parse_args()
    started = time.perf_counter()
    predictor = Predictor(run_folders.checked_run(args.run))
    loaded = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        chunks = batch.read_chunks(args.input, args.chunk_size)
        rows, _ = batch.write_predictions(predictor, chunks, args.text_column, Path(folder) / "predicted.csv")
    finished = time.perf_counter()
    print(json.dumps({"run": str(args.run), "input": str(args.input), "rows": rows, "chunk_size": args.chunk_size,
                      "load_seconds": round(loaded - started, 2), "predict_seconds": round(finished - loaded, 2),
                      "texts_per_second": round(rows / (finished - loaded), 1)}))


if __name__ == "__main__":
    main()
