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

Job = tuple[list[str], Future]


class RequestBatcher:
    """Runs `predict` on one worker thread over the texts of every request queued since its last call.

    Args:
        predict: texts -> one row of probabilities per text; rows must not depend on the batch's
            other texts (the models are padding-invariant).
        max_texts: most texts in one call (a single larger request still goes alone, whole).

    Example:
        `RequestBatcher(predictor.predict, 64).predict(["great film"], timeout=60)` -> array (1, classes)
    """

    def __init__(self, predict: Callable[[list[str]], np.ndarray], max_texts: int):
        self._predict = predict
        self._max_texts = max_texts
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._held: Job | None = None  # taken from the queue, too big for the last call
        threading.Thread(target=self._work, name="request-batcher", daemon=True).start()

    def submit(self, texts: list[str]) -> Future:
        """Queues `texts` for the model's next call; the future's result is their rows."""
        answer: Future = Future()
        self._jobs.put((list(texts), answer))
        return answer

    def predict(self, texts: list[str], timeout: float) -> np.ndarray:
        """The rows for `texts`; raises what `predict` raised, or `TimeoutError` after `timeout` seconds."""
        answer = self.submit(texts)
        try:
            return answer.result(timeout)
        except TimeoutError:
            answer.cancel()  # still queued: the model never sees it
            raise

    def _next_batch(self) -> list[Job]:
        batch, size = [], 0
        if self._held:
            batch, size = [self._held], len(self._held[0])
            self._held = None
        while True:
            try:
                job = self._jobs.get(block=not batch)  # sleeps only while there is nothing to run
            except queue.Empty:
                return batch
            if not job[1].set_running_or_notify_cancel():
                continue  # its waiter timed out and cancelled it
            if batch and size + len(job[0]) > self._max_texts:
                self._held = job  # first in the next call
                return batch
            batch.append(job)
            size += len(job[0])

    def _work(self) -> None:
        while True:
            self._answer(self._next_batch())

    def _answer(self, batch: list[Job]) -> None:
        try:
            rows = self._predict([text for texts, _ in batch for text in texts])
        except Exception as error:  # noqa: BLE001 - handed to the waiting request, which re-raises it
            if len(batch) == 1:
                batch[0][1].set_exception(error)
            else:
                for job in batch:  # each alone, so only the request that broke the call fails
                    self._answer([job])
            return
        offsets = np.cumsum([0] + [len(texts) for texts, _ in batch])
        for (_, answer), start, end in zip(batch, offsets[:-1], offsets[1:]):
            answer.set_result(rows[start:end])
