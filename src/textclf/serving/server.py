"""waitress' connection with a deadline on request headers, which waitress does not have.

waitress closes a connection after `channel_timeout` seconds without a byte, and holds at most `connection_limit`.
A client that sends one header line every few seconds keeps its connection forever; 510 such clients locked a
good request out for as long as they went on (issue 30). Here a connection's request headers are due
HEADER_SECONDS after it opened, or after the request's first byte: a slow client holds a connection that long,
no longer. Its body, once the headers are in, and an idle keep-alive connection keep waitress' own timeout.
Untrusted clients still belong behind a reverse proxy (docs/serving.md, "Slow clients and a reverse proxy").
"""

import math
import time

from waitress.channel import HTTPChannel

HEADER_SECONDS = 10  # a browser sends its headers in one packet; a slow mobile link still takes well under a second


class HeaderDeadlineChannel(HTTPChannel):
    """An HTTPChannel closed when its request's headers are not complete `header_seconds` after the connection
    opened or the request began. waitress' loop asks every channel `readable()` at least once a second
    (`asyncore_loop_timeout`), where the deadline is checked."""

    header_seconds = HEADER_SECONDS

    def __init__(self, *args, **kwargs):
        self.headers_due = time.monotonic() + self.header_seconds  # a connection that sends nothing is closed too
        super().__init__(*args, **kwargs)

    def received(self, data):
        if self.request is None:  # a request begins
            self.headers_due = time.monotonic() + self.header_seconds
        handled = super().received(data)
        if self.request is None or self.request.headers_finished:  # between requests, or reading a body
            self.headers_due = math.inf
        return handled

    def readable(self):
        if not self.requests and time.monotonic() > self.headers_due:  # never cuts a request being answered
            self.will_close = True
        return super().readable()
