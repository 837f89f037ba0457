"""The page's examples: one test text per class of the run, short ones first, none from a file that is not there."""

from pathlib import Path

import pandas as pd

from textclf.serving.examples import EXAMPLE_CHARS, examples

LONG = "a long review " * 40


def _run(tmp_path: Path, rows) -> Path:
    pd.DataFrame(rows, columns=["text", "label", "predicted"]).to_csv(tmp_path / "test_predictions.csv", index=False)
    return tmp_path


def test_one_short_text_per_class_in_the_runs_order(tmp_path):
    rows = [("good", "positive", "positive"), (LONG, "negative", "negative"), ("bad", "negative", "positive"),
            ("great", "positive", "positive"), ("  ", "neutral", "neutral"), ("fine", "neutral", "negative")]
    chosen = examples(_run(tmp_path, rows), ["negative", "neutral", "positive"])
    assert [e["label"] for e in chosen] == ["negative", "neutral", "positive"]
    assert chosen[0]["text"] == "bad" and chosen[1]["text"] == "fine" and chosen[2]["text"] in {"good", "great"}
    assert chosen == examples(tmp_path, ["negative", "neutral", "positive"])  # seeded: the same each time


def test_a_class_with_only_long_texts_offers_its_shortest(tmp_path):
    rows = [(LONG + "!", "negative", "negative"), (LONG, "negative", "negative"), ("good", "positive", "positive")]
    chosen = examples(_run(tmp_path, rows), ["negative", "positive"])
    assert chosen[0] == {"text": LONG, "label": "negative"} and len(LONG) > EXAMPLE_CHARS


def test_a_class_without_test_texts_is_left_out(tmp_path):
    assert examples(_run(tmp_path, [("good", "positive", "positive")]), ["negative", "positive"]) == [
        {"text": "good", "label": "positive"}]


def test_no_examples_without_a_readable_test_predictions_csv(tmp_path):
    assert examples(tmp_path, ["negative", "positive"]) == []
    (tmp_path / "test_predictions.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert examples(tmp_path, ["negative", "positive"]) == []
    (tmp_path / "test_predictions.csv").write_text("id,score\n1,2\n")
    assert examples(tmp_path, ["negative", "positive"]) == []
