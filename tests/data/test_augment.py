"""--augment's copies (`data.augment`): Tang et al.'s masking, replacement and n-gram cuts, the same under a seed,
and a transfer set (`distillation.transfer_set`) made of training texts only, with no validation or test text."""

import numpy as np
import pandas as pd

from textclf import distillation
from textclf.config import RunConfig
from textclf.data import augment
from textclf.data.splits import Splits

TEXTS = ["This movie was great, I loved the acting and the music!", "Terrible plot <br /> and bad acting, sadly.",
         "A quiet film about two brothers who never speak."]


def test_copies_are_the_same_under_a_seed_and_differ_under_another():
    first = augment.augment(TEXTS, 4, 0, chinese=False, embeddings=None)
    assert first == augment.augment(TEXTS, 4, 0, chinese=False, embeddings=None)
    assert first != augment.augment(TEXTS, 4, 1, chinese=False, embeddings=None)
    assert 0 < len(first) <= 12 and len(set(first)) == len(first)
    assert not set(first) & {" ".join(augment.english_tokens(text)) for text in TEXTS}  # no copy is its text


def test_a_copy_masks_replaces_or_cuts_words_and_keeps_punctuation():
    tokens = augment.english_tokens("the film was good , not bad")
    assert tokens == ["the", "film", "was", "good", ",", "not", "bad"]
    rng = np.random.default_rng(0)
    copies = [augment.augmented(tokens, lambda word, rng: word.upper(), rng) for _ in range(300)]
    whole = [copy for copy in copies if len(copy) == len(tokens)]
    cut = [copy for copy in copies if len(copy) < len(tokens)]
    assert 0.6 < len(whole) / len(copies) < 0.9  # a quarter cut to an n-gram (a 7-word n-gram of 7 is the whole)
    assert cut and all(len(copy) <= augment.MAX_N for copy in cut)
    changed = [i for copy in whole for i, (a, b) in enumerate(zip(copy, tokens)) if a != b]
    masked = sum(copy.count(augment.MASK) for copy in whole)
    replaced = sum(word.isupper() for copy in whole for word in copy if word != augment.MASK)
    assert 4 not in changed  # the comma is never masked or replaced
    assert 0.05 < masked / (6 * len(whole)) < 0.15 and 0.05 < replaced / (6 * len(whole)) < 0.15


def test_a_neighbour_replacement_is_among_the_nearest_words_by_cosine():
    words = ["good", "great", "fine", "bad", "awful", "film"]
    vectors = np.array([[1, 0.1], [1, 0.15], [0.9, 0.3], [-1, 0], [-1, 0.1], [0, 1]], dtype="float32")
    replace = augment.neighbour_replacer(words, vectors)
    rng = np.random.default_rng(0)
    assert {replace("Good", rng) for _ in range(200)} == {"great", "fine", "bad", "awful", "film"}  # 5 others
    assert replace("unseen", rng) is None


def test_a_chinese_word_is_replaced_by_a_word_of_its_part_of_speech():
    replace = augment.tag_replacer([[("电影", "n"), ("很", "d"), ("好看", "v")], [("演员", "n"), ("难看", "v")]])
    rng = np.random.default_rng(0)
    assert {replace("电影", rng) for _ in range(50)} == {"电影", "演员"}
    assert {replace("好看", rng) for _ in range(50)} == {"好看", "难看"}
    assert replace("从未", rng) is None
    chinese = augment.augment(["这部电影很好看，演员也不错", "太差了，浪费时间"], 3, 0, chinese=True, embeddings=None)
    assert chinese and all(" " not in copy for copy in chinese)  # jieba's words joined as Chinese is written


def _splits(train: list[str], val: list[str], test: list[str]) -> Splits:
    def frame(texts):
        return pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]})

    return Splits(frame(train), frame(val), frame(test), ["negative", "positive"], "en")


def test_the_transfer_set_is_made_of_training_texts_without_a_validation_or_test_text(tmp_path):
    train = ["good film", "bad film", "a good and fine film", "a bad and awful film"]
    val, test = ["validationword good film"], ["testword bad film"]
    unlabeled = tmp_path / "unlabeled.csv"
    pd.DataFrame({"text": ["good film", "validationword good film", "testword bad film", "new text", "new text",
                           " TestWord, bad film! ", "validationword  good\tfilm"]}).to_csv(unlabeled, index=False)
    config = RunConfig(teacher="run", augment=5, unlabeled=str(unlabeled), seed=3)
    made = distillation.transfer_set(config, _splits(train, val, test))
    assert made == distillation.transfer_set(config, _splits(train, val, test))
    assert "new text" in made and len(made) == len(set(made))
    assert not {"validationword good film", "testword bad film"} & set(made)  # nor as the student reads them:
    words = {word for text in made for word in text.split()}
    assert not {"validationword", "testword"} & words  # the copies come from train alone


def test_the_mask_is_one_token_whatever_reads_it():
    import tensorflow as tf

    from textclf.data import text

    masked = f"a {augment.MASK} film"
    assert text.segment([f"这部{augment.MASK}电影"])[0].split() == ["这部", augment.MASK, "电影"]  # jieba
    assert text.standardize_english(tf.constant(masked)).numpy().decode() == masked
    for text_filter in ("emoticons", "html"):
        assert text.filtered([masked], text_filter) == [masked]
