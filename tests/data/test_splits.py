import pandas as pd
import pytest

from textclf.data import splits
from textclf.errors import InputError


def frame(n=1000, classes=("a", "b")):
    return pd.DataFrame({"text": [f"t{i}" for i in range(n)], "label": [classes[i % len(classes)] for i in range(n)]})


def make(data, seed=0, **kw):
    return splits.make_splits(
        data, None, None, seed=seed, val_fraction=0.1, test_fraction=0.1, names=None, language="en", source="x", **kw
    )


def test_carves_80_10_10_stratified_and_disjoint():
    s = make(frame())
    assert s.sizes() == {"train": 800, "val": 100, "test": 100}
    assert set(s.train.text).isdisjoint(s.val.text) and set(s.train.text).isdisjoint(s.test.text)
    assert set(s.val.text).isdisjoint(s.test.text)
    for part in (s.train, s.val, s.test):
        assert part["label"].value_counts().tolist() == [len(part) // 2] * 2


def test_same_seed_same_split_other_seed_other_split():
    assert make(frame(), seed=1).test.text.tolist() == make(frame(), seed=1).test.text.tolist()
    assert make(frame(), seed=1).test.text.tolist() != make(frame(), seed=2).test.text.tolist()


def test_string_labels_are_indexed_in_order_and_numbers_numerically():
    assert make(frame(classes=("pos", "neg", "mid"))).class_names == ["mid", "neg", "pos"]
    assert make(frame(classes=("10", "9", "2"))).class_names == ["2", "9", "10"]


def test_known_names_and_unexpected_labels():
    data = frame(classes=("0", "1"))
    s = splits.make_splits(data, None, None, seed=0, val_fraction=0.1, test_fraction=0.1,
                           names={"0": "negative", "1": "positive"}, language="en", source="x")
    assert s.class_names == ["negative", "positive"]
    assert s.train.loc[s.train.text == "t1", "label"].item() == 1
    with pytest.raises(InputError, match="unexpected labels"):
        splits.make_splits(frame(classes=("0", "2")), None, None, seed=0, val_fraction=0.1, test_fraction=0.1,
                           names={"0": "negative", "1": "positive"}, language="en", source="x")


def test_one_class_is_an_input_error():
    with pytest.raises(InputError, match="only one class"):
        make(frame(classes=("a",)))


def test_cap_limits_every_split():
    s = splits.cap(make(frame()), 50, seed=0)
    assert s.sizes() == {"train": 50, "val": 50, "test": 50}
