"""`--tune-parallel K`: K trials at once, each in a worker process of its own on its own GPUs, asking this process's
oracle for settings (KerasTuner's distributed tuning: a chief oracle served over gRPC, tuners as its clients).

On one machine, the chief (the command the user ran) serves the oracle on 127.0.0.1 and starts K copies of its own
command line as workers, each told by its environment where the oracle is (KERASTUNER_ORACLE_IP and _PORT), its
name (KERASTUNER_TUNER_ID), the search's folder and its GPUs (CUDA_VISIBLE_DEVICES: the machine's GPUs in K groups;
on a machine without GPUs the workers share the CPU). A worker runs trials until the oracle has none left, logs to
`<folder>/worker<i>.log` and stops when its chief does.

On a cluster (`--emit-jobs` with `--tune`: deploy/tune_jobset.yaml) the pods are started by Kubernetes, every one
with the same command: TEXTCLF_TUNE_ROLE=chief serves the oracle on KERASTUNER_ORACLE_PORT of every address and
starts no worker; TEXTCLF_TUNE_ROLE=worker finds the chief's search folder on the shared volume (by what it
searches, `search.json`) and asks KERASTUNER_ORACLE_IP, as worker<JOB_COMPLETION_INDEX>.
"""

import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from loguru import logger

from textclf.errors import InputError

FOLDER = "TEXTCLF_TUNE_FOLDER"  # a worker's environment: the chief's search folder
ROLE = "TEXTCLF_TUNE_ROLE"  # a pod's environment: chief or worker (deploy/tune_jobset.yaml)
WAIT_FOR_CHIEF_SECONDS = 600  # a worker pod's wait for its chief's search folder
SERVER_MAIN = Path(__file__).resolve().parents[2] / "server_main.py"
POLL_SECONDS = 1  # how often the chief looks at its workers, and a worker at its chief


def role() -> str | None:
    """chief or worker in a tuning pod; worker in a worker process of this machine's chief; None otherwise."""
    if os.environ.get(ROLE) in ("chief", "worker"):
        return os.environ[ROLE]
    return "worker" if FOLDER in os.environ else None


def pod_folder(find, fingerprint: str) -> Path:
    """A worker pod's search folder: `find(fingerprint)` once the chief has made it, waited for."""
    os.environ.setdefault("KERASTUNER_TUNER_ID", f"worker{os.environ.get('JOB_COMPLETION_INDEX', '0')}")
    deadline = time.monotonic() + WAIT_FOR_CHIEF_SECONDS
    while (folder := find(fingerprint)) is None:
        if time.monotonic() > deadline:
            raise InputError(f"no search folder of the chief's after {WAIT_FOR_CHIEF_SECONDS} s: is the chief pod "
                             "running the same command on the same --output-dir?")
        time.sleep(POLL_SECONDS)
    return folder


def worker_folder() -> Path | None:
    """The search folder when this process is a worker this machine's chief started, else None; a worker whose
    chief stops stops too (a thread watches the parent process)."""
    if FOLDER not in os.environ:
        return None
    chief = os.getppid()

    def watch():
        while os.getppid() == chief:
            time.sleep(POLL_SECONDS)
        os._exit(1)  # the chief is gone: nobody serves the oracle this worker waits on

    threading.Thread(target=watch, daemon=True).start()
    return Path(os.environ[FOLDER])


def worker_name() -> str:
    return os.environ["KERASTUNER_TUNER_ID"]


def gpu_groups(workers: int, gpus: int) -> list[str | None]:
    """Each worker's CUDA_VISIBLE_DEVICES: the `gpus` split into `workers` groups as even as can be (None on a
    machine without GPUs)."""
    if not gpus:
        return [None] * workers
    if workers > gpus:
        raise InputError(f"--tune-parallel {workers}: one GPU or more per trial, and this machine has {gpus}")
    bounds = [round(i * gpus / workers) for i in range(workers + 1)]
    return [",".join(map(str, range(bounds[i], bounds[i + 1]))) for i in range(workers)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(index: int, line: str, folder: Path, port: int, gpus: str | None) -> subprocess.Popen:
    env = {**os.environ, "KERASTUNER_TUNER_ID": f"worker{index}", "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(port), FOLDER: str(folder)}
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    with open(folder / f"worker{index}.err", "w") as stderr:  # TensorFlow's start-up, and a crash's traceback
        return subprocess.Popen([sys.executable, str(SERVER_MAIN), *shlex.split(line)[2:]], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _serve(oracle, address: str):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    server.start()
    return server, servicer


def serve_pods(oracle) -> None:
    """The chief pod's part: serves `oracle` on KERASTUNER_ORACLE_PORT until it has no trial left to give and every
    worker pod that asked has finished (KerasTuner's own rule)."""
    server, servicer = _serve(oracle, f"[::]:{os.environ.get('KERASTUNER_ORACLE_PORT', '8000')}")
    try:
        while not (servicer.stop_triggered and not oracle.ongoing_trials and not oracle.tuner_ids):
            time.sleep(POLL_SECONDS)
    finally:
        server.stop(grace=None)


def search(oracle, workers: int, line: str, folder: Path) -> None:
    """Serves `oracle` to `workers` worker processes running `line` (the chief's command line) until every one has
    finished; stops them all if one fails or this process is stopped."""
    import tensorflow as tf

    groups = gpu_groups(workers, len(tf.config.list_physical_devices("GPU")))
    port = _free_port()
    server, _ = _serve(oracle, f"127.0.0.1:{port}")
    running = [_start(i, line, folder, port, group) for i, group in enumerate(groups)]
    logger.info(f"{workers} tuning workers on port {port}: " + ", ".join(
        f"worker{i} (GPUs {group})" if group else f"worker{i}" for i, group in enumerate(groups)))
    try:
        while any(process.poll() is None for process in running):
            for index, process in enumerate(running):
                if process.poll() not in (None, 0):
                    raise InputError(f"tuning worker{index} stopped with exit code {process.returncode} "
                                     f"({folder / f'worker{index}.err'} says why); run the same command again to "
                                     "resume the search")
            time.sleep(POLL_SECONDS)
    finally:
        for process in running:
            if process.poll() is None:
                process.terminate()
                process.wait()
        server.stop(grace=None)
