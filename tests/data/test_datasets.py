import dataclasses
import functools
import hashlib
import http.server
import shutil
import tarfile
import threading

import pandas as pd
import pytest

from textclf.config import RunConfig
from textclf.data import chnsenticorp, imdb, online_shopping, r8, registry, sst2, union, weibo
from textclf.errors import InputError


def test_unknown_dataset_name():
    with pytest.raises(InputError, match="unknown dataset 'imbd'"):
        registry.spec_for("imbd")


def test_weibo_from_its_folder_under_a_root(tmp_path, fixtures):
    (tmp_path / "weibo_senti_100k_subset").mkdir()
    shutil.copy(fixtures / "weibo_tiny" / "weibo_senti_100k_test_split.csv", tmp_path / "weibo_senti_100k_subset" / "weibo_senti_100k_test_split.csv")
    s = weibo.load(RunConfig(data_dir=str(tmp_path)))
    assert s.class_names == ["negative", "positive"] and s.language == "zh"
    assert sum(s.sizes().values()) == 300
    assert s.sizes()["test"] == 30 and s.sizes()["val"] == 30


def test_weibo_prefers_the_full_file_over_the_embedded_sample(tmp_path, fixtures):
    shutil.copy(fixtures / "weibo_tiny" / "weibo_senti_100k_test_split.csv", tmp_path / weibo.EMBEDDED.removesuffix(".gz"))
    (tmp_path / weibo.EMBEDDED).write_bytes(b"")  # would fail if it were read
    shutil.copy(fixtures / "weibo_tiny" / "weibo_senti_100k_test_split.csv", tmp_path / "all_utf8.csv")
    assert sum(weibo.load(RunConfig(data_dir=str(tmp_path))).sizes().values()) == 300


def test_weibo_missing(tmp_path):
    with pytest.raises(InputError, match="no Weibo CSV found"):
        weibo.load(RunConfig(data_dir=str(tmp_path)))
    with pytest.raises(InputError, match="no such folder"):
        weibo.load(RunConfig(data_dir=str(tmp_path / "nope")))


@pytest.mark.parametrize("layout", ["imdb_tiny", "imdb_csv_tiny"])
def test_imdb_both_layouts_keep_the_official_test(fixtures, layout):
    s = imdb.load(RunConfig(dataset="imdb", data_dir=str(fixtures / layout)))
    assert s.sizes() == {"train": 36, "val": 4, "test": 40}
    assert s.test["label"].value_counts().to_dict() == {1: 20, 0: 20}


def test_imdb_folder_and_csv_layouts_agree(fixtures):
    a = imdb.load(RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_tiny")))
    b = imdb.load(RunConfig(dataset="imdb", data_dir=str(fixtures / "imdb_csv_tiny")))
    assert sorted(a.test.text) == sorted(b.test.text)


@pytest.fixture
def archive_server(tmp_path, fixtures):
    """Serves a tiny aclImdb_v1.tar.gz from a local HTTP server."""
    served = tmp_path / "served"
    served.mkdir()
    archive = served / imdb.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(fixtures / "imdb_tiny" / "aclImdb", arcname="aclImdb")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{imdb.ARCHIVE}", hashlib.sha256(archive.read_bytes()).hexdigest()
    server.shutdown()


def test_imdb_downloads_verifies_and_caches(tmp_path, archive_server, monkeypatch):
    url, sha = archive_server
    monkeypatch.setattr(imdb, "URL", url)
    monkeypatch.setattr(imdb, "SHA256", sha)
    data_dir = tmp_path / "input"
    data_dir.mkdir()
    s = imdb.load(RunConfig(dataset="imdb", data_dir=str(data_dir)))
    assert s.sizes()["test"] == 40
    assert (data_dir / "imdb" / imdb.ARCHIVE).is_file()
    monkeypatch.setattr(imdb, "URL", "http://127.0.0.1:9/unreachable")  # the cache must answer now
    assert imdb.load(RunConfig(dataset="imdb", data_dir=str(data_dir))).sizes()["test"] == 40


def test_imdb_download_with_a_wrong_checksum_fails_cleanly(tmp_path, archive_server, monkeypatch):
    url, _ = archive_server
    monkeypatch.setattr(imdb, "URL", url)
    monkeypatch.setattr(imdb, "SHA256", "0" * 64)
    with pytest.raises(InputError, match="download failed"):
        imdb.load(RunConfig(dataset="imdb", data_dir=str(tmp_path)))


def test_user_file_any_labels_and_language(tmp_path):
    path = tmp_path / "news.tsv"
    rows = [f"{'体育比赛' if i % 3 == 0 else '股票市场' if i % 3 == 1 else '天气预报'}{i}\t{['sport', 'money', 'weather'][i % 3]}"
            for i in range(90)]
    path.write_text("text\tlabel\n" + "\n".join(rows), encoding="utf-8")
    spec = registry.spec_for(str(path))
    s = spec.load(RunConfig(dataset=str(path)))
    assert s.class_names == ["money", "sport", "weather"]
    assert s.language == "zh"
    assert spec.defaults["vocab_size"] > 0


def test_new_datasets_are_registered():
    assert {"sst2", "r8", "chnsenticorp", "online_shopping"} <= set(registry.DATASETS)


def _copy_folder(source, tmp_path, folder, skip=()):
    """`source`'s files copied into tmp_path/folder, as --data-dir root + dataset folder."""
    (tmp_path / folder).mkdir()
    for path in source.iterdir():
        if path.name not in skip:
            shutil.copy(path, tmp_path / folder / path.name)
    return tmp_path


@pytest.mark.parametrize("as_root", [False, True])
def test_sst2_dev_is_validation_and_labeled_test_is_test(tmp_path, fixtures, as_root):
    data_dir = _copy_folder(fixtures / "sst2_tiny", tmp_path, "sst2") if as_root else fixtures / "sst2_tiny"
    s = registry.spec_for("sst2").load(RunConfig(dataset="sst2", data_dir=str(data_dir)))
    assert s.sizes() == {"train": 40, "val": 10, "test": 10}
    assert s.class_names == ["negative", "positive"] and s.language == "en"
    tiny = fixtures / "sst2_tiny"
    assert s.val.text.tolist() == pd.read_csv(tiny / "dev.tsv", sep="\t").sentence.tolist()
    assert s.test.text.tolist() == pd.read_csv(tiny / "test_labeled.tsv", sep="\t").sentence.tolist()


def test_sst2_without_labeled_test_carves_it_from_train(tmp_path, fixtures, log_lines):
    data_dir = _copy_folder(fixtures / "sst2_tiny", tmp_path, "SST-2", skip=("test_labeled.tsv",))
    s = sst2.load(RunConfig(dataset="sst2", data_dir=str(data_dir)))
    assert s.sizes() == {"train": 36, "val": 10, "test": 4}
    assert s.test["label"].value_counts().to_dict() == {0: 2, 1: 2}
    assert any("no test_labeled.tsv" in line and "carving the test split from train" in line for line in log_lines)


@pytest.mark.parametrize("as_root", [False, True])
def test_r8_keeps_the_official_test_and_8_string_classes(tmp_path, fixtures, as_root):
    data_dir = _copy_folder(fixtures / "r8_tiny", tmp_path, "r8") if as_root else fixtures / "r8_tiny"
    s = r8.load(RunConfig(dataset="r8", data_dir=str(data_dir)))
    assert s.sizes() == {"train": 72, "val": 8, "test": 16}
    assert s.class_names == ["acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"]
    assert s.language == "en"
    assert sorted(s.val["label"]) == list(range(8))  # stratified: one of each class
    assert s.test["label"].value_counts().to_dict() == {k: 2 for k in range(8)}


@pytest.mark.parametrize("as_root", [False, True])
def test_chnsenticorp_keeps_its_three_splits(tmp_path, fixtures, as_root):
    folder = fixtures / "chnsenticorp_tiny"
    data_dir = _copy_folder(folder, tmp_path, "chnsenticorp") if as_root else folder
    s = chnsenticorp.load(RunConfig(dataset="chnsenticorp", data_dir=str(data_dir)))
    assert s.sizes() == {"train": 40, "val": 10, "test": 10}
    assert s.class_names == ["negative", "positive"] and s.language == "zh"
    assert s.val.loc[s.val.text == "除了离机场近,没什么可说的了.应该没有5星的.", "label"].item() == 1


@pytest.mark.parametrize("as_root", [False, True])
def test_online_shopping_reads_the_zip_and_carves_80_10_10(tmp_path, fixtures, as_root, log_lines):
    folder = fixtures / "online_shopping_tiny"
    data_dir = _copy_folder(folder, tmp_path, "online_shopping_10_cats") if as_root else folder
    s = online_shopping.load(RunConfig(dataset="online_shopping", data_dir=str(data_dir)))
    assert s.sizes() == {"train": 32, "val": 4, "test": 4}  # 40 rows: the empty review is dropped
    assert s.class_names == ["negative", "positive"] and s.language == "zh"
    assert s.test["label"].value_counts().to_dict() == {0: 2, 1: 2}
    assert any("dropped 1 rows" in line for line in log_lines)


@pytest.mark.parametrize(
    "name, message",
    [
        ("sst2", r"no SST-2 data; looked for train\.tsv, dev\.tsv in .*/sst2, .*/SST-2, "),
        ("r8", r"no R8 data; looked for r8-train-all-terms\.txt, r8-test-all-terms\.txt in .*/r8, "),
        ("chnsenticorp", r"no ChnSentiCorp data; looked for train\.csv, dev\.csv, test\.csv in .*/chnsenticorp"),
        ("online_shopping", r"no online_shopping_10_cats data; looked for online_shopping_10_cats\.zip in "),
    ],
)
def test_new_datasets_missing_files(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        registry.spec_for(name).load(RunConfig(dataset=name, data_dir=str(tmp_path)))
    with pytest.raises(InputError, match="no such folder"):
        registry.spec_for(name).load(RunConfig(dataset=name, data_dir=str(tmp_path / "nope")))


def test_a_dataset_never_mixes_files_of_two_folders(tmp_path, fixtures):
    _copy_folder(fixtures / "chnsenticorp_tiny", tmp_path, "chnsenticorp", skip=("test.csv",))
    shutil.copy(fixtures / "chnsenticorp_tiny" / "test.csv", tmp_path / "test.csv")
    with pytest.raises(InputError, match="no ChnSentiCorp data"):
        chnsenticorp.load(RunConfig(dataset="chnsenticorp", data_dir=str(tmp_path)))


def test_a_union_joins_each_split_and_matches_classes_by_name(tmp_path, fixtures):
    root = _copy_folder(fixtures / "chnsenticorp_tiny", tmp_path, "chnsenticorp")
    _copy_folder(fixtures / "sst2_tiny", root, "sst2")
    user = root / "mine.csv"  # the classes the other way round: 0 is positive here
    pd.DataFrame({"text": [f"第{i}条" for i in range(30)], "label": ["好", "差"] * 15}).to_csv(user, index=False)
    config = RunConfig(dataset=f"chnsenticorp+{user}", data_dir=str(root))
    spec = registry.spec_for(config.dataset)
    with pytest.raises(InputError, match=r"mine.csv's classes \['好', '差'\] are not chnsenticorp's"):
        spec.load(config)
    user.write_text(user.read_text(encoding="utf-8").replace(",好", ",positive").replace(",差", ",negative"),
                    encoding="utf-8")
    joined = spec.load(config)
    alone = registry.spec_for("chnsenticorp").load(dataclasses.replace(config, dataset="chnsenticorp"))
    assert joined.sizes() == {"train": 40 + 24, "val": 10 + 3, "test": 10 + 3}
    assert (joined.class_names, spec.defaults) == (alone.class_names, chnsenticorp.DEFAULTS)
    mine = joined.train[joined.train["text"].str.startswith("第")]
    expected = [1 if int(t[1:-1]) % 2 == 0 else 0 for t in mine["text"]]  # even rows were 好 -> positive
    assert mine["label"].tolist() == expected
    with pytest.raises(InputError, match="one language"):
        registry.spec_for("chnsenticorp+sst2").load(dataclasses.replace(config, dataset="chnsenticorp+sst2"))


@pytest.mark.parametrize("name, message", [("weibo+nosuch", "unknown dataset 'nosuch'"),
                                           ("weibo+weibo", "a union names each dataset once")])
def test_a_union_of_unknown_or_repeated_names_is_refused(name, message):
    with pytest.raises(InputError, match=message):
        registry.check_name(name)


def test_texts_kept_out_of_training_and_validation_are_counted(fixtures, log_lines):
    data = chnsenticorp.load(RunConfig(dataset="chnsenticorp", data_dir=str(fixtures / "chnsenticorp_tiny")))
    taken = data.train["text"].head(3).tolist() + data.val["text"].head(1).tolist() + ["not in the data"]
    kept = union.without(data, taken, "a test split")
    assert kept.sizes() == {"train": 37, "val": 9, "test": 10}
    assert not set(taken) & (set(kept.train["text"]) | set(kept.val["text"]))
    assert kept.test.equals(data.test)
    assert any("removed 3 training and 1 validation rows whose text is in a test split" in line for line in log_lines)
