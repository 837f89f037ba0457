"""predict.py: every table format in and out, empty texts, chunks and their columns, all-or-nothing output
(a failure, Ctrl-C, SIGTERM, a killed run's leftovers), and bad input as one `error:` line with exit code 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf.errors import InputError, exit_code
from textclf.files import temporary_name
from textclf.serving.batch import Explaining, parser, predict_file, read_chunks, write_predictions

ROOT = Path(__file__).resolve().parents[2]

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


@pytest.mark.large
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


def test_gb18030_past_the_first_mib_is_read_to_the_end(tmp_path):
    ascii_rows = [f"{n},plain ascii review number {n}" for n in range(40_000)]  # about 1.3 MiB
    chinese_rows = [f"{40_000 + n},今天很开心 {n}" for n in range(3)]
    path = tmp_path / "in.csv"
    path.write_bytes("\n".join(["id,text", *ascii_rows, *chinese_rows, ""]).encode("gb18030"))
    assert path.read_bytes()[:2**20].isascii()
    read = pd.concat(read_chunks(path, 4096), ignore_index=True)
    assert len(read) == 40_003
    assert read["text"].tail(3).tolist() == ["今天很开心 0", "今天很开心 1", "今天很开心 2"]


def test_json_lines_values_are_read_as_text(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "好", "id": 7, "score": 0.25, "ok": true, "tags": ["新", 1], "note": null}\n',
                    encoding="utf-8")
    row = next(read_chunks(path, 10)).iloc[0]
    assert row.drop("note").tolist() == ["好", "7", "0.25", "true", '["新", 1]'] and pd.isna(row["note"])


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


class HalfPredictor:
    class_names = ["negative", "positive"]

    def predict(self, texts):
        return np.full((len(texts), 2), 0.5, dtype=np.float32)


def test_temporary_files_of_killed_runs_are_removed_and_live_ones_kept(reviews, tmp_path):
    reviews[0].to_csv(tmp_path / "in.csv", index=False)
    output = tmp_path / "out.csv"
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    stale, live = temporary_name(output, ended.pid), temporary_name(output, os.getppid())
    for path in (stale, live):
        path.write_text("half an output\n")
    write_predictions(HalfPredictor(), read_chunks(tmp_path / "in.csv", 5), "text", output)
    assert not stale.exists() and live.read_text() == "half an output\n"
    assert len(pd.read_csv(output)) == len(reviews[0])


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
    (["--input", "{tmp}/header.csv", "--text-column", "review"], "header.csv: file has no rows"),
    (["--input", "{tmp}/mojibake.csv", "--text-column", "review"], "text is neither UTF-8 nor GB18030"),
    (["--input", "{table}", "--text-column", "review", "--explain-method", "occlusion"],
     "--explain-method and --explain-top go with --explain"),
    (["--input", "{table}", "--text-column", "review", "--explain", "--explain-top", "0"],
     "--explain-top must be at least 1, not 0"),
])
def test_bad_input_is_one_line_and_exit_2(predict_py, runs, table, tmp_path, flags, message):
    (tmp_path / "header.csv").write_text("id,review\n")
    (tmp_path / "mojibake.csv").write_bytes(b"id,review\n1,\x81\x30\xff\xff\n")
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


JSON_LINES = [  # in chunks of 2: the second chunk has another key order and a string id, the third no id
    {"review": "太好看了", "id": 1}, {"review": "差评", "id": 2},
    {"id": "c", "review": "一般般吧"}, {"id": 4, "review": "还行"},
    {"review": "不错"},
]


@pytest.mark.large
@pytest.mark.parametrize("target", [".csv", ".jsonl", ".parquet"])
def test_json_lines_chunks_keep_the_first_chunks_columns(predict_py, runs, predictors, tmp_path, target):
    source, output = tmp_path / "in.jsonl", tmp_path / f"out{target}"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in JSON_LINES), encoding="utf-8")
    done = predict_py("--run", runs["weibo"], "--input", source, "--text-column", "review", "--output", output,
                      "--chunk-size", 2)
    assert done.returncode == 0, done.stderr
    written = READERS[target](output)
    assert list(written.columns) == ["review", "id", "predicted", "p_negative", "p_positive"]
    assert written["review"].tolist() == [row["review"] for row in JSON_LINES]
    assert [str(v) if pd.notna(v) and v != "" else "" for v in written["id"]] == ["1", "2", "c", "4", ""]
    expected = predictors["weibo"].predict([row["review"] for row in JSON_LINES])
    np.testing.assert_allclose(written.filter(regex="^p_").to_numpy(dtype=float), expected, rtol=0, atol=1e-6)


@pytest.mark.large
def test_a_key_new_in_a_later_chunk_is_one_error_line_and_no_output(predict_py, runs, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"review": "好"}\n{"review": "差"}\n{"review": "好", "stars": 5}\n', encoding="utf-8")
    done = predict_py("--run", runs["weibo"], "--input", source, "--text-column", "review",
                      "--output", tmp_path / "out.parquet", "--chunk-size", 2)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {source}: line 3 has a key 'stars' ")
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


@pytest.mark.large
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda signum: signum.name)
def test_an_interrupted_run_says_so_and_leaves_nothing(runs, test_splits, tmp_path, signum):
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": test_splits["weibo"]["text"].tolist() * 300}).to_csv(source, index=False)
    child = subprocess.Popen([sys.executable, "src/predict.py", "--run", runs["weibo"], "--input", source,
                              "--text-column", "text", "--output", output, "--chunk-size", "64"],
                             cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not temporary_name(output, child.pid).exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted ({signum.name}): no output written"
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


QUOTED = ['"Unforgettable," she said', '"hello', "plain one", '"quoted whole"', 'a "middle" quote']


def test_a_tsv_is_read_literally_and_written_back_as_it_was(tmp_path):
    source = tmp_path / "in.tsv"
    source.write_text("id\ttext\n" + "".join(f"{i}\t{text}\n" for i, text in enumerate(QUOTED)), encoding="utf-8")
    rows, _ = write_predictions(HalfPredictor(), read_chunks(source, 2), "text", tmp_path / "out.tsv")
    assert rows == len(QUOTED)
    assert pd.concat(read_chunks(tmp_path / "out.tsv", 2))["text"].tolist() == QUOTED
    lines = (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[1] == f'0\t{QUOTED[0]}\tnegative\t0.5\t0.5'  # no quote added or removed


def test_a_tsv_read_as_more_rows_than_lines_writes_nothing(tmp_path):
    source = tmp_path / "in.tsv"
    source.write_bytes(b"text\ngood\rfilm\nbad film\n")  # pandas ends a row at a lone \r too
    with pytest.raises(InputError, match=r"read as 3 rows, but it has 2 lines of data"):
        write_predictions(HalfPredictor(), read_chunks(source, 2), "text", tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tsv"]


@pytest.mark.parametrize("text, row", [("tab\there", 2), ("two\nlines", 3)])
def test_a_text_a_tsv_cannot_hold_is_refused_and_nothing_written(tmp_path, text, row):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["fine"] * (row - 1) + [text]}).to_csv(source, index=False)  # the bad one in a later chunk
    with pytest.raises(InputError, match=rf"out.tsv: row {row} of column 'text' holds a tab or a line break"):
        write_predictions(HalfPredictor(), read_chunks(source, 2), "text", tmp_path / "out.tsv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize("output, message", [
    ("{tmp}/folder.csv", "folder.csv: a folder; --output names the file to write"),
    ("/proc/out.csv", "--output /proc/out.csv: cannot make files in /proc"),  # root cannot write there either
    ("/sys/kernel/out.csv", "--output /sys/kernel/out.csv: no permission to write in /sys/kernel"),
])
def test_an_output_that_cannot_be_written_is_one_line_before_the_run_is_loaded(table, tmp_path, capsys, output,
                                                                              message):
    (tmp_path / "folder.csv").mkdir()
    args = parser().parse_args(["--run", str(tmp_path / "no_run"), "--input", str(table), "--text-column", "review",
                                "--output", output.format(tmp=tmp_path), "--overwrite"])
    assert exit_code(predict_file, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert (tmp_path / "folder.csv").is_dir() and not list((tmp_path / "folder.csv").iterdir())


def test_a_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as done:
        parser().parse_args(["--input", "in.csv", "--text-column", "t", "--output", "o.csv", "--chunk-size", "abc"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "--chunk-size" in err


@pytest.mark.large
def test_explain_adds_the_top_words_of_each_predicted_class(predictors, reviews, tmp_path):
    frame, expected = reviews
    frame = pd.concat([frame, pd.DataFrame({"id": [len(frame)], "text": [""]})], ignore_index=True)
    frame.to_csv(tmp_path / "in.csv", index=False)
    write_predictions(predictors["weibo"], read_chunks(tmp_path / "in.csv", 7), "text", tmp_path / "out.csv",
                      Explaining("occlusion", top=3))
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype={"text": str})
    assert list(written.columns) == ["id", "text", "predicted", "p_negative", "p_positive", "explanation"]
    assert written["explanation"].iloc[-1] == ""  # an empty text: no prediction, no explanation
    for _, row in written.iloc[:-1].iterrows():
        explanation = json.loads(row["explanation"])
        assert explanation["class"] == row["predicted"] and explanation["method"] == "occlusion"
        assert len(explanation["tokens"]) <= 3
        scores = [token["score"] for token in explanation["tokens"]]
        assert scores == sorted(scores, reverse=True) and all(score > 0 for score in scores)
        assert all(token["token"] in row["text"].lower() for token in explanation["tokens"])
