"""A monitoring system sending events while things break: a steady rate, every event
with its own dedup key, retried as Alertmanager retries (on a refused connection, a
cut-off answer, a timeout or a 5xx, after a growing pause, until it is accepted or
the sender is stopped), every attempt and its answer recorded.

Its own key per event makes the check exact: an event answered 202 must be an
alert; a key with more occurrences than 202 answers got an answer lost on the way
back after its transaction had committed (the retry folded into it: sent twice,
counted once per delivery, harmless by its dedup key).
"""
from __future__ import annotations

import http.client
import json
import queue
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Event:
    n: int
    key: str
    routing_key: str
    attempts: list[tuple[float, int | str]] = field(default_factory=list)  # (time, status or error)

    @property
    def accepted(self) -> int:
        return sum(1 for _, status in self.attempts if status == 202)

    @property
    def settled(self) -> bool:
        return self.accepted > 0


class Sender:
    def __init__(self, port: int, routing_keys: list[str], tag: str, rate: float = 5.0, threads: int = 4,
                 severity: str = "critical", tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        """With `tls`, over HTTPS to `host` (the name its certificate carries), verified with it."""
        self.port, self.routing_keys, self.tag, self.rate = port, routing_keys, tag, rate
        self.tls, self.host = tls, host
        self.severity = severity
        self.events: list[Event] = []
        self.work: queue.PriorityQueue = queue.PriorityQueue()  # (not before, n, event)
        self.stopping = threading.Event()
        self.pacing = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(threads)]
        self.pacer = threading.Thread(target=self._pace, daemon=True)

    def start(self) -> "Sender":
        self.pacing.set()
        for thread in self.threads:
            thread.start()
        self.pacer.start()
        return self

    def _pace(self) -> None:
        began, n = time.monotonic(), 0
        while self.pacing.is_set():
            event = Event(n, f"{self.tag}-{n}", self.routing_keys[n % len(self.routing_keys)])
            with self.lock:
                self.events.append(event)
            self.work.put((0.0, event.n, event))
            n += 1
            time.sleep(max(0.0, began + n / self.rate - time.monotonic()))

    def _worker(self) -> None:
        connection = None
        while not self.stopping.is_set():
            try:
                not_before, n, event = self.work.get(timeout=0.2)
            except queue.Empty:
                continue
            wait = not_before - time.monotonic()
            if wait > 0:
                self.work.put((not_before, n, event))
                time.sleep(min(wait, 0.05))
                continue
            body = json.dumps({"routing_key": event.routing_key, "event_action": "trigger", "dedup_key": event.key,
                               "client": "fault-sender", "payload": {
                                   "summary": f"{event.key}: checkout errors above 5%", "source": "prod-1",
                                   "severity": self.severity}})
            try:
                if connection is None:
                    connection = self._connect()
                connection.request("POST", "/v2/enqueue", body=body, headers={"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                status: int | str = answer.status
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                if connection is not None:
                    connection.close()
                connection = None
            with self.lock:
                event.attempts.append((time.time(), status))
            if status != 202:
                tries = len(event.attempts)
                self.work.put((time.monotonic() + min(0.5 * 2 ** (tries - 1), 15.0), event.n, event))
        if connection is not None:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=20, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=20)

    def stop_sending(self) -> None:
        """No new events from now on; those in hand are still retried until `stop`."""
        self.pacing.clear()
        self.pacer.join(5)

    def settle(self, timeout: float) -> bool:
        """Wait until every event was accepted (True) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(event.settled for event in self.events):
                    return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self.stop_sending()
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def summary(self) -> dict:
        with self.lock:
            attempts = [status for event in self.events for _, status in event.attempts]
        refused: dict[str, int] = {}
        for status in attempts:
            if status != 202:
                refused[str(status)] = refused.get(str(status), 0) + 1
        return {"events": len(self.events), "accepted": sum(1 for e in self.events if e.settled),
                "attempts": len(attempts), "not_accepted_attempts": refused}
