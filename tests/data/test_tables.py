import gzip
import io
import zipfile

import pandas as pd
import pytest

from textclf.data import tables
from textclf.errors import InputError


def test_reads_csv_and_guesses_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,review,sentiment\n1,good film,pos\n2,bad film,neg\n", encoding="utf-8")
    frame = tables.load_labelled(path)
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == ["good film", "bad film"]
    assert frame["label"].tolist() == ["pos", "neg"]


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet", ".csv.gz"])
def test_reads_every_format(tmp_path, suffix):
    frame = pd.DataFrame({"body": ["a b", "c d", "e f"], "y": [0, 1, 2]})
    path = tmp_path / f"data{suffix}"
    if suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    loaded = tables.load_labelled(path, "body", "y")
    assert loaded["text"].tolist() == ["a b", "c d", "e f"]
    assert [str(v) for v in loaded["label"]] == ["0", "1", "2"]


def test_gb18030_is_decoded(tmp_path):
    path = tmp_path / "zh.csv"
    path.write_bytes("label,review\n1,今天很开心\n0,太难过了\n".encode("gb18030"))
    assert tables.load_labelled(path)["text"].tolist() == ["今天很开心", "太难过了"]


@pytest.mark.parametrize("content, written_as, read_as", [
    ("review\n" + "fine\n" * 20 + "今天很开心\n", "gb18030", "gb18030"),  # GB18030 only many blocks in
    ("review\n今天很开心\n太难过了\n", "utf-8", "utf-8-sig"),  # block edges cut UTF-8 characters
])
def test_the_encoding_is_decided_over_every_block(monkeypatch, content, written_as, read_as):
    monkeypatch.setattr(tables, "BLOCK_BYTES", 4)
    raw = content.encode(written_as)
    assert tables.text_encoding(lambda: io.BytesIO(raw), tables.Path("f.csv")) == read_as


def test_undecodable_text_is_an_input_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"label,review\n1,\x81\x30\xff\xff\n")
    with pytest.raises(InputError, match="neither UTF-8 nor GB18030"):
        tables.load_labelled(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("label,review\n", "no rows"),
        ("label,comment_text\n1,x\n", "cannot guess the text column"),
        ("label,review\n1,\n,x\n", "no row has both"),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        tables.load_labelled(path)


def test_named_column_missing(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("label,review\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text column 'body'"):
        tables.load_labelled(path, text_column="body")


def test_missing_file():
    with pytest.raises(InputError, match="no such file"):
        tables.load_labelled(tables.Path("/nonexistent/x.csv"))


def test_empty_rows_are_dropped_and_counted(tmp_path, log_lines):
    path = tmp_path / "f.csv"
    path.write_text("label,review\n1,good\n0,   \n,orphan\n0,bad\n", encoding="utf-8")
    frame = tables.load_labelled(path)
    assert frame["text"].tolist() == ["good", "bad"]
    assert any("dropped 2 rows" in line for line in log_lines)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_spelling_of_a_missing_label_drops_its_row(tmp_path, log_lines, suffix):
    missing = ["nan", "NaN", "NA", "n/a", " null ", "None", "", "  "]
    labels = [*missing, "pos", "none x", None]
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "label": labels})
    path = tmp_path / f"f{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_json(path, orient="records", lines=True)
    assert tables.load_labelled(path)["label"].tolist() == ["pos", "none x"]
    assert any("dropped 9 rows: 0 with an empty text, 9 with a missing label" in line for line in log_lines)


def test_reads_a_one_file_zip_by_its_member_name(tmp_path):
    path = tmp_path / "reviews.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("reviews.tsv", "review\tlabel\ngood film\t1\nbad film\t0\n")
    assert tables.load_labelled(path)["text"].tolist() == ["good film", "bad film"]


def test_a_zip_of_several_files_is_an_input_error(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "review,label\nx,1\n")
        archive.writestr("b.csv", "review,label\ny,0\n")
    with pytest.raises(InputError, match="exactly one table; this one holds 2 files"):
        tables.load_labelled(path)


def test_a_broken_zip_is_an_input_error(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be read as a table"):
        tables.load_labelled(path)


# Texts that CSV quoting would merge or strip: one opens a quote it never closes, one is quoted whole.
QUOTED_TEXTS = ['"Unforgettable," she said', '"hello', "plain one", '"quoted whole"', 'a "middle" quote']


@pytest.mark.parametrize("suffix, newline", [(".tsv", "\n"), (".tsv", "\r\n"), (".txt", "\n"), (".tsv.gz", "\n")])
def test_a_tsv_is_read_literally_one_row_a_line(tmp_path, suffix, newline):
    lines = ["text\tlabel", *(f"{text}\t{i % 2}" for i, text in enumerate(QUOTED_TEXTS))]
    lines.insert(3, "")  # a blank line in the middle holds no row
    content = (newline.join(lines) + newline + newline).encode()  # and so does a trailing empty line
    path = tmp_path / f"quoted{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    frame = tables.load_labelled(path)
    assert frame["text"].tolist() == QUOTED_TEXTS
    assert frame["label"].tolist() == ["0", "1", "0", "1", "0"]


def test_a_headerless_txt_is_read_literally(tmp_path):
    path = tmp_path / "r8-train-all-terms.txt"  # R8's layout: label<TAB>text, no header
    path.write_text('earn\t"profit up\ngrain\twheat"\nearn\t"net" loss\n', encoding="utf-8")
    frame = tables.load_labelled(path, "text", "label", header=None, names=["label", "text"])
    assert frame["text"].tolist() == ['"profit up', 'wheat"', '"net" loss']


def test_a_tsv_that_reads_as_more_rows_than_lines_is_an_input_error(tmp_path):
    path = tmp_path / "cr.tsv"
    path.write_bytes(b"text\tlabel\ngood\rfilm\t1\nbad film\t0\n")  # pandas ends a row at a lone \r too
    with pytest.raises(InputError, match=rf"^{path}: read as 3 rows, but it has 2 lines of data"):
        tables.load_labelled(path)
