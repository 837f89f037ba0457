"""deploy/: the Dockerfile, the TFJob and JobSet manifests and the JobSet entrypoint, against the repository and the
README that documents them."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from textclf.config import parse_args
from textclf.training import multi_worker

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _manifest(name: str) -> dict:
    (document,) = yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8"))
    return document


def _check_container(container: dict, command: list[str]):
    """The container every pod runs: named as the TFJob operator expects, GPUs asked for, an existing script with
    server_main flags that parse, the README's command, and the data volume where the flags point."""
    assert container["name"] == "tensorflow"
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert (ROOT / command[1]).is_file()
    args = container["args"]
    config = parse_args(args).config  # flags server_main takes, with values it accepts
    assert config.strategy == "auto" and not config.model.count(",") and not config.dataset.count(",")
    assert "python src/server_main.py " + " ".join(args) in README
    (mount,) = container["volumeMounts"]
    for folder in (config.data_dir, config.output_dir):
        assert folder.startswith(mount["mountPath"] + "/")


def test_the_dockerfile_builds_on_the_pinned_tensorflow_and_runs_server_main():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (pin,) = re.findall(r"^tensorflow\[and-cuda\]==(\S+)$", (ROOT / "requirements-gpu.txt").read_text(), re.M)
    assert re.search(rf"^FROM tensorflow/tensorflow:{re.escape(pin)}-gpu$", dockerfile, re.M)
    assert "RUN pip install --no-cache-dir -r requirements-gpu.txt" in dockerfile
    (entry,) = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    assert json.loads(entry) == ["python", "src/server_main.py"] and (ROOT / "src" / "server_main.py").is_file()
    assert "docker build -f deploy/Dockerfile -t REGISTRY/textclf:TAG ." in README
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data/output", ".git"} <= set(ignored)


def test_the_tfjob_has_a_chief_and_workers_running_the_same_command():
    job = _manifest("tfjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "TFJob")
    replicas = job["spec"]["tfReplicaSpecs"]
    assert set(replicas) == {"Chief", "Worker"} and replicas["Chief"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] >= 1
    (chief,), (worker,) = (replicas[role]["template"]["spec"]["containers"] for role in ("Chief", "Worker"))
    assert chief["args"] == worker["args"] and chief["image"] == worker["image"]
    for container in (chief, worker):
        assert "command" not in container  # the image's ENTRYPOINT: python src/server_main.py
        _check_container(container, ["python", "src/server_main.py"])
    assert "kubectl apply -f deploy/tfjob.yaml" in README


def test_the_jobset_runs_indexed_pods_through_the_entrypoint():
    jobset = _manifest("jobset.yaml")
    assert (jobset["apiVersion"], jobset["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    assert jobset["spec"]["network"]["enableDNSHostnames"] and jobset["spec"]["failurePolicy"]["maxRestarts"] >= 1
    (replicated,) = jobset["spec"]["replicatedJobs"]
    assert replicated["replicas"] == 1  # the entrypoint's hostnames are those of job index 0
    job = replicated["template"]["spec"]
    assert job["completionMode"] == "Indexed" and job["parallelism"] == job["completions"] >= 2
    (container,) = job["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert int(env["WORKERS"]["value"]) == job["parallelism"]
    assert {"JOBSET_NAME", "REPLICATED_JOB_NAME"} <= set(env)
    assert container["ports"] == [{"containerPort": 2222}]  # the entrypoint's default TF_PORT
    assert container["command"] == ["python", "deploy/jobset_entrypoint.py"]
    _check_container(container, container["command"])
    assert "kubectl apply -f deploy/jobset.yaml" in README


@pytest.fixture(scope="module")
def entrypoint():
    spec = importlib.util.spec_from_file_location("jobset_entrypoint", DEPLOY / "jobset_entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("index", "chief"), [(0, True), (1, False)])
def test_the_entrypoint_names_every_pod_by_its_jobset_hostname(entrypoint, monkeypatch, index, chief):
    env = {"WORKERS": "2", "JOBSET_NAME": "textclf-imdb", "REPLICATED_JOB_NAME": "worker",
           "JOB_COMPLETION_INDEX": str(index)}
    config = entrypoint.tf_config(env)
    assert config["cluster"]["worker"] == ["textclf-imdb-worker-0-0.textclf-imdb:2222",
                                           "textclf-imdb-worker-0-1.textclf-imdb:2222"]
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    cluster = multi_worker.cluster()  # textclf reads it as it reads the TFJob operator's
    assert multi_worker.task_count(cluster) == 2 and multi_worker.is_chief(cluster) == chief
