"""`--emit-jobs DIR`: a Kubernetes job manifest per run, for a cluster to run the cells of a matrix side by side.

The matrix runner trains its cells one after another in one process on one machine. On a cluster each cell is a
job of its own: this writes, for every cell, a copy of `--job-template` (a TFJob, as `deploy/tfjob.yaml`, or a
JobSet, as `deploy/jobset.yaml`) named after the cell, whose containers run the cell's command
(`config.command_flags`) with the template's `--data-dir` and `--output-dir`: the paths of the cluster's volume,
not those of the machine that wrote the jobs. A search (`--tune`) is one JobSet instead (`emit_tuning_job`,
`deploy/tune_jobset.yaml`): a chief pod and --tune-parallel worker pods. No job is submitted here: `kubectl apply
-f DIR` does that.
"""

import copy
import dataclasses
import re
from pathlib import Path

import yaml

from textclf.config import Command, RunConfig, command_flags, parse_args
from textclf.errors import InputError

TEMPLATES = {"runs": "deploy/tfjob.yaml", "tune": "deploy/tune_jobset.yaml"}  # --job-template's defaults


def containers(manifest: dict) -> list[dict]:
    """The containers of a TFJob's replica specs or of a JobSet's replicated jobs."""
    kind = manifest.get("kind") if isinstance(manifest, dict) else None
    try:
        if kind == "TFJob":
            return [container for spec in manifest["spec"]["tfReplicaSpecs"].values()
                    for container in spec["template"]["spec"]["containers"]]
        if kind == "JobSet":
            return [container for job in manifest["spec"]["replicatedJobs"]
                    for container in job["template"]["spec"]["template"]["spec"]["containers"]]
    except (KeyError, TypeError):
        raise InputError(f"a {kind} without the usual spec: no containers found") from None
    raise InputError(f"kind {kind!r}: a job template is a TFJob or a JobSet")


def job_name(prefix: str, number: int, config: RunConfig) -> str:
    """A Kubernetes name (lowercase letters, digits and dashes, at most 63) that says which cell the job runs."""
    recipe = f"-{config.recipe}" if config.recipe else ""
    name = f"{prefix}-{number:03d}-{config.dataset}-{config.model}{recipe}-s{config.seed}"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].rstrip("-")


def _template(template: Path) -> tuple[dict, RunConfig]:
    """The manifest of `template` and the storage its container's args name (--data-dir, --output-dir)."""
    try:
        manifest = yaml.safe_load(template.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"--job-template {template}: {type(error).__name__}: {' '.join(str(error).split())}") from None
    try:
        return manifest, parse_args(containers(manifest)[0].get("args") or []).config
    except InputError as error:
        raise InputError(f"--job-template {template}: {error}") from None
    except SystemExit:
        raise InputError(f"--job-template {template}: its container's args are not server_main flags") from None


def _write(jobs: dict[Path, dict], folder: Path) -> list[Path]:
    """The manifests into `folder`, which must be new or empty: `kubectl apply -f folder` then submits exactly these
    jobs, and no earlier file is replaced."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):  # `kubectl apply -f` takes it all
        raise InputError(f"--emit-jobs {folder}: not an empty folder; give a new or empty one")
    folder.mkdir(parents=True, exist_ok=True)
    for path, job in jobs.items():
        path.write_text(yaml.safe_dump(job, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return list(jobs)


def emit_jobs(configs: list[RunConfig], folder: Path, template: Path) -> list[Path]:
    """Writes one manifest per config into `folder` (`_write`)."""
    manifest, storage = _template(template)
    jobs = {}
    for number, config in enumerate(configs, start=1):
        cell = dataclasses.replace(config, data_dir=storage.data_dir, output_dir=storage.output_dir)
        job = copy.deepcopy(manifest)
        job["metadata"]["name"] = job_name("textclf", number, cell)
        for container in containers(job):
            container["args"] = command_flags(cell)
        jobs[folder / f"{job['metadata']['name']}.yaml"] = job
    return _write(jobs, folder)


def emit_tuning_job(command: Command, folder: Path, template: Path) -> list[Path]:
    """Writes the JobSet of a search (`--tune`, deploy/tune_jobset.yaml) into `folder` (`_write`): its chief and
    worker pods run the command, with the template's storage; the workers are --tune-parallel pods that ask the
    chief pod's oracle (`tuning.parallel`)."""
    manifest, storage = _template(template)
    jobs = {job["name"]: job for job in manifest.get("spec", {}).get("replicatedJobs", [])}
    if manifest.get("kind") != "JobSet" or set(jobs) != {"chief", "worker"}:
        raise InputError(f"--job-template {template}: a search's template is a JobSet of a chief and a worker "
                         "replicated job, as deploy/tune_jobset.yaml")
    config = dataclasses.replace(command.config, data_dir=storage.data_dir, output_dir=storage.output_dir)
    flags = command_flags(config) + ["--tune", str(command.tune), "--tuner", command.tuner,
                                     "--tune-parallel", str(command.tune_parallel)]
    for name, value in (("--seeds", ",".join(map(str, command.seeds or ()))), ("--experiment", command.experiment),
                        ("--tune-space", command.tune_space), ("--tune-budget", command.tune_budget)):
        flags += [name, str(value)] if value else []
    name = job_name("textclf-tune", 1, config)
    manifest["metadata"]["name"] = name
    for container in containers(manifest):
        container["args"] = flags
    workers = jobs["worker"]["template"]["spec"]
    workers["parallelism"] = workers["completions"] = command.tune_parallel
    for container in workers["template"]["spec"]["containers"]:
        for variable in container.get("env", []):
            if variable.get("name") == "KERASTUNER_ORACLE_IP":  # the chief pod's hostname in the JobSet
                variable["value"] = f"{name}-chief-0-0.{name}"
    return _write({folder / f"{name}.yaml": manifest}, folder)
