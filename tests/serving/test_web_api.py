"""The web app's contract: the page, /healthz, answers, limits, and a JSON 4xx (never a 500 or a
traceback) for every bad request; then the real server (waitress) under concurrent clients."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import numpy as np
import pytest
from loguru import logger
from markupsafe import escape

from textclf.logs import log_to_stderr
from textclf.serving import app as app_module
from textclf.serving.app import MAX_BODY_BYTES, MAX_CHARS, MAX_EXPLAINED, MAX_TEXTS, create_app
from textclf.serving.examples import examples

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_says_what_is_loaded(client, runs):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "run": runs["weibo"].name, "dataset": "weibo", "model": "lstm",
                             "classes": ["negative", "positive"]}  # the run's name, not this machine's path


def test_page_shows_the_run_and_examples_of_its_own_test_split(client, runs):
    page = client.get("/").get_data(as_text=True)
    assert runs["weibo"].name in page and "weibo" in page and "lstm" in page
    assert str(runs["weibo"].parent) not in page  # the run's name, not where it lies on this machine
    assert page.count('class="example"') == 2 and all(
        f'data-label="{label}"' in page for label in ("negative", "positive"))
    assert all(str(escape(example["text"])) in page for example in examples(runs["weibo"], ["negative", "positive"]))
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
    "no body": ({"content_type": "application/json"}, 400, "JSON object"),
    "deeply nested JSON": ({"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, 400,
                           "nested too deeply"),
    "lone surrogate": ({"data": '{"text": "bad \\ud800"}', "content_type": "application/json"}, 400,
                       '"text" is not valid Unicode (a lone surrogate at character 4)'),
    "lone surrogate in texts": ({"data": '{"texts": ["ok", "\\udfff"]}', "content_type": "application/json"}, 400,
                                '"texts[1]" is not valid Unicode'),
    "no content type": ({"data": '{"text": "good"}'}, 415, "Content-Type: application/json"),
    "a form": ({"data": {"text": "good"}}, 415, "(not application/x-www-form-urlencoded)"),
    "text/plain JSON": ({"data": '{"text": "good"}', "content_type": "text/plain"}, 415, "(not text/plain)"),
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
    "explain not a boolean": ({"json": {"text": "ok", "explain": "yes"}}, 400,
                              '"explain" must be true or false, not a string'),
    "explain 1": ({"json": {"text": "ok", "explain": 1}}, 400, '"explain" must be true or false, not a number'),
    "explain_class unknown": ({"json": {"text": "ok", "explain": True, "explain_class": "happy"}}, 400,
                              '"explain_class" must be one of the classes'),
    "explain_class without explain": ({"json": {"text": "ok", "explain_class": "positive"}}, 400,
                                      '"explain_class" goes with "explain": true'),
    "explain_method unknown": ({"json": {"text": "ok", "explain": True, "explain_method": "shap"}}, 400,
                               '"explain_method" must be one of [\'integrated_gradients\', \'occlusion\']'),
    "too many texts to explain": ({"json": {"texts": ["ok"] * (MAX_EXPLAINED + 1), "explain": True}}, 413,
                                  f"the limit is {MAX_EXPLAINED} per request with \"explain\""),
}


@pytest.mark.parametrize("request_args, status, message", BAD_REQUESTS.values(), ids=BAD_REQUESTS)
def test_bad_request_is_a_json_4xx(client, request_args, status, message):
    response = client.post("/api/predict", **request_args)
    assert response.status_code == status
    assert response.is_json and response.json["status"] == status
    assert message in response.json["error"]


def test_an_explained_prediction_scores_the_runs_own_words(client, predictors):
    texts = ["今天真开心[哈哈]", "太差了"]
    body = client.post("/api/predict", json={"texts": texts, "explain": True}).json
    plain = client.post("/api/predict", json={"texts": texts}).json
    assert [p["probabilities"] for p in body["predictions"]] == [p["probabilities"] for p in plain["predictions"]]
    for text, prediction in zip(texts, body["predictions"]):
        explanation = prediction["explanation"]
        assert explanation["class"] == prediction["label"] and explanation["method"] == "integrated_gradients"
        words = [token["token"] for token in explanation["tokens"]]
        assert "".join(words) == text.replace("[哈哈]", "")  # jieba's words, the run's --text-filter applied
        assert all(isinstance(token["score"], float) for token in explanation["tokens"])
    other = client.post("/api/predict", json={"text": "太差了", "explain": True, "explain_method": "occlusion",
                                              "explain_class": predictors["weibo"].class_names[0]}).json
    assert other["predictions"][0]["explanation"]["class"] == predictors["weibo"].class_names[0]
    assert other["predictions"][0]["explanation"]["method"] == "occlusion"
    assert len(client.post("/api/predict", json={"texts": ["ok"] * MAX_EXPLAINED, "explain": True}).json[
        "predictions"]) == MAX_EXPLAINED


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
    run_dir = Path("run_x")  # no test_predictions.csv: a page without examples

    def __init__(self):
        self.release = threading.Event()

    def describe(self):
        return {"run": "run_x", "dataset": "d", "model": "m", "classes": self.class_names}

    def predict(self, texts):
        if texts == ["hang"]:
            self.release.wait(timeout=10)
        raise RuntimeError(f"secret internals; texts: {texts}")


@pytest.fixture
def server_log(capsys):
    """Starts the server's stderr log (textclf.logs) and returns what it has shown so far; called in the
    test's body, as capsys gives the test a new stream after the fixtures' set-up."""

    def start():
        log_to_stderr()
        return lambda: capsys.readouterr().err

    yield start
    logger.remove()
    logger.add(sys.stderr)  # loguru's default again, not a sink on capsys's closed stream


def test_a_failing_model_is_a_json_500_and_the_log_has_its_traceback_but_no_users_text(server_log):
    log = server_log()
    response = create_app(BrokenPredictor()).test_client().post("/api/predict", json={"text": "my private review"})
    assert response.status_code == 500 and response.is_json
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)
    shown = log()
    assert "POST /api/predict failed" in shown and "Traceback" in shown and "RuntimeError" in shown
    assert shown.count("my private review") == 1  # in the exception's own message, but no variable's value shown


def test_a_model_that_does_not_answer_in_time_is_a_json_503(monkeypatch, server_log):
    monkeypatch.setattr(app_module, "WAIT_SECONDS", 0.2)
    log = server_log()
    predictor = BrokenPredictor()
    try:
        response = create_app(predictor).test_client().post("/api/predict", json={"text": "hang"})
    finally:
        predictor.release.set()
    assert response.status_code == 503 and response.json["status"] == 503
    assert response.json["error"] == "the model did not answer within 0.2 s; try again later"
    assert "no answer from the model within 0.2 s" in log()


def test_real_server_listens_on_loopback_by_default(server_url):
    assert server_url.startswith("http://127.0.0.1:")  # the launcher gives no --host


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


def test_real_server_answers_every_good_request_beside_bad_ones(api):
    """A bad text among concurrent good ones: its batch must not fail the others (it used to, with a 500)."""
    payloads = [{"text": "bad \ud800"} if i % 4 == 0 else {"text": f"A wonderful film, number {i}"} for i in range(48)]
    with ThreadPoolExecutor(max_workers=8) as clients:
        statuses = list(clients.map(lambda payload: api(payload)[0], payloads))
    assert statuses == [400 if i % 4 == 0 else 200 for i in range(48)]


def test_real_server_still_answers_with_more_idle_connections_than_waitress_allows_by_default(server_url):
    host, port = urlsplit(server_url).hostname, urlsplit(server_url).port
    with ExitStack() as idle:
        for _ in range(150):  # waitress's default connection_limit is 100
            idle.enter_context(socket.create_connection((host, port), timeout=10))
        connection = http.client.HTTPConnection(host, port, timeout=20)
        connection.request("POST", "/api/predict", json.dumps({"text": "ok"}), {"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()


@pytest.mark.parametrize("port", ["abc", "70000", "-1"])
def test_a_bad_port_is_one_line_and_exit_2(capsys, port):
    with pytest.raises(SystemExit) as done:
        app_module.parser().parse_args(["--port", port])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err == f"error: argument --port: {port!r} is not a port number (0 to 65535) " \
                                          "(see --help)\n"


@pytest.mark.parametrize("host", ["999.1.1.1", "nosuch.invalid"])
def test_a_host_this_machine_cannot_listen_on_is_one_line_before_tensorflow_loads(tmp_path, host):
    check = ("import sys; from textclf.serving.app import main; code = main(sys.argv[1:]); "
             "print(code, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", check, "--host", host, "--port", "0", "--run", str(tmp_path)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": "src"}, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert done.stderr.startswith(f"error: cannot listen on {host}:0: ") and done.stderr.count("\n") == 1


def test_a_run_trained_on_a_file_shows_the_files_name_not_its_path():
    from textclf.serving.predictor import Predictor

    def shown(dataset):
        loaded = SimpleNamespace(run_dir=Path("/srv/me/out/run_1"), config={"dataset": dataset, "model": "lstm"},
                                 class_names=["a", "b"])
        return Predictor.describe(loaded)["dataset"]

    assert shown("/srv/me/data/reviews.v2.csv") == "reviews.v2.csv"
    assert shown("imdb+/srv/me/data/more.tsv") == "imdb+more.tsv"
    assert shown("weibo") == "weibo"


def test_real_server_answers_a_body_over_waitress_limit_with_json(server_url):
    """waitress refuses such a body itself, from its Content-Length, before the app sees the request."""
    host, port = urlsplit(server_url).hostname, urlsplit(server_url).port
    with socket.create_connection((host, port), timeout=30) as client:
        client.sendall(f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {16 * MAX_BODY_BYTES}\r\n\r\n{{}}".encode())
        response = http.client.HTTPResponse(client)
        response.begin()
        assert response.status == 413 and response.getheader("Content-Type") == "application/json"
        assert json.loads(response.read())["status"] == 413
