"""The web app: a page to try a trained run, and its JSON API (`python src/serve.py --help`).

    GET  /              the page: a text box, examples from the run's test split, the label with a confidence bar
                        and the words shaded by their explanation scores
    POST /api/predict   {"text": "..."} or {"texts": ["...", ...]} -> one prediction per text; with "explain": true
                        each also gets "explanation": {"class", "method", "tokens": [{"token", "score"}, ...]}
                        (`textclf.explain`), for "explain_class" (default: the predicted one) by "explain_method"
                        (default: the run's first); at most MAX_EXPLAINED texts then
    GET  /healthz       200 and what is loaded

Every error, bad input or not, is answered as JSON `{"error": message, "status": code}`;
bad input gets a 4xx, never a 500; a model that gives no answer within WAIT_SECONDS, a 503.
Requests are served by waitress, on threads that hand their texts to one `RequestBatcher`:
concurrent requests share a model call.
"""

import argparse
import socket

from flask import Flask, json, render_template, request
from loguru import logger
from waitress import create_server
from waitress.task import ErrorTask
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)

from textclf.config import OneLineParser
from textclf.errors import InputError, exit_code
from textclf.logs import log_to_stderr
from textclf.serving.batching import RequestBatcher
from textclf.serving.examples import examples
from textclf.serving.runs import add_run_flags, chosen_run, load_predictor
from textclf.serving.server import HeaderDeadlineChannel

MAX_CHARS = 10_000  # per text: a long IMDB review is ~1,800 words, and --max-len keeps far fewer
MAX_TEXTS = 64  # per request: bounds the work one request takes from the other clients
# per request with "explain": each explained text costs a batch of integrated gradients' points or one forward pass
# per word (at most `explain.occlusion.MAX_PASSES`), against one row of a batch without
MAX_EXPLAINED = 8
MAX_BODY_BYTES = 8 * 2**20  # a full batch fits even with every character \u-escaped (12 bytes for an emoji)
THREADS = 8  # one per concurrent client the server is sized for; prediction itself uses every core
WAIT_SECONDS = 60  # a request's wait for the model: a hung model answers 503s instead of holding every thread
# waitress's defaults, 100 connections and 120 s before an idle one is closed, let 100 idle keep-alive
# connections lock every other client out for two minutes. Idle ones now go after 30-60 s (waitress looks
# every 30 s; a request in progress is never cut), and 500 stays under the 1,024 files a process often may open.
CONNECTION_LIMIT = 500
CHANNEL_TIMEOUT = 30
JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
              dict: "an object", type(None): "null"}
USAGE = ('send a JSON object with "text": "..." or "texts": ["...", ...], and optionally "explain": true with '
         '"explain_class" and "explain_method"')
OPTIONS = ("explain", "explain_class", "explain_method")


def _checked(text, where: str) -> str:
    if not isinstance(text, str):
        raise BadRequest(f'"{where}" must be a string, not {JSON_TYPES[type(text)]}')
    if not text.strip():
        raise BadRequest(f'"{where}" is empty')
    if len(text) > MAX_CHARS:
        raise RequestEntityTooLarge(f'"{where}" has {len(text):,} characters; the limit is {MAX_CHARS:,}')
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # JSON's "\ud800" escape: a string no model can take
        raise BadRequest(f'"{where}" is not valid Unicode (a lone surrogate at character {err.start})') from None
    return text


def texts_from(payload) -> list[str]:
    """The texts of a predict request's JSON body; a 400 or 413 that says what is wrong with it."""
    if not isinstance(payload, dict) or len(payload.keys() & {"text", "texts"}) != 1 or not payload.keys() <= {
            "text", "texts", *OPTIONS}:
        raise BadRequest(USAGE)
    if "text" in payload:
        return [_checked(payload["text"], "text")]
    texts = payload["texts"]
    if not isinstance(texts, list) or not texts:
        raise BadRequest('"texts" must be a non-empty array of strings')
    limit = MAX_EXPLAINED if payload.get("explain") is True else MAX_TEXTS
    if len(texts) > limit:
        raise RequestEntityTooLarge(f'"texts" has {len(texts)} texts; the limit is {limit} per request'
                                    + (" with \"explain\"" if limit == MAX_EXPLAINED else ""))
    return [_checked(text, f"texts[{i}]") for i, text in enumerate(texts)]


def explanation_from(payload: dict, predictor) -> tuple[bool, int | None, str | None]:
    """A predict request's explanation options for `predictor`: whether to explain, the class index to explain
    (None: each text's predicted class) and the method (None: the run's default); a 400 that says what is wrong."""
    explain = payload.get("explain", False)
    if not isinstance(explain, bool):
        raise BadRequest(f'"explain" must be true or false, not {JSON_TYPES[type(explain)]}')
    given = [option for option in OPTIONS[1:] if option in payload]
    if given and not explain:
        raise BadRequest(f'"{given[0]}" goes with "explain": true')
    label, method = payload.get("explain_class"), payload.get("explain_method")
    names = predictor.class_names
    if label is not None and label not in names:
        raise BadRequest(f'"explain_class" must be one of the classes {names}, not {json.dumps(label)}')
    if method is not None and method not in predictor.explainer.methods:
        raise BadRequest(f'"explain_method" must be one of {list(predictor.explainer.methods)} for this run, not '
                         f'{json.dumps(method)}')
    return explain, None if label is None else names.index(label), method


def _json_body():
    """The request's JSON (None if it does not parse). A body not sent as application/json is a 415:
    a form or text/plain POST, which any web page the user visits may send here unasked, predicts nothing."""
    if not request.is_json:
        raise UnsupportedMediaType(f'send JSON with the header "Content-Type: application/json" '
                                   f'(not {request.mimetype or "none"})')
    try:
        return request.get_json(silent=True)  # invalid JSON is None: texts_from's 400
    except RecursionError:
        raise BadRequest("the JSON is nested too deeply") from None


def predictions(names: list[str], rows) -> list[dict]:
    """One {label, confidence, probabilities} per row of probabilities, in the order of the classes `names`."""
    return [{"label": names[row.argmax()], "confidence": float(row.max()),
             "probabilities": {name: float(p) for name, p in zip(names, row)}} for row in rows]


def _json_error(error: HTTPException):
    response = error.get_response()  # keeps the status line and headers such as a 405's Allow
    response.set_data(json.dumps({"error": error.description, "status": error.code}))
    response.content_type = "application/json"
    return response


def _internal_error(error: Exception):
    logger.opt(exception=error).error(f"{request.method} {request.path} failed")
    return {"error": "internal error; the server's log has the details", "status": 500}, 500


def create_app(predictor) -> Flask:
    """The Flask app serving `predictor` (a `textclf.serving.predictor.Predictor`)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES  # a larger body is a 413, read no further
    app.json.ensure_ascii = False  # Chinese class names and messages stay readable
    app.json.sort_keys = False  # probabilities in the order of the classes
    loaded = predictor.describe()
    offered = examples(predictor.run_dir, predictor.class_names)
    batcher = RequestBatcher(predictor.predict, MAX_TEXTS)
    app.register_error_handler(HTTPException, _json_error)
    app.register_error_handler(Exception, _internal_error)

    @app.get("/")
    def page():
        return render_template("index.html", loaded=loaded, max_chars=MAX_CHARS, examples=offered)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", **loaded}

    @app.post("/api/predict")
    def predict():
        payload = _json_body()
        texts = texts_from(payload)
        explain, target, method = explanation_from(payload, predictor)
        try:
            rows = batcher.predict(texts, timeout=WAIT_SECONDS)
        except TimeoutError:
            logger.error(f"no answer from the model within {WAIT_SECONDS} s; a request of {len(texts)} texts got a 503")
            raise ServiceUnavailable(f"the model did not answer within {WAIT_SECONDS} s; try again later") from None
        answers = predictions(predictor.class_names, rows)
        if explain:
            targets = [int(row.argmax()) if target is None else target for row in rows]
            for answer, explanation in zip(answers, predictor.explain(texts, targets, method)):
                answer["explanation"] = explanation.to_dict()
        return {"predictions": answers, "model": loaded["model"], "run": loaded["run"], "dataset": loaded["dataset"]}

    return app


class _JSONErrorTask(ErrorTask):
    """waitress's own answer to a request it refuses before the app sees it (a body over its limit, a malformed
    header), in the API's JSON instead of waitress's text/plain."""

    def execute(self):
        error = self.request.error
        body = json.dumps({"error": f"{error.reason}: {error.body}", "status": error.code}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _JSONErrorChannel(HeaderDeadlineChannel):
    error_task_class = _JSONErrorTask


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return int(value)


def _check_address(host: str, port: int) -> None:
    """Fails unless this process can listen on host:port: a name that does not resolve, an address that is not
    this machine's or a port taken is answered before TensorFlow loads the model (waitress would find out after,
    with a traceback)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress: a port in TIME_WAIT is free
            probe.bind(address)
    except (OSError, UnicodeError) as err:  # UnicodeError: a name no DNS label can hold
        raise InputError(f"cannot listen on {host}:{port}: {getattr(err, 'strerror', None) or err}") from err


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="serve.py", description="Try a trained run in the browser, or through its JSON API.")
    add_run_flags(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    return p


def serve(args: argparse.Namespace) -> int:
    _check_address(args.host, args.port)
    predictor = load_predictor(chosen_run(args))
    app = create_app(predictor)
    try:
        # waitress's own limit sits above Flask's, so an oversized body still gets Flask's JSON 413
        server = create_server(app, host=args.host, port=args.port, threads=THREADS,
                               max_request_body_size=2 * MAX_BODY_BYTES, connection_limit=CONNECTION_LIMIT,
                               channel_timeout=CHANNEL_TIMEOUT, asyncore_use_poll=True)  # select() stops at 1,024 files
    except OSError as err:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {err.strerror}") from err
    # a body over waitress's limit gets a JSON 413 too, and a slow client's headers a deadline (serving/server.py)
    server.channel_class = _JSONErrorChannel
    print(f"serving {predictor.run_dir} on http://{server.effective_host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a bad flag: one line and exit code 2
    log_to_stderr()
    return exit_code(serve, args)
