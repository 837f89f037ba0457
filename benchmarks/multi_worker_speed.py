"""Training speed of one run three ways at the same global batch: one process, two logical devices in one process
(MirroredStrategy), and two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy through TF_CONFIG).

Each is `python src/server_main.py` as a user runs it, on the same data, model, seed and global batch (--batch-size
is per replica: B for one process, B/2 for the two others), in turns, --rounds times; the figure is the report's
`train_samples_per_second`. On this 2-core CPU the three share the same two cores, so this measures what each
path costs (replica coordination, collective all-reduce over gRPC between processes), not a speed-up.

    python benchmarks/multi_worker_speed.py --data-dir ../shared/data --dataset sst2 --model text_cnn \\
        --max-samples 8000 --batch-size 64 --rounds 2

Prints one line of JSON.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("one_process", "two_devices", "two_workers")


def free_ports(count: int) -> list[int]:
    """`count` TCP ports free on 127.0.0.1 now (the tests' clusters take theirs from here too)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(variant: str, flags: list[str], batch_size: int, output_dir: Path) -> dict:
    """One run of `variant`; its report's speed and accuracy."""
    command = [sys.executable, str(ROOT / "src" / "server_main.py"), *flags, "--output-dir", str(output_dir)]
    if variant == "one_process":
        processes = [subprocess.Popen([*command, "--batch-size", str(batch_size)], cwd=ROOT)]
    elif variant == "two_devices":
        processes = [subprocess.Popen([*command, "--batch-size", str(batch_size // 2), "--devices", "2"], cwd=ROOT)]
    else:
        addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
        processes = [subprocess.Popen(
            [*command, "--batch-size", str(batch_size // 2)], cwd=ROOT,
            env={**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": addresses},
                                                        "task": {"type": "worker", "index": index}})})
            for index in range(2)]
    if any(process.wait(timeout=3600) for process in processes):
        sys.exit(f"error: the {variant} run failed")
    (report,) = output_dir.glob("training_report_*.csv")
    row = pd.read_csv(report).iloc[0]
    return {"samples_per_second": float(row["train_samples_per_second"]), "replicas": int(row["num_replicas"]),
            "global_batch": int(row["global_batch_size"]), "test_accuracy": round(float(row["final_test_accuracy"]), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--dataset", default="sst2")
    p.add_argument("--model", default="text_cnn")
    p.add_argument("--max-samples", type=int, default=8000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="the global batch; even")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    flags = ["--dataset", args.dataset, "--data-dir", args.data_dir, "--model", args.model, "--max-samples",
             str(args.max_samples), "--epochs", str(args.epochs), "--seed", str(args.seed), "--patience", "99"]
    load_before = os.getloadavg()[0]
    rounds = []
    for _ in range(args.rounds):
        results = {}
        for variant in VARIANTS:
            with tempfile.TemporaryDirectory() as folder:
                results[variant] = run(variant, flags, args.batch_size, Path(folder))
            print(f"{variant}: {results[variant]}", file=sys.stderr)
        rounds.append(results)
    mean = {variant: sum(r[variant]["samples_per_second"] for r in rounds) / len(rounds) for variant in VARIANTS}
    print(json.dumps({
        "flags": flags, "global_batch": args.batch_size, "rounds": rounds,
        "mean_samples_per_second": {variant: round(value, 1) for variant, value in mean.items()},
        "ratio_over_one_process": {variant: round(mean[variant] / mean["one_process"], 3) for variant in VARIANTS},
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    main()
