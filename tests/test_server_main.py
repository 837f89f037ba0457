"""server_main.py from outside, as a user runs it: exit codes, files written, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from textclf.errors import InputError
from textclf.reporting.report import LEADING

ROOT = Path(__file__).resolve().parents[1]


def server_main(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / "server_main.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def two_device_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    done = server_main(
        "--dataset", "weibo", "--data-dir", str(ROOT / "tests" / "fixtures" / "weibo_tiny"), "--devices", "2", "--epochs", "2",
        "--batch-size", "16", "--objective", "rdrop", "--output-dir", str(out), "--cache-dir", str(out / "cache"),
    )
    return done, out


@pytest.mark.large
def test_end_to_end_under_mirrored_strategy(two_device_run):
    done, out = two_device_run
    assert done.returncode == 0, done.stderr[-2000:]
    reports = list(out.glob("training_report_*.csv"))
    assert len(reports) == 1 and done.stdout.strip() == str(reports[0])
    row = pd.read_csv(reports[0]).iloc[0]
    assert row["num_replicas"] == 2 and row["global_batch_size"] == 32
    assert row["peak_learning_rate"] == pytest.approx(1e-3 * 2**0.5)  # the shared default, scaled by sqrt(2)
    assert row["config_ema_momentum"] == 0.99  # the stacked model's weight averaging under MirroredStrategy
    assert row["config_objective"] == "rdrop"  # and R-Drop's two passes, with its BatchNorm re-estimated
    assert row["ema_momentum_per_step"] == pytest.approx(0.99**2)  # over as many examples as on one device
    assert row["dataset"] == "weibo" and row["model"] == "stacked_lstm" and row["config_tokenizer"] == "jieba"
    assert 1 <= row["best_epoch"] <= row["epochs_run"] <= 2
    predictions = pd.read_csv(Path(row["run_dir"]) / "test_predictions.csv")
    recomputed = (predictions["label"] == predictions["predicted"]).mean()
    assert row["final_test_accuracy"] == pytest.approx(recomputed)
    assert row["report_accuracy"] == pytest.approx(recomputed)
    assert row["test_size"] == 30 and row["report_positive_support"] + row["report_negative_support"] == 30


def test_report_columns_and_run_folder(two_device_run):
    _, out = two_device_run
    report = next(out.glob("training_report_*.csv"))
    columns = list(pd.read_csv(report).columns)
    assert columns[: len(LEADING)] == LEADING
    for name in ("negative", "positive", "macro_avg", "weighted_avg"):
        assert {f"report_{name}_{m}" for m in ("precision", "recall", "f1-score", "support")} <= set(columns)
    for name in ("report_accuracy", "seed", "epochs_run", "train_seconds", "train_samples_per_second"):
        assert name in columns
    run_dir = Path(pd.read_csv(report)["run_dir"].item())
    for name in ("config.json", "command.txt", "model.keras", "classes.json", "test_predictions.csv",
                 "classification_report.txt", "confusion_matrix.png", "training_curves.png", "history.csv",
                 "run.log", "saved_model/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert json.loads((run_dir / "config.json").read_text())["devices"] == 2
    assert "--devices 2" in (run_dir / "command.txt").read_text()
    assert not (run_dir / "backup").exists()  # a finished run leaves nothing to resume


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["--dataset", "missing.csv"], "missing.csv: no such file"),
        (["--model", "nosuch"], "unknown model 'nosuch'"),
        (["--data-dir", "/nonexistent"], "no such folder"),
        (["--epochs", "0"], "--epochs 0 evaluates a model without training it"),
        (["--tokenizer", "bpe"], "invalid choice"),
        (["--ema-momentum", "1"], "must be at least 0 and below 1"),
        (["--learning-rate", "-0.001"], "argument --learning-rate: must be above 0"),
        (["--learning-rate", "nan"], "argument --learning-rate: must be above 0"),
        (["--learning-rate", "inf"], "argument --learning-rate: must be above 0 and finite"),
        (["--clipnorm", "-1"], "argument --clipnorm: must be at least 0"),
        (["--vocab-size", "1"], "argument --vocab-size: must be at least 3"),
        (["--seed", "-1"], "argument --seed: must be at least 0"),
        (["--seeds", "1,-2"], "argument --seeds: must be at least 0"),
        (["--val-fraction", "0.6", "--test-fraction", "0.6"], "leave no training rows"),
        (["--embeddings", "nosuch.txt"], "embeddings file not found: nosuch.txt"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    done = server_main(*args, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "out").glob("training_report_*.csv")) if (tmp_path / "out").exists() else True


@pytest.mark.large
def test_bad_user_file_leaves_earlier_results_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "training_report_20260101_000000.csv"
    earlier.write_text("timestamp\n20260101_000000\n")
    bad = tmp_path / "one_class.csv"
    bad.write_text("label,review\n" + "1,good\n1,fine\n" * 20)
    done = server_main("--dataset", str(bad), "--output-dir", str(out))
    assert done.returncode == 2 and "only one class" in done.stderr
    assert earlier.read_text() == "timestamp\n20260101_000000\n"
    assert sorted(p.name for p in out.iterdir()) == [earlier.name]


def main_exit_code(argv: list[str]) -> int:
    """`textclf.cli.main` in this process (TensorFlow starts once for all the cases below)."""
    from textclf.cli import main

    try:
        return main(argv)
    except SystemExit as done:  # argparse's own errors
        return done.code


def write_rows(path: Path, labels: list[str]) -> Path:
    path.write_text("label,review\n" + "".join(f"{label},text number {i}\n" for i, label in enumerate(labels)))
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("five_rows", "5 rows: too few to split into train/validation/test with 2 classes (need at least 15 rows"),
        ("four_rows_one_class", "the training data holds only one class"),
        ("output_dir_is_a_file", "is a file, not a folder"),
        ("devices_99", "--devices 99: no GPU here"),
        ("experiment_fractions", "--val-fraction 0.6 and --test-fraction 0.6 leave no training rows"),
        ("model_arg_unknown", "model gru has no setting 'unitz'; its settings are embedding_dim, units, dropout"),
        ("eval_empty", "argument --eval-datasets: expected comma-separated names"),
        ("eval_unknown", "unknown dataset 'nosuch'"),
        ("eval_same_stem", "two of them would both be reported as eval_reviews_*"),
        ("eval_missing_data", "no ChnSentiCorp data"),
        ("eval_other_classes", "spam.csv: labels ['ham', 'spam'] are not among the run's classes"),
        ("max_samples_1", "--max-samples 1: too few to keep 2 classes in each split (need at least 2 rows, so that"),
        ("output_dir_in_proc", "--output-dir /proc/textclf/out: cannot make files in /proc"),
        ("output_dir_in_sys", "--output-dir /sys/kernel/textclf: no permission to write in /sys/kernel"),
        ("preset_not_json", "its config.json is not readable JSON (Expecting property name"),
        ("preset_a_json_list", "its config.json holds a JSON list, not an object"),
        ("preset_folder_missing", "no such folder; a preset folder is a Hugging Face model's or one that keras-hub's "
                                  "save_to_preset writes: benchmarks/tiny_decoder.py writes a small random decoder"),
    ],
)
def test_bad_input_is_answered_before_a_run_folder_exists(tmp_path, capsys, case, message):
    out = tmp_path / "out"
    args = {
        "five_rows": ["--dataset", str(write_rows(tmp_path / "five.csv", ["0", "1", "0", "1", "0"]))],
        "four_rows_one_class": ["--dataset", str(write_rows(tmp_path / "four.csv", ["1"] * 4))],
        "output_dir_is_a_file": ["--dataset", "weibo", "--output-dir", str(tmp_path / "file.txt" / "out")],
        "devices_99": ["--devices", "99"],
        "experiment_fractions": ["--experiment", str(tmp_path / "fractions.yaml")],
        "model_arg_unknown": ["--model", "gru,lstm", "--model-arg", "units=4", "--model-arg", "unitz=4"],
        "eval_empty": ["--eval-datasets", ","],
        "eval_unknown": ["--eval-datasets", "chnsenticorp,nosuch"],
        "eval_same_stem": ["--eval-datasets", "a/reviews.csv,b/reviews.tsv"],
        "eval_missing_data": ["--eval-datasets", "chnsenticorp"],  # not in the Weibo fixture's folder
        "eval_other_classes": ["--eval-datasets", str(write_rows(tmp_path / "spam.csv", ["spam", "ham"] * 5))],
        "max_samples_1": ["--max-samples", "1", "--class-weight", "balanced"],  # one row cannot hold both classes
        "output_dir_in_proc": ["--output-dir", "/proc/textclf/out"],  # os.access says writable; mkdir fails
        "output_dir_in_sys": ["--output-dir", "/sys/kernel/textclf"],
        "preset_not_json": ["--model", "bert", "--preset", str(tmp_path / "not_json")],
        "preset_a_json_list": ["--model", "llm", "--preset", str(tmp_path / "json_list")],
        "preset_folder_missing": ["--model", "llm", "--preset", str(tmp_path / "tiny_decoder")],
    }[case]
    for folder, config in (("not_json", "{not json"), ("json_list", "[]")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.json").write_text(config)
    (tmp_path / "fractions.yaml").write_text("matrix: {model: [lstm]}\nconfig: {val_fraction: 0.6, test_fraction: 0.6}\n")
    (tmp_path / "file.txt").write_text("not a folder")
    fixture = ["--data-dir", str(ROOT / "tests" / "fixtures" / "weibo_tiny"), "--epochs", "1", "--max-samples", "20"]
    assert main_exit_code([*fixture, "--output-dir", str(out), *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists() or not list(out.rglob("*"))  # no run_* folder, no .unfinished marker


def test_unknown_names_are_answered_before_tensorflow_sklearn_or_matplotlib_loads():
    heavy = ["tensorflow", "keras", "sklearn", "matplotlib"]  # 1 to 3 s before the answer
    check = f"import sys; from textclf.cli import main; print(main(sys.argv[1:]), *(m in sys.modules for m in {heavy}))"
    for args in (["--model", "nosuch"], ["--dataset", "nosuch"], ["--dataset", "imdb", "--model", "lstm,nosuch"],
                 ["--model", "nosuch", "--eval-datasets", "sst2,imdb"]):
        done = subprocess.run([sys.executable, "-c", check, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": "src"},
                              capture_output=True, text=True, timeout=120)
        assert done.stdout.split() == ["2", "False", "False", "False", "False"], done.stderr
        assert done.stderr.startswith("error: unknown") and len(done.stderr.splitlines()) == 1


def test_an_output_dir_without_write_permission_is_refused(tmp_path):
    from textclf.files import check_output_dir

    # Tried, not asked: os.access says yes to root anywhere, and to /sys, where nothing can be made.
    with pytest.raises(InputError, match="^--output-dir /sys/kernel/new/out: no permission to write in /sys/kernel$"):
        check_output_dir("/sys/kernel/new/out")
    check_output_dir(str(tmp_path / "new" / "out"))
    assert list(tmp_path.iterdir()) == []  # the check makes nothing


def test_help_says_the_defaults_that_their_owners_set(monkeypatch, capsys):
    """--help's defaults come from the modules that fill them in, not from copies in the help strings."""
    from textclf import cli
    from textclf.config import OBJECTIVES
    from textclf.families.encoder import DEFAULT_VIRTUAL_TOKENS
    from textclf.models import registry

    monkeypatch.setitem(registry.RUN_DEFAULTS, "fasttext", {"learning_rate": 0.25})
    monkeypatch.setitem(registry.RUN_DEFAULTS, "llm", {**registry.RUN_DEFAULTS["llm"], "prompt_template": "100% {text}"})
    monkeypatch.setitem(OBJECTIVES, "rdrop", {"rdrop_alpha": 3.5})
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "peak rate for one replica (default: 0.25 for fasttext, 5e-05 for the encoder family, 2e-05 for llm, " \
           "0.001 for the others)" in text
    assert f"(default: {DEFAULT_VIRTUAL_TOKENS} with --peft)" in text
    assert "weight of the KL term (default: 3.5)" in text
    assert "(default: '100% {text}' for llm)" in text
