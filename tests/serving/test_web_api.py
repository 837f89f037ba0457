"""The web app's contract: the page, /healthz, answers, limits, and a JSON 4xx (never a 500 or a
traceback) for every bad request; then the real server (waitress) under 8 concurrent clients."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from textclf.serving.app import MAX_BODY_BYTES, MAX_CHARS, MAX_TEXTS, create_app


def test_healthz_says_what_is_loaded(client, runs):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "run": runs["weibo"].name, "run_dir": str(runs["weibo"]),
                             "dataset": "weibo", "model": "lstm", "classes": ["negative", "positive"]}


def test_page_shows_the_run_and_examples_in_both_languages(client, runs):
    page = client.get("/").get_data(as_text=True)
    assert runs["weibo"].name in page and "weibo" in page and "lstm" in page
    assert 'class="example" type="button" lang="en"' in page and 'class="example" type="button" lang="zh"' in page
    assert f'maxlength="{MAX_CHARS}"' in page
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200


def test_answer_holds_label_confidence_and_probabilities(client, runs):
    body = client.post("/api/predict", json={"texts": ["今天真开心", "Great film"]}).json
    assert body["run"] == runs["weibo"].name and body["model"] == "lstm" and body["dataset"] == "weibo"
    assert len(body["predictions"]) == 2
    for answer in body["predictions"]:
        assert list(answer["probabilities"]) == ["negative", "positive"]
        assert answer["confidence"] == max(answer["probabilities"].values())
        assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-5)


BAD_REQUESTS = {
    "empty text": ({"json": {"text": ""}}, 400, '"text" is empty'),
    "blank text": ({"json": {"text": " \n\t"}}, 400, '"text" is empty'),
    "invalid JSON": ({"data": '{"text": "unterminated', "content_type": "application/json"}, 400, "JSON object"),
    "no body": ({}, 400, "JSON object"),
    "JSON array": ({"json": ["a review"]}, 400, "JSON object"),
    "no field": ({"json": {}}, 400, "JSON object"),
    "unknown field": ({"json": {"review": "good"}}, 400, "JSON object"),
    "both fields": ({"json": {"text": "a", "texts": ["b"]}}, 400, "JSON object"),
    "text a number": ({"json": {"text": 5}}, 400, '"text" must be a string, not a number'),
    "text null": ({"json": {"text": None}}, 400, '"text" must be a string, not null'),
    "text a list": ({"json": {"text": ["a"]}}, 400, '"text" must be a string, not an array'),
    "texts a string": ({"json": {"texts": "abc"}}, 400, '"texts" must be a non-empty array of strings'),
    "texts empty": ({"json": {"texts": []}}, 400, '"texts" must be a non-empty array of strings'),
    "texts holding an object": ({"json": {"texts": ["ok", {"a": 1}]}}, 400,
                                '"texts[1]" must be a string, not an object'),
    "texts holding an empty one": ({"json": {"texts": ["ok", ""]}}, 400, '"texts[1]" is empty'),
    "text too long": ({"json": {"text": "好" * (MAX_CHARS + 1)}}, 413, f"the limit is {MAX_CHARS:,}"),
    "texts holding one too long": ({"json": {"texts": ["ok", "a" * (MAX_CHARS + 1)]}}, 413, '"texts[1]" has 10,001'),
    "too many texts": ({"json": {"texts": ["ok"] * (MAX_TEXTS + 1)}}, 413, f"the limit is {MAX_TEXTS} per request"),
}


@pytest.mark.parametrize("request_args, status, message", BAD_REQUESTS.values(), ids=BAD_REQUESTS)
def test_bad_request_is_a_json_4xx(client, request_args, status, message):
    response = client.post("/api/predict", **request_args)
    assert response.status_code == status
    assert response.is_json and response.json["status"] == status
    assert message in response.json["error"]


def test_texts_at_the_limits_are_answered(client):
    assert client.post("/api/predict", json={"text": "好" * MAX_CHARS}).status_code == 200
    assert len(client.post("/api/predict", json={"texts": ["ok"] * MAX_TEXTS}).json["predictions"]) == MAX_TEXTS


def test_body_over_the_limit_is_a_json_413(client):
    body = b'{"text": "' + b"a" * MAX_BODY_BYTES + b'"}'
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert response.status_code == 413 and response.is_json and response.json["status"] == 413


@pytest.mark.parametrize("method, path", [("GET", "/api/nope"), ("POST", "/api/nope"), ("GET", "/nope")])
def test_unknown_route_is_a_json_404(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 404 and response.is_json and response.json["status"] == 404


@pytest.mark.parametrize("method, path", [("GET", "/api/predict"), ("PUT", "/api/predict"), ("POST", "/healthz")])
def test_wrong_method_is_a_json_405(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405 and response.is_json and response.json["status"] == 405
    assert "Allow" in response.headers


class BrokenPredictor:
    class_names = ["negative", "positive"]

    def describe(self):
        return {"run": "run_x", "run_dir": "run_x", "dataset": "d", "model": "m", "classes": self.class_names}

    def predict(self, texts):
        raise RuntimeError("secret internals")


def test_a_failing_model_is_a_json_500_without_internals():
    response = create_app(BrokenPredictor()).test_client().post("/api/predict", json={"text": "good"})
    assert response.status_code == 500 and response.is_json
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_real_server_listens_on_loopback(server_url):
    assert server_url.startswith("http://127.0.0.1:")


def test_real_server_with_8_concurrent_clients_answers_as_the_model(api, test_splits, predictors):
    texts = [*test_splits["weibo"]["text"][:12], "A wonderful film", "排队两小时，太差了", "ok", "好"]
    expected = np.concatenate([predictors["weibo"].predict([t]) for t in texts])
    with ThreadPoolExecutor(max_workers=8) as clients:
        answers = list(clients.map(lambda i: api({"text": texts[i % len(texts)]}), range(64)))
    assert {status for status, _ in answers} == {200}
    got = [list(body["predictions"][0]["probabilities"].values()) for _, body in answers]
    np.testing.assert_allclose(got, np.resize(expected, (64, 2)), rtol=0, atol=1e-6)


def test_real_server_answers_bad_input_and_big_bodies_with_json(api):
    assert api({"text": ""}) == (400, {"error": '"text" is empty', "status": 400})
    status, body = api({"text": "a" * MAX_BODY_BYTES})
    assert status == 413 and body["status"] == 413
