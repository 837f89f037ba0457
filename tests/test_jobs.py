"""`--emit-jobs DIR`: one Kubernetes manifest per cell, from deploy/'s templates, and nothing trained."""

import re
from pathlib import Path

import pytest
import yaml

from textclf import matrix
from textclf.cli import main
from textclf.config import parse_args
from textclf.jobs import containers

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--experiment", str(ROOT / "experiments" / "smoke.yaml")]


@pytest.mark.parametrize("template", ["tfjob.yaml", "jobset.yaml"])
def test_each_cell_becomes_a_job_that_runs_its_command_on_the_templates_storage(tmp_path, capsys, template):
    argv = [*SMOKE, "--emit-jobs", str(tmp_path / "jobs"), "--job-template", str(ROOT / "deploy" / template)]
    assert main(argv) == 0
    paths = [Path(line) for line in capsys.readouterr().out.split()]
    cells = matrix.cells(parse_args(SMOKE))
    assert len(paths) == len(cells) == 4 and sorted(paths) == sorted((tmp_path / "jobs").iterdir())
    original = yaml.safe_load((ROOT / "deploy" / template).read_text())
    storage = parse_args(containers(original)[0]["args"]).config
    names = set()
    for path, cell in zip(paths, cells, strict=True):
        job = yaml.safe_load(path.read_text())
        assert job["kind"] == original["kind"] and path.stem == job["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", path.stem)  # a Kubernetes name
        names.add(path.stem)
        assert f"-{cell.model.replace('_', '-')}-s{cell.seed}" in path.stem
        for container in containers(job):
            ran = parse_args(container["args"]).config
            assert ran == cell.__class__(**{**cell.to_dict(), "data_dir": storage.data_dir,
                                            "output_dir": storage.output_dir})
            assert container["image"] == containers(original)[0]["image"]
    assert len(names) == 4
    assert not list(tmp_path.glob("**/run_*"))  # nothing trained


def test_a_folder_holding_a_job_already_is_refused_and_kept(tmp_path, capsys):
    folder = tmp_path / "jobs"
    assert main([*SMOKE, "--emit-jobs", str(folder)]) == 0
    before = {path: path.read_text() for path in folder.iterdir()}
    assert main([*SMOKE, "--model", "gru", "--emit-jobs", str(folder)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"error: --emit-jobs {folder}: not an empty folder; give a new or empty one"
    assert {path: path.read_text() for path in folder.iterdir()} == before


@pytest.mark.parametrize(("template", "message"), [
    ("kind: Deployment\nmetadata: {name: x}\n", "kind 'Deployment': a job template is a TFJob or a JobSet"),
    ("kind: TFJob\nmetadata: {name: x}\nspec: {}\n", "a TFJob without the usual spec"),
    ("a: [unclosed\n", "ParserError: while parsing"),
])
def test_a_template_that_is_not_a_job_is_one_clear_error(tmp_path, capsys, template, message):
    (tmp_path / "job.yaml").write_text(template)
    argv = [*SMOKE, "--emit-jobs", str(tmp_path / "jobs"), "--job-template", str(tmp_path / "job.yaml")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "jobs").exists()


def test_a_job_template_without_emit_jobs_is_refused():
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--job-template", "deploy/tfjob.yaml"])
    assert exit_.value.code == 2


def test_a_cell_that_would_fail_its_check_writes_no_job(tmp_path, capsys):
    argv = ["--dataset", "sst2", "--model", "fasttext", "--seeds", "0,1", "--model-arg", "buckets=abc",
            "--emit-jobs", str(tmp_path / "jobs")]
    assert main(argv) == 2  # not jobs that the cluster would run only to fail them
    assert capsys.readouterr().err == "error: model_args buckets: 'abc' is not like its default 2000000\n"
    assert not (tmp_path / "jobs").exists()


def test_a_search_becomes_one_jobset_of_a_chief_and_its_worker_pods(tmp_path, capsys):
    argv = ["--dataset", "sst2", "--model", "gru", "--seeds", "0,42", "--tune", "30", "--tuner", "bayesian",
            "--tune-parallel", "3", "--tune-budget", "90", "--emit-jobs", str(tmp_path / "jobs")]
    assert main(argv) == 0
    (path,) = [Path(line) for line in capsys.readouterr().out.split()]
    job = yaml.safe_load(path.read_text())
    name = job["metadata"]["name"]
    assert job["kind"] == "JobSet" and path.stem == name and name.startswith("textclf-tune-")
    chief, worker = (replicated["template"]["spec"] for replicated in job["spec"]["replicatedJobs"])
    assert worker["parallelism"] == worker["completions"] == 3 and chief["parallelism"] == 1
    for container in containers(job):  # every pod runs the command, on the template's storage
        command = parse_args(container["args"])
        assert (command.tune, command.tuner, command.tune_parallel, command.tune_budget, command.seeds) == (
            30, "bayesian", 3, 90.0, (0, 42))
        assert (command.config.model, command.config.data_dir, command.config.output_dir) == (
            "gru", "/data/input", "/data/output")
    roles = {spec["template"]["spec"]["containers"][0]["env"][0]["value"] for spec in (chief, worker)}
    oracle = {v["name"]: v["value"] for v in worker["template"]["spec"]["containers"][0]["env"]}
    assert roles == {"chief", "worker"} and oracle["KERASTUNER_ORACLE_IP"] == f"{name}-chief-0-0.{name}"


def test_a_search_needs_a_template_of_a_chief_and_workers(tmp_path, capsys):
    argv = ["--model", "gru", "--tune", "3", "--emit-jobs", str(tmp_path / "jobs"), "--job-template",
            str(ROOT / "deploy" / "tfjob.yaml")]
    assert main(argv) == 2
    assert "a search's template is a JobSet of a chief and a worker" in capsys.readouterr().err
    assert not (tmp_path / "jobs").exists()
