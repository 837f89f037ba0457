"""A run folder whose files cannot be served: one `error: <file>: ...` line and exit code 2, from serve.py
and predict.py alike (both load through serving/runs.py's load_predictor and Predictor)."""

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from textclf.errors import InputError
from textclf.run_folders import EVALUATION_PENDING, RUN_FILES
from textclf.serving.runs import chosen_run, load_predictor

ROOT = Path(__file__).resolve().parents[2]


def keep_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def another_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")


DAMAGE = {  # name: (file, what is done to it, the error's end)
    "empty model": ("model.keras", lambda p: p.write_bytes(b""), "cannot be loaded (not a .keras zip archive"),
    "truncated model": ("model.keras", keep_half, "cannot be loaded (not a .keras zip archive"),
    "random model": ("model.keras", lambda p: p.write_bytes(os.urandom(5000)), "cannot be loaded (not a .keras zip"),
    "another zip as model": ("model.keras", another_zip, "cannot be loaded (KeyError: "),
    "corrupt config": ("config.json", lambda p: p.write_text('{"dataset": '), "not valid JSON (Expecting value"),
    "config not an object": ("config.json", lambda p: p.write_text("[]"), "not a run's config"),
    "no classes": ("classes.json", lambda p: p.write_text("[]"), "not a list of at least 2 distinct class names"),
    "one class": ("classes.json", lambda p: p.write_text('["positive"]'), "not a list of at least 2 distinct"),
    "repeated class": ("classes.json", lambda p: p.write_text('["a", "a"]'), "not a list of at least 2 distinct"),
    "classes not strings": ("classes.json", lambda p: p.write_text("[0, 1]"), "not a list of at least 2 distinct"),
    "classes not JSON": ("classes.json", lambda p: p.write_bytes(b"\xff\xfe"), "not valid JSON"),
    "more classes than the model": ("classes.json", lambda p: p.write_text('["a", "b", "c"]'),
                                    "3 class names, but"),
}


def damaged(run_dir: Path, folder: Path, name: str) -> Path:
    """A copy of the serving files of `run_dir` in `folder`, with the damage `name` done to one of them."""
    folder.mkdir()
    for file in RUN_FILES:
        shutil.copy(run_dir / file, folder / file)
    file, damage, _ = DAMAGE[name]
    damage(folder / file)
    return folder


@pytest.mark.parametrize("name", DAMAGE)
def test_damaged_run_file_is_an_input_error_naming_it(runs, tmp_path, name):
    run_dir = damaged(runs["weibo"], tmp_path / "run_x", name)
    file, _, message = DAMAGE[name]
    with pytest.raises(InputError) as error:
        load_predictor(chosen_run(argparse.Namespace(run=run_dir, output_dir=None)))
    assert str(error.value).startswith(f"{run_dir / file}: ") and message in str(error.value)


@pytest.mark.parametrize("script, name", [("serve.py", "truncated model"), ("predict.py", "no classes")])
def test_entry_points_print_one_error_line_and_exit_2(runs, tmp_path, script, name):
    run_dir = damaged(runs["weibo"], tmp_path / "run_x", name)
    table = tmp_path / "in.csv"
    table.write_text("text\ngood\n")
    flags = {"serve.py": ["--port", "0"], "predict.py": ["--input", table, "--text-column", "text",
                                                         "--output", tmp_path / "out.csv"]}[script]
    result = subprocess.run([sys.executable, f"src/{script}", "--run", run_dir, *flags], cwd=ROOT, timeout=300,
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    file, _, message = DAMAGE[name]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {run_dir / file}: {message}")


@pytest.mark.large
@pytest.mark.parametrize("script", ["serve.py", "predict.py", "evaluate.py"])
def test_an_unfinished_run_is_refused_by_every_reader(runs, tmp_path, script):
    """A run stopped between its fit and its report holds every file serving loads, and `evaluation_pending`."""
    run_dir = tmp_path / "run_20250101_000000"
    shutil.copytree(runs["weibo"], run_dir)
    (run_dir / EVALUATION_PENDING).touch()
    table = tmp_path / "in.csv"
    table.write_text("text,label\ngood,positive\n")
    flags = {"serve.py": ["--port", "0"], "evaluate.py": ["--dataset", table],
             "predict.py": ["--input", table, "--text-column", "text", "--output", tmp_path / "out.csv"]}[script]
    result = subprocess.run([sys.executable, f"src/{script}", "--run", run_dir, *flags], cwd=ROOT, timeout=300,
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {run_dir}: an unfinished run (it holds {EVALUATION_PENDING}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", run_dir.name]


def test_every_layer_textclf_registers_for_saving_is_given_to_keras_when_a_run_loads():
    # Serving names its custom objects instead of importing modules for their registration: a class added to a
    # family or to models/ and saved in model.keras must be listed there too, or old and new runs fail to load.
    import importlib
    import pkgutil

    import keras

    import textclf
    from textclf.serving.predictor import CUSTOM_OBJECTS

    for module in pkgutil.walk_packages(textclf.__path__, "textclf."):
        importlib.import_module(module.name)
    registered = {name for name, cls in keras.saving.get_custom_objects().items()
                  if name.startswith("textclf>") and isinstance(cls, type) and issubclass(cls, keras.layers.Layer)}
    assert registered == set(CUSTOM_OBJECTS)
