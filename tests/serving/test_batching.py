"""RequestBatcher: requests that arrive while the model is busy share its next call, each gets its own rows,
a failing call fails only the request that broke it, and a request that waits too long gives up."""

import threading

import numpy as np
import pytest

from textclf.serving.batching import RequestBatcher

WAIT = 10  # seconds any step of these tests may take; they take milliseconds


class GatedModel:
    """A stand-in model: row i is [len(text), index of the text in its call]; its first call waits for `gate`;
    a call holding the text "bad" fails."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.started, self.gate = threading.Event(), threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.started.set()
        self.gate.wait(timeout=WAIT)
        if "bad" in texts:
            raise ValueError("model failed")
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=float)


def busy(max_texts: int) -> tuple[GatedModel, RequestBatcher]:
    """A batcher whose model is busy with a first call of ["x"] until `model.gate` is set."""
    model = GatedModel()
    batcher = RequestBatcher(model, max_texts)
    batcher.submit(["x"])
    assert model.started.wait(timeout=WAIT)
    return model, batcher


def test_requests_queued_behind_a_busy_model_share_one_call_and_get_their_own_rows():
    model, batcher = busy(max_texts=64)
    waiting = [batcher.submit(["b" * n, "c" * (n + 10)]) for n in range(1, 7)]
    model.gate.set()
    answers = [future.result(timeout=WAIT) for future in waiting]
    assert [len(call) for call in model.calls] == [1, 12]  # six requests, one call
    for n, rows in enumerate(answers, start=1):
        assert rows[:, 0].tolist() == [n, n + 10]  # each request gets the rows of its own texts


def test_a_call_never_takes_more_than_max_texts():
    model, batcher = busy(max_texts=4)
    waiting = [batcher.submit(["y"] * 3) for _ in range(3)]
    model.gate.set()
    assert all(future.result(timeout=WAIT).shape == (3, 2) for future in waiting)
    assert [len(call) for call in model.calls] == [1, 3, 3, 3]


def test_a_failing_call_is_retried_request_by_request_so_only_the_culprit_fails():
    model, batcher = busy(max_texts=64)
    good = [batcher.submit(["good", "fine"]) for _ in range(3)]
    culprit = batcher.submit(["ok", "bad"])
    good.append(batcher.submit(["also good"]))
    model.gate.set()
    with pytest.raises(ValueError, match="model failed"):
        culprit.result(timeout=WAIT)
    assert [future.result(timeout=WAIT)[:, 0].tolist() for future in good] == [[4, 4]] * 3 + [[9]]
    assert [len(call) for call in model.calls] == [1, 9, 2, 2, 2, 2, 1]  # the shared call, then each alone
    assert batcher.predict(["good"], timeout=WAIT).shape == (1, 2)  # and the batcher goes on


def test_a_lone_failing_request_raises_what_the_model_raised():
    model = GatedModel()
    model.gate.set()
    with pytest.raises(ValueError, match="model failed"):
        RequestBatcher(model, max_texts=64).predict(["bad"], timeout=WAIT)
    assert model.calls == [["bad"]]  # not called again: it was alone


def test_a_request_that_waits_too_long_times_out_and_never_reaches_the_model():
    model, batcher = busy(max_texts=64)
    with pytest.raises(TimeoutError):
        batcher.predict(["given up"], timeout=0.05)
    later = batcher.submit(["later"])
    model.gate.set()
    assert later.result(timeout=WAIT)[:, 0].tolist() == [5]
    assert model.calls == [["x"], ["later"]]
