"""benchmarks/faithfulness.py's arithmetic (ERASER comprehensiveness and sufficiency as AOPC) against hand
computations, on a toy "model" whose probability of class 1 is the share of the word `good` in a text. No TensorFlow,
no training."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "faithfulness.py"
spec = importlib.util.spec_from_file_location("faithfulness", SCRIPT)
faithfulness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(faithfulness)


def share_of_good(texts: list[str]) -> np.ndarray:
    """[p(class 0), p(class 1)] per text, p(class 1) = the share of its words that are `good` (0 for no words)."""
    shares = [words.count("good") / len(words) if (words := text.split()) else 0.0 for text in texts]
    return np.array([[1 - share, share] for share in shares])


def test_the_top_words_are_ceil_of_each_share_and_at_least_one():
    words = [f"w{i}" for i in range(200)]
    scores = list(range(200, 0, -1))  # w0 highest
    without, only = faithfulness.perturbed(words, scores, " ")
    assert [len(text.split()) for text in only] == [2, 10, 20, 40, 100]
    assert [len(text.split()) for text in without] == [198, 190, 180, 160, 100]
    _, only = faithfulness.perturbed(["a", "b", "c"], [0.1, 0.3, 0.2], " ")
    assert only == ["b", "b", "b", "b", "b c"]  # 1% of 3 words: one word; 50%: ceil(1.5) = 2, in text order


def test_ties_rank_in_text_order_and_the_joiner_rebuilds_the_text():
    without, only = faithfulness.perturbed(["很", "好", "看"], [0.5, 0.5, 0.0], "", percents=(50,))
    assert (without, only) == (["看"], ["很好"])


def test_aopc_is_the_mean_drop():
    comprehensiveness, sufficiency = faithfulness.aopc(0.9, [0.8, 0.6, 0.4, 0.2, 0.0], [0.9, 0.9, 0.8, 0.9, 1.0])
    assert comprehensiveness == pytest.approx((0.1 + 0.3 + 0.5 + 0.7 + 0.9) / 5)
    assert sufficiency == pytest.approx((0 + 0 + 0.1 + 0 - 0.1) / 5)


def test_a_hand_computed_text():
    # 4 words, p_1 = 2/4. Top counts at 1/5/10/20/50%: 1, 1, 1, 1, 2 -> the first `good`, then both.
    # Without: "bad good film" (1/3) four times, "bad film" (0). Only: "good" (1) four times, "good good" (1).
    case = (["good", "bad", "good", "film"], [3.0, 0.0, 2.0, 1.0], " ", 1)
    comprehensiveness, sufficiency = faithfulness.faithfulness(share_of_good, [case])
    assert comprehensiveness == pytest.approx((4 * (0.5 - 1 / 3) + 0.5) / 5)  # 7/30
    assert sufficiency == pytest.approx(0.5 - 1)
    # Towards class 0 (p_0 = 1/2): without the words above p_0 is 2/3 and 1, with only them 0.
    comprehensiveness, sufficiency = faithfulness.faithfulness(share_of_good, [case[:3] + (0,)])
    assert comprehensiveness == pytest.approx((4 * (0.5 - 2 / 3) + (0.5 - 1)) / 5)
    assert sufficiency == pytest.approx(0.5)


def test_means_over_texts_and_a_faithful_ranking_beats_its_reverse():
    words = ["good", "film", "good", "bad", "it", "is", "good", "and", "not", "great"]
    faithful = [1.0 if word == "good" else 0.0 for word in words]
    cases = [(words, faithful, " ", 1), (words, [-s for s in faithful], " ", 1)]
    both = faithfulness.faithfulness(share_of_good, cases)
    best, worst = (faithfulness.faithfulness(share_of_good, [case]) for case in cases)
    assert both == pytest.approx(tuple((a + b) / 2 for a, b in zip(best, worst)))
    assert best[0] > worst[0] and best[1] < worst[1]  # more comprehensive, more sufficient
