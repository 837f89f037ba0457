"""Integrated gradients and occlusion on tiny trained models: completeness, the words found, the methods offered."""

import numpy as np
import pytest
import tensorflow as tf

from textclf.errors import InputError
from textclf.explain import gradients, occlusion, reading
from textclf.explain.explainer import Explainer
from textclf.models.raw_text import EnsembleClassifier

CLASSES = ["negative", "positive"]  # conftest's toy task


def probabilities_of(model):
    """texts -> class probabilities, as `serving.predictor.Predictor` calls the model."""
    return lambda texts: model(tf.constant(texts, dtype=tf.string)).numpy()


def _explainer(model, tokenizer="word") -> Explainer:
    return Explainer(model, tokenizer, CLASSES, probabilities_of(model))


def _models(scratch_models, encoder_model) -> dict:
    return {**scratch_models, "bert": encoder_model}


@pytest.mark.parametrize("name", ["gru", "fasttext", "bert"])
@pytest.mark.parametrize("sentence", ["it is bad", "bad and not good , it is bad"])
def test_integrated_gradients_are_complete(scratch_models, encoder_model, name, sentence):
    model = _models(scratch_models, encoder_model)[name]
    explainer = _explainer(model)
    read = reading.reading(model, sentence, "word")
    for target in (0, 1):
        attributions, difference = explainer.attributions(sentence, read, target)
        assert abs(difference) > 0.05  # the trained model moves between the baseline and the text
        assert attributions.sum() == pytest.approx(difference, abs=gradients.TOLERANCE)


@pytest.mark.parametrize("name", ["gru", "fasttext", "bert"])
@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_the_word_the_model_learnt_scores_highest(scratch_models, encoder_model, name, method):
    """Every model learnt `bad`; the BERT also leans positive on a text without it (its baseline, all padding, is
    already 0.9 positive), so only the scratch models must find `good`."""
    explainer = _explainer(_models(scratch_models, encoder_model)[name])
    negative = explainer.explain("it is bad", 0, method)
    assert negative.words == ["it", "is", "bad"] and negative.method == method
    assert negative.top(1)[0]["token"] == "bad"
    if name != "bert":
        assert explainer.explain("the film is good", 1, method).top(1)[0]["token"] == "good"


def test_scratch_words_follow_the_runs_cut(scratch_models):
    model = scratch_models["gru"]  # --max-len 12, post: the first 12 words
    words = " ".join(f"w{i}" for i in range(20))
    assert reading.reading(model, words, "word").words == [f"w{i}" for i in range(12)]
    model.truncate = "pre"
    try:
        assert reading.reading(model, words, "word").words == [f"w{i}" for i in range(8, 20)]
    finally:
        model.truncate = "post"
    assert reading.reading(model, "Good, GOOD<br />film!", "word").words == ["good", "good", "film"]


def test_a_model_without_embeddings_is_explained_by_occlusion_only(scratch_models):
    ensemble = EnsembleClassifier([scratch_models["gru"], scratch_models["fasttext"]], [0.5, 0.5])
    explainer = _explainer(ensemble)
    assert explainer.methods == ("occlusion",)
    assert explainer.explain("a good film", 1).top(1)[0]["token"] == "good"
    with pytest.raises(InputError, match="'integrated_gradients' does not apply to this run; it offers occlusion"):
        explainer.explain("a good film", 1, "integrated_gradients")
    assert _explainer(scratch_models["gru"]).methods == ("integrated_gradients", "occlusion")


def test_occlusion_scores_each_word_by_the_drop_without_it():
    def probabilities(texts):  # class 1's probability: 0.1 for each "good" in the text
        return np.array([[1 - 0.1 * t.split().count("good"), 0.1 * t.split().count("good")] for t in texts])

    scores = occlusion.occlusion(probabilities, reading.Reading(["good", "film", "good"], [[0], [1], [2]]), 1)
    np.testing.assert_allclose(scores, [0.1, 0.0, 0.1], atol=1e-6)


def test_a_long_text_is_occluded_in_windows_within_the_budget():
    words = [f"w{i}" for i in range(occlusion.MAX_PASSES * 2 + 1)]  # windows of 3 words, the last of 1
    calls = []

    def probabilities(texts):
        calls.extend(texts)
        return np.array([[0.0, 1.0 - 0.003 * (len(words) - len(t.split()))] for t in texts])

    scores = occlusion.occlusion(probabilities, reading.Reading(words, [[i] for i in range(len(words))]), 1)
    assert len(calls) <= occlusion.MAX_PASSES + 1 and scores.shape == (len(words),)
    np.testing.assert_allclose(scores, 0.003, atol=1e-6)  # each window's drop shared by its words


def test_explanations_are_answered_as_the_api_says(scratch_models):
    explanation = _explainer(scratch_models["gru"]).explain("a good film", 1)
    answer = explanation.to_dict()
    assert answer["class"] == "positive" and answer["method"] == "integrated_gradients"
    assert [token["token"] for token in answer["tokens"]] == ["a", "good", "film"]
    assert all(isinstance(token["score"], float) for token in answer["tokens"])


def test_integrated_gradients_leave_the_model_as_it_was(scratch_models):
    model = scratch_models["fasttext"]
    before = probabilities_of(model)(["a good film"])
    _explainer(model).explain("a good film", 1)
    assert all("call" not in vars(layer) for layer in gradients.embedding_layers(model.classifier))
    np.testing.assert_array_equal(probabilities_of(model)(["a good film"]), before)


def test_a_saturated_models_sharp_path_gets_more_points_until_the_sum_is_complete():
    import keras

    from textclf.data import text
    from textclf.models import gru
    from textclf.models.blocks import RunInputs
    from textclf.models.raw_text import RawTextClassifier

    vectorizer = text.make_vectorizer("word", 40)
    vectorizer.adapt(["a good film", "a bad film", "it is bad", "bad and not good"])
    keras.utils.set_random_seed(0)
    classifier = gru.gru(RunInputs(vectorizer.vocabulary_size(), 2, max_len=12),
                         gru.Settings(embedding_dim=8, units=8, dropout=0.0))
    classifier.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    ids = vectorizer(tf.constant(["a good film", "a bad film", "it is bad", "bad and not good"])).to_tensor(0)
    classifier.fit(ids, np.array([1, 0, 0, 0]), epochs=40, verbose=0)  # probabilities of 0 and 1: saturated
    model = RawTextClassifier(vectorizer, classifier, 12, "post")
    sentence = "bad and not good , it is bad"
    inputs = gradients.classifier_inputs(model, sentence)
    places = np.ones(int(inputs.shape[1]), dtype=bool)
    integrator = gradients.Integrator(classifier)
    few, difference = integrator.integrated_gradients(inputs, 1, places, 0)
    enough, same = integrator.converged(inputs, 1, places, 0)
    assert abs(few.sum() - difference) > gradients.TOLERANCE  # 16 points miss the turn
    assert same == difference and enough.sum() == pytest.approx(difference, abs=gradients.TOLERANCE)
