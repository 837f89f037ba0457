"""Load on the web app: single-text requests from concurrent clients against serve.py on loopback.

    python benchmarks/serve_load.py --run data/output/run_YYYYMMDD_HHMMSS
    python benchmarks/serve_load.py --run ... --requests 200 --clients 4     # a quick try
    python benchmarks/serve_load.py --run ... --requests 200 --clients 1 --explain integrated_gradients

Starts `src/serve.py --run RUN` on 127.0.0.1 (a free port; waitress, 8 threads), then
sends `--requests` POST /api/predict requests of one text each, the texts of the run's
test_predictions.csv in turn, from `--clients` threads that each keep one connection
open. Prints one JSON line: requests, clients, errors (non-200 answers and failed
connections), seconds, requests_per_second, p50_ms and p99_ms (latency per request). With `--explain METHOD`
each request asks for the text's explanation by that method (`"explain": true`).
"""

import argparse
import http.client
import json
import os
import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from launch import running_server  # noqa: E402 - the tests' launcher: serve.py in a child process

from textclf.explain import METHODS  # noqa: E402

WARM_UP = 16  # requests before the clock starts: the first ones pay for thread and connection set-up


def client(address: tuple[str, int], bodies: list[bytes], jobs: queue.SimpleQueue) -> tuple[list[float], int]:
    """Sends requests until `jobs` is empty; returns the latencies and the number of errors."""
    connection = http.client.HTTPConnection(*address, timeout=60)
    latencies, errors = [], 0
    while (job := jobs.get()) is not None:
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/predict", bodies[job % len(bodies)], {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            errors += response.status != 200
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()  # the next request opens a new connection
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies, errors


def load(url: str, texts: list[str], requests: int, clients: int, explain: str | None = None) -> dict:
    address = (urlsplit(url).hostname, urlsplit(url).port)
    options = {} if explain is None else {"explain": True, "explain_method": explain}
    bodies = [json.dumps({"text": text, **options}).encode() for text in texts]
    client(address, bodies, _jobs(WARM_UP, 1))
    jobs = _jobs(requests, clients)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: client(address, bodies, jobs), range(clients)))
    seconds = time.perf_counter() - started
    latencies = np.concatenate([r[0] for r in results]) * 1000
    return {"requests": requests, "clients": clients, "errors": sum(r[1] for r in results),
            "seconds": round(seconds, 2), "requests_per_second": round(requests / seconds, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1)}


def _jobs(count: int, clients: int) -> queue.SimpleQueue:
    """Request numbers, then one stop mark per client."""
    jobs = queue.SimpleQueue()
    for job in [*range(count), *[None] * clients]:
        jobs.put(job)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder to serve")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--explain", choices=METHODS,
                        help="ask for each text's explanation by this method")
    args = parser.parse_args()
    texts = pd.read_csv(args.run / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)["text"]
    with running_server(args.run) as url:
        result = load(url, texts.tolist(), args.requests, args.clients, args.explain)
    print(json.dumps({"run": str(args.run), "explain": args.explain, **result}))


if __name__ == "__main__":
    main()
