"""Ingestion's writer process (SQLite, under gunicorn): the hot path's writes done
outside the request threads' interpreter.

Why (docs/architecture.md): the hot path's writes cost more than twice as much among a
worker's sixteen request threads as in one thread, because each of the group-commit
leader's sqlite3 calls hands the interpreter lock to a request thread and waits to
get it back. Here the request threads validate each event and
hand it to a writer process of their own, over a socketpair each, and wait for its
answer; the writer, one thread, takes whatever has arrived, writes it as one batch
with the same hot path (`hotpath.write_batch`) and answers each. Every event is still
written before its 202.

The wire is JSON, one length-prefixed frame each way. A writer that cannot be reached
(it died, or never started) leaves the event to the in-process path, which is what
runs without gunicorn (`flask run`, tests) and on PostgreSQL. An event sent and not
answered may have been written (the writer died between its commit and its answer):
it goes with its attempt id, which the writer records with its writes, and the
in-process path looks that up before writing it again (`hotpath.Job.unsure`).
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import selectors
import signal
import socket
import struct
from dataclasses import fields
from datetime import datetime

from app.alerts import hotpath, ingest
from app.database import write_intent

log = logging.getLogger("firebreak.ingest")

_HEAD = struct.Struct("!I")
_EVENT_FIELDS = [f.name for f in fields(ingest.AlertEvent)]


def encode(job: hotpath.Job) -> bytes:
    values = {name: getattr(job.event, name) for name in _EVENT_FIELDS}
    if values["timestamp"] is not None:
        values["timestamp"] = values["timestamp"].isoformat()
    return json.dumps({"event": values, "ip": job.ip, "attempt": job.attempt}, separators=(",", ":")).encode()


def decode(data: bytes) -> hotpath.Job:
    message = json.loads(data)
    values = message["event"]
    if values["timestamp"] is not None:
        values["timestamp"] = datetime.fromisoformat(values["timestamp"])
    return hotpath.Job(ingest.AlertEvent(**values), message["ip"], attempt=message["attempt"])


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_HEAD.pack(len(data)) + data)


def _receive(sock: socket.socket) -> bytes | None:
    """One frame, or None when the other end has gone."""
    head = _exactly(sock, _HEAD.size)
    if head is None:
        return None
    return _exactly(sock, _HEAD.unpack(head)[0])


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


class Writer:
    """The request threads' side: one socket per thread at a time, from a pool."""

    def __init__(self, process, sockets: list[socket.socket]):
        self.process = process
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for sock in sockets:
            self._free.put(sock)
        self.alive = True

    def run(self, job) -> None:
        """Have the writer write this job; on any failure the job stays FAILED, and
        `unsure` once it was handed over."""
        if not self.alive:
            return
        sock = self._free.get()
        try:
            _send(sock, encode(job))
            answer = _receive(sock)
        except OSError:
            answer = None
        if answer is None:
            job.unsure = True  # the writer may have committed it before it died
            sock.close()
            self.alive = False
            log.warning("the ingestion writer is gone; events are written in this process")
            return
        self._free.put(sock)
        reply = json.loads(answer)
        job.state, job.dedup_key = hotpath.JobState(reply["state"]), reply["dedup_key"]

    def stop(self) -> None:
        self.alive = False
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                break
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)


def start(config: dict | None, threads: int) -> Writer:
    """Spawn the writer (a fresh interpreter: no locks or threads of ours come with
    it) with one socketpair per request thread."""
    pairs = [socket.socketpair() for _ in range(threads)]
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_main, args=(config, [theirs for _, theirs in pairs], os.getpid()),
                              name="firebreak-ingest-writer", daemon=True)
    process.start()
    for _, theirs in pairs:
        theirs.close()
    return Writer(process, [ours for ours, _ in pairs])


def _main(config: dict | None, sockets: list[socket.socket], parent: int) -> None:
    try:  # Linux: end with the worker that started us, however it ends
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        return
    from app import create_app
    app = create_app(config)
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    with app.app_context():
        while selector.get_map():
            batch = []
            for key, _ in selector.select():
                data = _receive(key.fileobj)
                if data is None:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                batch.append((key.fileobj, decode(data)))
            if not batch:
                continue
            _write([job for _, job in batch])
            for sock, job in batch:
                written = job.state is hotpath.JobState.WRITTEN
                _send(sock, json.dumps({"state": job.state.value, "dedup_key": job.dedup_key if written else None})
                      .encode())


def init_app(app) -> None:
    """Let gunicorn.conf.py start this worker's writer (SQLite, INGEST_WRITER)."""
    if not app.config.get("INGEST_WRITER") or not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return

    def start_writer(threads: int) -> None:
        app.extensions["firebreak.writer"] = start(None, threads)

    app.extensions["firebreak.start_writer"] = start_writer


def _write(jobs: list[hotpath.Job]) -> None:
    """Write the jobs as a batch; what it leaves goes again as the next batch, in
    arrival order, while that writes something (a resolve of an alert the batch
    opened, a trigger after its key's resolve: the batch's own order left them). What
    is left still (a maintenance window, grouped alerts, …) is marked for the full path."""
    pending = jobs
    while pending:
        try:
            with write_intent():
                hotpath.write_batch(pending)
        except Exception:  # rolled back: each goes again in its worker
            log.warning("an ingestion batch of %d events was rolled back in the writer", len(pending), exc_info=True)
            return
        left = [job for job in pending if not job.dedup_key]
        for job in pending:
            job.state = hotpath.JobState.WRITTEN if job.dedup_key else hotpath.JobState.FULL
        if len(left) == len(pending):
            return
        pending = left
