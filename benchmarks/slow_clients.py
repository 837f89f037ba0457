"""Slow clients against a running serve.py: how long a good request waits while many connections trickle headers.

    python src/serve.py --run RUN --port 8000 &
    python benchmarks/slow_clients.py --url http://127.0.0.1:8000 --clients 510 --interval 10 --seconds 60
    python benchmarks/slow_clients.py --url ... --reconnect     # a slow client opens a new connection when cut

Opens `--clients` connections, each sending a request line and then one header line every `--interval` seconds,
never finishing its headers, for `--seconds` (then every one is closed: it stops by itself). Meanwhile a good
client sends GET /healthz, waits for the answer (at most until 60 s after the slow clients stop), pauses a second,
and sends the next. Prints one JSON line: the good requests' waits (max and median, seconds; `unanswered` counts
failures), and how many slow connections the server closed and after how long (median seconds). Run it on
127.0.0.1 only: it is a denial-of-service test.
"""

import argparse
import http.client
import json
import selectors
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

REQUEST_LINE = b"GET /healthz HTTP/1.1\r\nHost: slow-client\r\n"
HEADER_LINE = b"X-Slow: 1\r\n"


def good_requests(address: tuple[str, int], stop: threading.Event, give_up: float, waits: list) -> None:
    """GET /healthz, one after another until `stop`; appends (wait in seconds, HTTP status or None) to `waits`."""
    while not stop.is_set():
        started = time.monotonic()
        status = None
        try:
            connection = http.client.HTTPConnection(*address, timeout=max(1.0, give_up - started))
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            connection.close()
        except (OSError, http.client.HTTPException):
            pass
        waits.append((time.monotonic() - started, status))
        stop.wait(1)


class SlowClients:
    """`count` connections that send one header line every `interval` seconds and never finish their headers."""

    def __init__(self, address: tuple[str, int], count: int, reconnect: bool):
        self.address, self.reconnect = address, reconnect
        self.selector = selectors.DefaultSelector()
        self.lifetimes: list[float] = []  # of the connections the server closed
        for _ in range(count):
            self.open()

    def open(self):
        connection = socket.create_connection(self.address, timeout=10)
        connection.sendall(REQUEST_LINE)
        connection.setblocking(False)
        self.selector.register(connection, selectors.EVENT_READ, time.monotonic())

    def closed_by_server(self, connection: socket.socket, opened: float):
        self.lifetimes.append(time.monotonic() - opened)
        self.selector.unregister(connection)
        connection.close()
        if self.reconnect:
            self.open()

    def drip(self):
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.send(HEADER_LINE)
            except OSError:  # reset by the server
                self.closed_by_server(key.fileobj, key.data)

    def watch(self, seconds: float):
        """Notices, for `seconds`, the connections the server closes (or answers, which ends them too)."""
        for key, _ in self.selector.select(timeout=seconds):
            try:
                key.fileobj.recv(4096)
            except OSError:
                pass
            self.closed_by_server(key.fileobj, key.data)

    def close(self):
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def attack(url: str, clients: int, interval: float, seconds: float, reconnect: bool) -> dict:
    address = (urlsplit(url).hostname, urlsplit(url).port)
    slow = SlowClients(address, clients, reconnect)
    started = time.monotonic()
    waits: list = []
    stop = threading.Event()
    prober = threading.Thread(target=good_requests, args=(address, stop, started + seconds + 60, waits))
    prober.start()
    next_drip = started + interval
    while (now := time.monotonic()) < started + seconds:
        slow.watch(max(0.0, min(next_drip, started + seconds) - now))
        if time.monotonic() >= next_drip:
            slow.drip()
            next_drip += interval
    stop.set()
    slow.close()  # a good request still waiting is answered now
    prober.join()
    answered = [wait for wait, status in waits if status == 200]
    return {"clients": clients, "interval": interval, "seconds": seconds, "reconnect": reconnect,
            "good_requests": len(waits), "unanswered": len(waits) - len(answered),
            "max_wait": round(max(answered), 2) if answered else None,
            "median_wait": round(statistics.median(answered), 2) if answered else None,
            "slow_closed_by_server": len(slow.lifetimes),
            "median_slow_lifetime": round(statistics.median(slow.lifetimes), 1) if slow.lifetimes else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="a running serve.py, e.g. http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=510, help="slow connections (default 510)")
    parser.add_argument("--interval", type=float, default=10, help="seconds between a slow client's header lines")
    parser.add_argument("--seconds", type=float, default=60, help="how long the slow clients go on (default 60)")
    parser.add_argument("--reconnect", action="store_true", help="a slow client cut by the server opens another")
    args = parser.parse_args()
    print(json.dumps(attack(args.url, args.clients, args.interval, args.seconds, args.reconnect)))


if __name__ == "__main__":
    main()
