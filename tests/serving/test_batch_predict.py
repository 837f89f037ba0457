"""predict.py: every table format in and out, empty texts, chunks, all-or-nothing output, and
bad input as one `error:` line with exit code 2."""

import numpy as np
import pandas as pd
import pytest

from textclf.serving.batch import read_chunks, write_predictions

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".tsv.gz": lambda frame, path: frame.to_csv(path, sep="\t", index=False, compression="gzip"),
    ".jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
}
READERS = {
    ".csv": lambda path: pd.read_csv(path, keep_default_na=False, dtype={"text": str}),
    ".tsv": lambda path: pd.read_csv(path, sep="\t", keep_default_na=False, dtype={"text": str}),
    ".jsonl": lambda path: pd.read_json(path, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}


@pytest.fixture(scope="module")
def reviews(test_splits) -> pd.DataFrame:
    """Chinese test texts with an id column to carry through, and the probabilities training gave them."""
    frame = test_splits["weibo"]
    return pd.DataFrame({"id": range(len(frame)), "text": frame["text"]}), frame.filter(regex="^p_").to_numpy()


def predict(predictors, source, output, chunk_size=7):
    return write_predictions(predictors["weibo"], read_chunks(source, chunk_size), "text", output)


@pytest.mark.parametrize("source, target", [(".csv", ".csv"), (".tsv.gz", ".tsv"), (".jsonl", ".parquet"),
                                            (".parquet", ".jsonl")])
def test_formats_in_and_out_keep_every_row_and_column(predictors, reviews, tmp_path, source, target):
    frame, expected = reviews
    WRITERS[source](frame, tmp_path / f"in{source}")
    rows, empty = predict(predictors, tmp_path / f"in{source}", tmp_path / f"out{target}")
    written = READERS[target](tmp_path / f"out{target}")
    assert (rows, empty) == (len(frame), 0)
    assert list(written.columns) == ["id", "text", "predicted", "p_negative", "p_positive"]
    assert written["id"].astype(int).tolist() == frame["id"].tolist()
    assert written["text"].tolist() == frame["text"].tolist()
    np.testing.assert_allclose(written.filter(regex="^p_").to_numpy(dtype=float), expected, rtol=0, atol=1e-6)
    assert (written["predicted"] == np.where(expected[:, 1] > expected[:, 0], "positive", "negative")).all()


def test_gb18030_input_is_read(predictors, reviews, tmp_path):
    frame, expected = reviews
    frame.to_csv(tmp_path / "in.csv", index=False, encoding="gb18030")
    predict(predictors, tmp_path / "in.csv", tmp_path / "out.csv")
    np.testing.assert_allclose(READERS[".csv"](tmp_path / "out.csv").filter(regex="^p_"), expected, rtol=0, atol=1e-6)


def test_empty_and_missing_texts_are_kept_without_a_prediction(predictors, tmp_path):
    pd.DataFrame({"text": ["太好看了", "", "   ", None, "差评"]}).to_json(tmp_path / "in.jsonl", orient="records",
                                                                          lines=True, force_ascii=False)
    rows, empty = predict(predictors, tmp_path / "in.jsonl", tmp_path / "out.csv", chunk_size=2)
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert (rows, empty) == (5, 3)
    assert [bool(label) for label in written["predicted"]] == [True, False, False, False, True]
    assert written.loc[1:3, ["p_negative", "p_positive"]].eq("").all().all()


class FailingPredictor:
    """Answers the first chunk, then fails, as a run killed halfway would."""

    class_names = ["negative", "positive"]

    def __init__(self):
        self.calls = 0

    def predict(self, texts):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("killed halfway")
        return np.full((len(texts), 2), 0.5, dtype=np.float32)


def test_a_failed_run_leaves_no_half_file_and_keeps_the_earlier_output(reviews, tmp_path):
    reviews[0].to_csv(tmp_path / "in.csv", index=False)
    earlier = tmp_path / "out.csv"
    earlier.write_text("an earlier output\n")
    with pytest.raises(RuntimeError, match="killed halfway"):
        write_predictions(FailingPredictor(), read_chunks(tmp_path / "in.csv", 5), "text", earlier)
    assert earlier.read_text() == "an earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("id,review\n1,很好\n2,不好\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("flags, message", [
    (["--input", "{tmp}/nope.csv", "--text-column", "review"], "nope.csv: no such file"),
    (["--input", "{table}", "--text-column", "text"], "no column 'text'; columns are ['id', 'review']"),
    (["--input", "{table}", "--text-column", "review", "--run", "{tmp}"], "not a finished run folder (no model.keras)"),
    (["--input", "{tmp}/in.xlsx", "--text-column", "review"], "unknown table format '.xlsx'"),
])
def test_bad_input_is_one_line_and_exit_2(predict_py, runs, table, tmp_path, flags, message):
    flags = [flag.format(tmp=tmp_path, table=table) for flag in flags]
    done = predict_py("--run", runs["weibo"], *flags, "--output", tmp_path / "out.csv")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: ")
    assert message in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_an_existing_output_is_refused_without_overwrite(predict_py, runs, table, tmp_path):
    earlier = tmp_path / "out.csv"
    earlier.write_text("an earlier output\n")
    done = predict_py("--run", runs["weibo"], "--input", table, "--text-column", "review", "--output", earlier)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {earlier}: already exists; pass --overwrite to replace it"
    assert earlier.read_text() == "an earlier output\n"
