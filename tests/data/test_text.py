import numpy as np
import pytest

from textclf.data import text


def test_english_cleaning_strips_html_and_punctuation():
    out = text.standardize_english(np.array(["Great<br /><br />MOVIE!! Don't miss it."]))
    assert out.numpy()[0].decode().split() == ["great", "movie", "don't", "miss", "it"]


def test_char_standardizer_drops_white_space():
    assert text.standardize_chars(np.array(["好 Ｘ\n看"])).numpy()[0].decode() == "好ｘ看"


def test_auto_tokenizer_by_language():
    assert text.resolve_tokenizer("auto", "zh") == "jieba"
    assert text.resolve_tokenizer("auto", "en") == "word"
    assert text.resolve_tokenizer("char", "zh") == "char"


def test_jieba_segments_and_caches(tmp_path, monkeypatch):
    texts = ["我今天很开心", "这部电影太难看了"]
    first = text.segment(texts, str(tmp_path))
    assert first[0].split() == ["我", "今天", "很", "开心"]
    assert len(list(tmp_path.glob("jieba_*.txt"))) == 1

    def no_segmenting(_):
        raise AssertionError("a cached input was segmented again")

    monkeypatch.setattr(text, "_segment_one", no_segmenting)
    assert text.segment(texts, str(tmp_path)) == first
    with pytest.raises(AssertionError):
        text.segment(texts + ["新的一句"], str(tmp_path))  # other input, other key


def test_prepare_only_segments_for_jieba():
    assert text.prepare(["a  b"], "word") == ["a  b"]
    assert text.prepare(["很开心"], "jieba") == ["很 开心"]


def test_cache_keys_of_different_texts_never_collide(tmp_path):
    first = text.segment(["好\0坏", "很好"], str(tmp_path))
    second = text.segment(["好", "坏\0很好"], str(tmp_path))  # the same characters once joined with NUL
    assert len(list(tmp_path.glob("jieba_*.txt"))) == 2
    assert second[0] == "好" and first != second


def test_the_emoticon_filter_removes_weibo_emoticons_before_and_after_jieba():
    raw = ["厦门的海啊。。。。。[泪]", "好[good]哈哈", "见 [Rules 13a-16 and 15d-16] 条", "无表情"]
    segmented = text.prepare(raw, "jieba")
    assert "[ 泪 ]" in segmented[0]  # jieba keeps the brackets as tokens of their own
    for texts in (raw, segmented):
        kept = text.filtered(texts, "emoticons")
        assert not any(emoticon in " ".join(kept) for emoticon in ("泪", "good"))
        assert "哈哈" in kept[1] and "Rules" in kept[2]  # a long bracketed text is not an emoticon
        assert kept[3] == texts[3]
    assert text.filtered(raw, None) == raw


def test_the_html_filter_removes_tags_and_keeps_comparisons():
    raw = ["Great film.<br /><br />See it.", "<i>Alien</i> (1979)", "3 < 4 and 5 > 2", "no tags"]
    kept = text.filtered(raw, "html")
    assert kept[0].split() == ["Great", "film.", "See", "it."]
    assert kept[1].split() == ["Alien", "(1979)"]
    assert kept[2:] == raw[2:]


def test_every_text_filter_the_flag_offers_has_a_pattern():
    from textclf.config import TEXT_FILTERS
    from textclf.data.filters import PATTERNS

    assert set(PATTERNS) == set(TEXT_FILTERS)
