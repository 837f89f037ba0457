"""--tune-parallel and --tune-budget: trials in worker processes of this machine's chief, in pods as
deploy/tune_jobset.yaml starts them (here processes on 127.0.0.1), and no trial started after the budget."""

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from searching import FASTTEXT, IMDB, ROOT, main, tune_folder


@pytest.mark.large
def test_a_parallel_search_runs_every_trial_once_in_two_worker_processes(tmp_path, calls):
    assert main(*IMDB, *FASTTEXT, "--epochs", "1", "--tune", "4", "--tune-parallel", "2",
                 "--output-dir", tmp_path) == 0
    folder = tune_folder(tmp_path)
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2, 3] and (trials["status"] == "COMPLETED").all()
    assert all(len(list((folder / f"trial_{n}").glob("run_*"))) == 1 for n in range(4))
    assert calls == [(folder.name, False)]  # the chief ran no trial: its workers did
    done = {}
    for worker in ("worker0", "worker1"):
        for trial in map(int, re.findall(r"trial (\d+): best_val_accuracy", (folder / f"{worker}.log").read_text())):
            assert trial not in done, f"trial {trial} ran in {done.get(trial)} and {worker}"
            done[trial] = worker
    assert sorted(done) == [0, 1, 2, 3]

@pytest.mark.large
def test_no_trial_starts_after_the_budget(tmp_path):
    assert main(*IMDB, *FASTTEXT, "--epochs", "1", "--tune", "20", "--tune-budget", "0.05",
                 "--output-dir", tmp_path) == 0
    assert 1 <= len(pd.read_csv(tune_folder(tmp_path) / "trials.csv")) <= 2  # a trial here takes more than 3 s

@pytest.mark.large
def test_pods_a_chief_serves_the_oracle_and_worker_pods_find_its_folder(tmp_path, calls, monkeypatch):
    """As deploy/tune_jobset.yaml runs a search: every pod the same command, its role and the chief's address in
    its environment. The worker pods start first and wait for the chief's search folder."""
    from textclf.tuning import parallel

    args = [*IMDB, *FASTTEXT, "--epochs", "1", "--tune", "3", "--tune-parallel", "2",
            "--output-dir", str(tmp_path)]
    port = str(parallel._free_port())
    workers = [subprocess.Popen([sys.executable, str(ROOT / "src" / "server_main.py"), *args], env={
        **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TEXTCLF_TUNE_ROLE": "worker", "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": port, "JOB_COMPLETION_INDEX": str(index)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for index in range(2)]
    try:
        monkeypatch.setenv("TEXTCLF_TUNE_ROLE", "chief")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", port)
        assert main(*args) == 0
        for worker in workers:
            assert worker.wait(timeout=120) == 0, worker.stderr.read()[-2000:]
    finally:
        for worker in workers:
            worker.kill()
    folder = tune_folder(tmp_path)
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2] and (trials["status"] == "COMPLETED").all()
    assert all(len(list((folder / f"trial_{n}").glob("run_*"))) == 1 for n in range(3))
    assert calls == [(folder.name, False)]  # the chief ran no trial, and trained the best
    ran = [re.findall(r"trial (\d+): best_val", (folder / f"worker{i}.log").read_text()) for i in range(2)]
    assert sorted(int(trial) for trials_of in ran for trial in trials_of) == [0, 1, 2]
