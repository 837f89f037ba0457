"""Dynamic batching: the texts of concurrent requests go through the model in one call.

An LSTM's forward pass on a CPU costs about the same for one text as for eight (its time goes
into the steps along the text, not the width of the batch), so requests that arrive while the
model is busy wait for it and then share the next call, as TF Serving's batching does. A lone
request is not held back: nothing waits for a batch to fill.
"""

import queue
import threading
from concurrent.futures import Future
from typing import Callable

import numpy as np


class RequestBatcher:
    """Runs `predict` on one worker thread over the texts of every request queued since its last call.

    Args:
        predict: texts -> one row of probabilities per text; rows must not depend on the batch's
            other texts (the models are padding-invariant).
        max_texts: most texts in one call (a single larger request still goes alone, whole).
    """

    def __init__(self, predict: Callable[[list[str]], np.ndarray], max_texts: int):
        self._predict = predict
        self._max_texts = max_texts
        self._jobs: queue.SimpleQueue[tuple[list[str], Future]] = queue.SimpleQueue()
        self._held: tuple[list[str], Future] | None = None  # taken from the queue, too big for the last call
        threading.Thread(target=self._work, name="request-batcher", daemon=True).start()

    def predict(self, texts: list[str]) -> np.ndarray:
        """Blocks until the rows for `texts` are computed; raises what `predict` raised."""
        answer: Future = Future()
        self._jobs.put((list(texts), answer))
        return answer.result()

    def _next_batch(self) -> list[tuple[list[str], Future]]:
        batch = [self._held or self._jobs.get()]
        self._held = None
        size = len(batch[0][0])
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return batch
            if size + len(job[0]) > self._max_texts:
                self._held = job  # first in the next call
                return batch
            batch.append(job)
            size += len(job[0])

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                rows = self._predict([text for texts, _ in batch for text in texts])
            except Exception as error:  # noqa: BLE001 - handed to every waiting request, which re-raises it
                for _, answer in batch:
                    answer.set_exception(error)
                continue
            offsets = np.cumsum([0] + [len(texts) for texts, _ in batch])
            for (_, answer), start, end in zip(batch, offsets[:-1], offsets[1:]):
                answer.set_result(rows[start:end])
