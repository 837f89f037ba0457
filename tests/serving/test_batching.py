"""RequestBatcher: requests that arrive while the model is busy share its next call, and each gets its own rows."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from textclf.serving.batching import RequestBatcher


class GatedModel:
    """A stand-in model: row i is [len(text), index of the text in its call]; its first call waits for `gate`."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.started, self.gate = threading.Event(), threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.started.set()
        self.gate.wait(timeout=10)
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=float)


def test_requests_queued_behind_a_busy_model_share_one_call_and_get_their_own_rows():
    model = GatedModel()
    batcher = RequestBatcher(model, max_texts=64)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.predict, ["a"])
        assert model.started.wait(timeout=10)  # the model is busy with the first request
        waiting = [pool.submit(batcher.predict, ["b" * n, "c" * (n + 10)]) for n in range(1, 7)]
        while batcher._jobs.qsize() < len(waiting):
            threading.Event().wait(0.01)
        model.gate.set()
        assert first.result(timeout=10).tolist() == [[1, 0]]
        answers = [future.result(timeout=10) for future in waiting]
    assert [len(call) for call in model.calls] == [1, 12]  # six requests, one call
    for n, rows in enumerate(answers, start=1):
        assert rows[:, 0].tolist() == [n, n + 10]  # each request gets the rows of its own texts


def test_a_call_never_takes_more_than_max_texts():
    model = GatedModel()
    batcher = RequestBatcher(model, max_texts=4)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.predict, ["x"])
        assert model.started.wait(timeout=10)
        waiting = [pool.submit(batcher.predict, ["y"] * 3) for _ in range(3)]
        while batcher._jobs.qsize() < len(waiting):
            threading.Event().wait(0.01)
        model.gate.set()
        first.result(timeout=10)
        assert all(future.result(timeout=10).shape == (3, 2) for future in waiting)
    assert [len(call) for call in model.calls] == [1, 3, 3, 3]


def test_a_failing_call_raises_in_every_request_it_served_and_the_batcher_goes_on():
    def predict(texts):
        if "bad" in texts:
            raise ValueError("model failed")
        return np.ones((len(texts), 2))

    batcher = RequestBatcher(predict, max_texts=64)
    with pytest.raises(ValueError, match="model failed"):
        batcher.predict(["bad"])
    assert batcher.predict(["good", "good"]).shape == (2, 2)
