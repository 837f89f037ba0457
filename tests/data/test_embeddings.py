import gzip

import numpy as np
import pytest

from textclf.data.embeddings import INIT_SCALE, load_vectors
from textclf.errors import InputError

VOCABULARY = ["", "[UNK]", "the", "cat", "zebra", "sat"]
LINES = ["the 1 2 3", "dog 7 8 9", "cat 4 5 6.5", "the 0 0 0"]  # "dog" is not ours; the second "the" is ignored


def write(path, lines):
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["glove.txt", "glove.txt.gz", "word2vec.txt", "word2vec.txt.gz"])
def test_reads_glove_and_word2vec_text(tmp_path, name):
    header = ["4 3"] if name.startswith("word2vec") else []
    matrix, coverage = load_vectors(write(tmp_path / name, header + LINES), VOCABULARY)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    assert coverage == pytest.approx(2 / 4)  # "the" and "cat" of the, cat, zebra, sat
    assert np.array_equal(matrix[0], np.zeros(3))
    assert np.array_equal(matrix[2], [1, 2, 3]) and np.array_equal(matrix[3], [4, 5, 6.5])
    missing = matrix[[1, 4, 5]]
    assert np.all(np.abs(missing) <= INIT_SCALE) and np.all(missing != 0)


def test_random_rows_are_seeded(tmp_path):
    path = write(tmp_path / "v.txt", LINES)
    assert np.array_equal(load_vectors(path, VOCABULARY)[0], load_vectors(path, VOCABULARY)[0])
    assert not np.array_equal(load_vectors(path, VOCABULARY)[0], load_vectors(path, VOCABULARY, seed=1)[0])


def test_skips_blank_lines_and_words_with_spaces(tmp_path):
    path = write(tmp_path / "v.txt", ["the 1 2 3", "", "at home 1 2 3", "cat 4 5 6"])
    assert load_vectors(path, VOCABULARY)[1] == pytest.approx(2 / 4)


@pytest.mark.parametrize(
    "lines, message",
    [
        (["the 1 2 3", "cat 4 5"], "line 2: expected a word and 3 numbers, got 2"),
        (["the 1 2 3", "cat 4 5 6 7"], "line 2: expected a word and 3 numbers, got 4"),
        (["2 3", "the 1 2"], "line 2: expected a word and 3 numbers, got 2"),
        (["the 1 2 3", "cat 4 x 6"], "line 2: the vector has a value that is not a number"),
        (["the"], "line 1: neither a 'count dim' header"),
        ([""], "is empty"),
    ],
)
def test_bad_files(tmp_path, lines, message):
    with pytest.raises(InputError, match=message):
        load_vectors(write(tmp_path / "v.txt", lines), VOCABULARY)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="embeddings file not found"):
        load_vectors(tmp_path / "nope.txt", VOCABULARY)


def test_binary_file(tmp_path):
    (tmp_path / "v.txt.gz").write_bytes(b"\x00\xffnot gzip")
    with pytest.raises(InputError, match="not a readable text vectors file"):
        load_vectors(tmp_path / "v.txt.gz", VOCABULARY)
    (tmp_path / "v.bin").write_bytes(b"2 3\nthe \xff\xfe\x00\x01")
    with pytest.raises(InputError, match="not a readable text vectors file"):
        load_vectors(tmp_path / "v.bin", VOCABULARY)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e39"])
def test_a_vector_holding_nan_or_inf_names_the_word(tmp_path, value):
    path = write(tmp_path / "v.txt", ["the 1 2 3", "dog nan nan nan", f"cat 4 {value} 6"])  # dog is not ours
    with pytest.raises(InputError, match=r"line 3: the vector of 'cat' holds nan or inf"):
        load_vectors(path, VOCABULARY)
