import pandas as pd
import pytest

from textclf.config import RunConfig
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


def test_for_run_splits_with_the_runs_seed_and_fractions():
    config = RunConfig(seed=7, val_fraction=0.2, test_fraction=0.15)
    given = make(frame(), seed=7).test
    s = splits.for_run(config, frame(), names=None, language="en", source="x")
    expected = splits.make_splits(frame(), None, None, seed=7, val_fraction=0.2, test_fraction=0.15, names=None,
                                  language="en", source="x")
    assert splits.data_fingerprint(s) == splits.data_fingerprint(expected)
    assert s.sizes() == {"train": 650, "val": 200, "test": 150}
    kept = splits.for_run(config, frame(), test=given, names=None, language="en", source="x")
    assert kept.test.text.tolist() == given.text.tolist() and kept.sizes()["val"] == 200

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


def test_numeric_labels_are_compared_as_numbers():
    data = frame(60, classes=("1", " 01", "1.0", "2", "2.00", "10"))
    s = make(data)
    assert s.class_names == ["1", "2", "10"]
    assert sorted(pd.concat([s.train, s.val, s.test])["label"].value_counts().tolist()) == [10, 20, 30]


def test_known_names_accept_any_spelling_of_their_numbers():
    s = splits.make_splits(frame(classes=("0.0", "1")), None, None, seed=0, val_fraction=0.1, test_fraction=0.1,
                           names={"0": "negative", "1": "positive"}, language="en", source="x")
    assert s.class_names == ["negative", "positive"] and s.train.loc[s.train.text == "t0", "label"].item() == 0


def test_labels_that_differ_only_by_case_stay_apart_with_a_warning(log_lines):
    s = make(frame(classes=("pos", "POS ", "neg")))
    assert s.class_names == ["POS", "neg", "pos"]
    assert len([line for line in log_lines if "differ only by case" in line and "POS/pos" in line]) == 1


def test_mixed_text_and_numbers_stay_text():
    assert make(frame(classes=("1", "01", "x"))).class_names == ["01", "1", "x"]
    assert make(frame(classes=("1", "1e999999999"))).class_names == ["1", "1e999999999"]  # not a class number


def test_one_class_fails_before_splitting_even_when_tiny():
    with pytest.raises(InputError, match="only one class"):
        make(frame(4, classes=("a",)))


@pytest.mark.parametrize("rows, classes", [(5, ("a", "b")), (14, ("a", "b")), (20, ("a", "b", "c"))])
def test_too_few_rows_to_split_names_the_minimum(rows, classes):
    with pytest.raises(InputError, match=rf"{rows} rows: too few to split .*need at least (\d+) rows") as error:
        make(frame(rows, classes=classes))
    needed = int(str(error.value).split("need at least ")[1].split()[0])
    s = make(frame(needed, classes=classes))  # the named minimum is enough: every split holds every class
    assert all(set(part["label"]) == set(range(len(classes))) for part in (s.train, s.val, s.test))
    with pytest.raises(InputError, match="too few"):
        make(frame(needed - 1, classes=classes))


def test_a_given_test_split_only_needs_rows_for_validation():
    given_test = frame(4)
    s = splits.make_splits(frame(20), None, given_test, seed=0, val_fraction=0.1, test_fraction=0.1, names=None,
                           language="en", source="x")
    assert s.sizes() == {"train": 18, "val": 2, "test": 4}
    with pytest.raises(InputError, match="14 rows: too few .* this gives 13 train, 1 validation"):
        splits.make_splits(frame(14), None, given_test, seed=0, val_fraction=0.1, test_fraction=0.1, names=None,
                           language="en", source="x")


def test_cap_below_the_number_of_classes_is_refused_with_the_minimum():
    data = make(frame(n=90, classes=("a", "b", "c")))
    with pytest.raises(InputError, match=r"^--max-samples 2: too few to keep 3 classes in each split \(need at least "
                                         r"3 rows, so that each split holds every class\)$"):
        splits.cap(data, 2, seed=0)


def test_cap_keeps_every_class_of_a_split_and_the_rows_of_a_sample_that_holds_them():
    skewed = pd.DataFrame({"text": [f"t{i}" for i in range(200)], "label": [1] + [0] * 199})
    data = splits.Splits(skewed, skewed, skewed, ["negative", "positive"], "en")
    assert skewed.sample(5, random_state=0)["label"].nunique() == 1  # a random 5 lose the rare class
    capped = splits.cap(data, 5, seed=0)
    for part in (capped.train, capped.val, capped.test):
        assert len(part) == 5 and sorted(part["label"].unique()) == [0, 1] and part["text"].is_unique
    assert capped.train["text"].tolist() == splits.cap(data, 5, seed=0).train["text"].tolist()  # seeded
    balanced = make(frame(n=1000))
    kept = splits.cap(balanced, 50, seed=3)
    assert kept.train.equals(balanced.train.sample(50, random_state=3))  # as before: the same data fingerprint
