"""What a run leans on: top_tokens.csv over the texts it predicts, bounded in time, and in every run folder."""

import pandas as pd
import pytest
import tensorflow as tf

from textclf.explain import top_tokens
from textclf.explain.explainer import Explainer

TEXTS = ["a good film", "good and great", "it is good", "the film is good", "a bad film", "bad and not good",
         "it is bad", "the movie is bad"] * 3


def _top_tokens(model, seconds: float):
    """top_tokens over TEXTS, each explained towards the class `model` predicts."""
    explainer = Explainer(model, "word", ["negative", "positive"], lambda texts: model(tf.constant(texts)).numpy())
    predicted = explainer.probabilities(TEXTS).argmax(axis=1)
    return top_tokens.top_tokens(lambda i: explainer.explain(TEXTS[i], int(predicted[i])), len(TEXTS),
                                 explainer.class_names, seconds=seconds, seed=0)


def test_each_class_leans_on_the_word_the_model_learnt(scratch_models, tmp_path):
    table, explained = _top_tokens(scratch_models["fasttext"], seconds=60)
    assert explained == len(TEXTS)
    assert list(table.columns) == ["class", "token", "score", "count"]
    assert table.groupby("class")["score"].idxmax().map(table["token"]).to_dict() == {"negative": "bad",
                                                                                        "positive": "good"}
    assert (table["count"] >= top_tokens.MIN_COUNT).all() and table.groupby("class").size().max() <= top_tokens.TOP
    path = top_tokens.write(table, tmp_path, "toy")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)
    assert (tmp_path / "top_tokens.png").stat().st_size > 0


def test_the_time_budget_bounds_the_texts_explained(scratch_models):
    _, explained = _top_tokens(scratch_models["gru"], seconds=0)
    assert explained == 1


@pytest.mark.large
@pytest.mark.parametrize("name", ["imdb", "weibo", "imdb_nbsvm"])
def test_every_run_folder_holds_its_top_tokens(runs, name):
    table = pd.read_csv(runs[name] / "top_tokens.csv", keep_default_na=False)
    assert list(table.columns) == ["class", "token", "score", "count"]
    assert (runs[name] / "top_tokens.png").is_file()
    log = (runs[name] / "run.log").read_text()
    method = "occlusion" if name == "imdb_nbsvm" else "integrated_gradients"
    assert f"top_tokens.csv: {method} over" in log
