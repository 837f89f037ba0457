"""Cross-dataset evaluation: evaluate.py on another dataset and on a user's file, and --eval-datasets in the
training report, all through the exported model as served."""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf import evaluation
from textclf.data import run_data
from textclf.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def evaluate(capsys, *args) -> tuple[int, str, str]:
    """evaluate.py's main in this process: (exit code, stdout, stderr)."""
    try:
        code = evaluation.main([str(arg) for arg in args])
    except SystemExit as done:  # argparse's own errors
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


def only_row(path: Path) -> dict:
    frame = pd.read_csv(path)
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_a_run_is_scored_on_another_datasets_test_split_as_its_served_predictions_say(runs, predictors, capsys):
    code, out, _ = evaluate(capsys, "--run", runs["weibo"], "--dataset", "chnsenticorp")
    assert code == 0
    row = only_row(Path(out.strip()))
    eval_dir = Path(row["eval_dir"])
    written = pd.read_csv(eval_dir / "predictions.csv", dtype={"text": str})
    test = pd.read_csv(ROOT / "tests" / "fixtures" / "chnsenticorp_tiny" / "test.csv", dtype={"text": str})
    served = predictors["weibo"].predict(written["text"].tolist())
    np.testing.assert_allclose(written[["p_negative", "p_positive"]].to_numpy(), served, atol=1e-6)
    assert sorted(written["text"]) == sorted(test["text"])
    assert (written["label"] == written["text"].map(dict(zip(test["text"], test["label"])))
            .map({0: "negative", 1: "positive"})).all()
    accuracy = (written["label"] == np.array(["negative", "positive"])[served.argmax(axis=1)]).mean()
    assert row["eval_accuracy"] == pytest.approx(accuracy)
    assert (row["train_dataset"], row["eval_dataset"], row["eval_split"], row["eval_rows"]) == (
        "weibo", "chnsenticorp", "test", len(test))
    assert row["seen_in_training"] == 0
    training = only_row(next(runs["weibo"].parent.glob("training_report_*.csv")))
    assert row["run_test_accuracy"] == training["final_test_accuracy"]
    # --eval-datasets in training gave the same figures, through the same exported model
    assert row["eval_accuracy"] == pytest.approx(training["eval_chnsenticorp_accuracy"])
    assert row["report_macro_avg_f1-score"] == pytest.approx(training["eval_chnsenticorp_macro_f1"])
    assert (training["eval_chnsenticorp_rows"], training["eval_chnsenticorp_seen_in_training"]) == (len(test), 0)
    in_training = pd.read_csv(runs["weibo"] / "eval_chnsenticorp_predictions.csv", dtype={"text": str})
    pd.testing.assert_frame_equal(in_training.sort_values("text", ignore_index=True),
                                  written.sort_values("text", ignore_index=True), atol=1e-6)
    assert {"classification_report.txt", "confusion_matrix.png", "command.txt"} <= {p.name for p in eval_dir.iterdir()}


def test_explain_errors_shades_the_most_confident_errors_and_top_tokens_cover_the_texts(runs, predictors, capsys):
    code, out, _ = evaluate(capsys, "--run", runs["weibo"], "--dataset", "chnsenticorp", "--explain-errors", "3")
    assert code == 0
    eval_dir = Path(only_row(Path(out.strip()))["eval_dir"])
    written = pd.read_csv(eval_dir / "predictions.csv", dtype={"text": str})
    wrong = written[written["label"] != written["predicted"]]
    expected = wrong.loc[wrong[["p_negative", "p_positive"]].max(axis=1).sort_values(ascending=False).index[:3]]
    assert len(expected) == 3  # the tiny run errs on more than 3 of ChnSentiCorp's texts
    page = (eval_dir / "errors.html").read_text(encoding="utf-8")
    verdicts = re.findall(r'<b class="predicted">(\w+)</b> \(([\d.]+)%\), true label <b class="label">(\w+)</b>', page)
    assert verdicts == [(row.predicted, f"{100 * max(row.p_negative, row.p_positive):.1f}", row.label)
                        for row in expected.itertuples()]
    blocks = page.split('<div class="error">')[1:]
    targets = [predictors["weibo"].class_names.index(name) for name in expected["predicted"]]
    for block, explanation in zip(blocks, predictors["weibo"].explain(expected["text"].tolist(), targets)):
        words = re.findall(r'data-score="([^"]+)"[^>]*style="background-color: rgba\(([^)]+)\)">([^<]*)</span>',
                           block)
        assert [html.unescape(word) for _, _, word in words] == explanation.words
        assert [float(score) for score, _, _ in words] == pytest.approx(explanation.scores, abs=1e-6)
        strongest = max(words, key=lambda w: abs(float(w[0])))
        assert strongest[1].endswith(", 0.750") and strongest[1].startswith("26, 127, 55" if float(strongest[0]) > 0
                                                                             else "207, 34, 46")
    top = pd.read_csv(eval_dir / "top_tokens.csv", keep_default_na=False)
    assert list(top.columns) == ["class", "token", "score", "count"] and set(top["class"]) <= {"negative", "positive"}
    assert (eval_dir / "top_tokens.png").is_file()


def test_a_users_file_is_evaluated_whole_with_its_labels_renamed(runs, tmp_path, capsys):
    weibo = pd.read_csv(ROOT / "tests" / "fixtures" / "weibo_tiny" / "weibo_senti_100k_test_split.csv", dtype=str)
    assert weibo["review"].is_unique  # so that "seen in training" counts rows
    tested = set(pd.read_csv(runs["weibo"] / "test_predictions.csv", dtype={"text": str})["text"])
    path = tmp_path / "mine.csv"
    weibo.rename(columns={"review": "body", "label": "stars"}).to_csv(path, index=False)

    code, _, err = evaluate(capsys, "--run", runs["weibo"], "--dataset", path, "--text-column", "body",
                            "--label-column", "stars")
    assert code == 2 and err.count("\n") == 1
    assert "labels ['0', '1'] are not among the run's classes ['negative', 'positive']" in err
    assert "--label-map 0=negative" in err

    code, out, _ = evaluate(capsys, "--run", runs["weibo"], "--dataset", path, "--text-column", "body",
                            "--label-column", "stars", "--label-map", "0=negative,1=positive")
    assert code == 0
    row = only_row(Path(out.strip()))
    assert (row["eval_split"], row["eval_rows"]) == ("all", len(weibo))
    assert row["seen_in_training"] == len(weibo) - len(tested)  # all but the run's test split
    written = pd.read_csv(Path(row["eval_dir"]) / "predictions.csv", dtype={"text": str})
    assert (written["label"] == weibo["label"].map({"0": "negative", "1": "positive"})).all()


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--dataset", "chnsenticorp", "--label-map", "0=negative,2=positive"], "--label-map renames ['0', '2']"),
    (["--dataset", "chnsenticorp", "--label-map", "0"], "expected LABEL=CLASS pairs"),
    (["--dataset", "r8"], "no R8 data"),
    (["--dataset", "chnsenticorp", "--explain-errors", "-1"], "must be at least 0, got -1"),
])
def test_bad_input_is_one_line_and_exit_code_2(runs, capsys, args, message):
    before = sorted(runs["weibo"].parent.iterdir())
    code, _, err = evaluate(capsys, "--run", runs["weibo"], *args)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert sorted(runs["weibo"].parent.iterdir()) == before


def test_classes_are_matched_by_name_whatever_their_order():
    eval_set = run_data.EvalSet("x", "x.csv", "all", ["a", "b", "c"], ["pos", "neg", "pos"])
    assert run_data.class_indices(eval_set, ["neg", "neutral", "pos"]).tolist() == [2, 0, 2]
    renamed = run_data.class_indices(eval_set, ["bad", "good"], {"pos": "good", "neg": "bad"})
    assert renamed.tolist() == [1, 0, 1]
    with pytest.raises(InputError, match=r"labels \['pos'\] are not among"):
        run_data.class_indices(eval_set, ["bad", "good"], {"neg": "bad"})


@pytest.mark.parametrize("dataset, name", [("online_shopping", "online_shopping"),
                                           ("data/my-reviews.v2.csv.gz", "my_reviews"), ("./评论.csv", "评论"), ("-.csv", "file")])
def test_a_datasets_name_in_report_columns(dataset, name):
    assert run_data.set_name(dataset) == name


def test_a_renamed_run_folder_is_one_line_and_leaves_nothing(runs, tmp_path, capsys):
    renamed = tmp_path / "weibo_best"  # was run_<stamp>: no report can be found by its name
    shutil.copytree(runs["weibo"], renamed)
    code, _, err = evaluate(capsys, "--run", renamed, "--dataset", "chnsenticorp")
    assert code == 2 and err.count("\n") == 1 and f"error: {renamed}: not named as a run folder" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["weibo_best"]


def test_a_run_whose_folder_cannot_be_written_in_is_one_line_before_the_work(runs, tmp_path):
    """The run's parent is mounted read-only in a mount namespace of the child's own: root may write anywhere else."""
    run_dir = tmp_path / "out" / runs["weibo"].name
    shutil.copytree(runs["weibo"], run_dir)
    mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    done = subprocess.run(["unshare", "-m", "sh", "-c", mount, str(run_dir.parent), sys.executable, "src/evaluate.py",
                           "--run", str(run_dir), "--dataset", "chnsenticorp"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 2 and ("mount:" in done.stderr or "unshare:" in done.stderr):
        pytest.skip(f"cannot mount a folder read-only here: {done.stderr.strip()}")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == (f"error: {run_dir}: the evaluation is written beside it: cannot make files in "
                           f"{run_dir.parent} (Read-only file system)\n")
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]
