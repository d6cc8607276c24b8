"""The fake Twilio or the SMTP server of tests/fakes.py as a process of its own, so a
run can take it down (SIGKILL: connections refused, as when the provider is
unreachable) and bring it back on the same port.

    python -m load.fakes twilio --port P --log FILE [--callbacks]
    python -m load.fakes smtp --port P --log FILE

Every request is one JSON line in FILE, written and flushed before the answer goes
back, so what the provider took is known even when the process is killed:

    {"t": 1764256320.12, "kind": "sms", "to": "+1555…", "sid": "SM…", "status": 201, "url": null}
    {"t": …, "kind": "email", "to": "dana@example.com", "sid": "<message id>", "status": 250}

A run counts pages from these files: a sid that no outbox row recorded was sent
again later (a duplicate) or belongs to a row the database no longer has. With
`--callbacks` the fake Twilio posts a signed "delivered" (SMS) or "completed"
(call) status callback a moment after each accepted request, as Twilio does.
"""
from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
import time
from pathlib import Path

from tests.fakes import FakeTwilio, Mailbox


class Log:
    def __init__(self, path: Path):
        self.file = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, **record) -> None:
        line = json.dumps({"t": round(time.time(), 4), **record})
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


class LoggedTwilio(FakeTwilio):
    def __init__(self, log: Log, port: int, callbacks: bool):
        self.log = log
        self.callbacks: queue.Queue | None = queue.Queue() if callbacks else None
        super().__init__(port=port)
        self._counter = time.time_ns() // 1000  # sids unique across restarts of this process
        if self.callbacks is not None:
            for _ in range(4):
                threading.Thread(target=self._post_callbacks, daemon=True).start()

    def _handle(self, path: str, params: dict) -> tuple[int, dict]:
        status, body = super()._handle(path, params)
        kind = "sms" if path.endswith("/Messages.json") else "call" if path.endswith("/Calls.json") else "other"
        self.log.write(kind=kind, to=params.get("To"), sid=body.get("sid"), status=status, url=params.get("Url"),
                       callback=params.get("StatusCallback"), body=(params.get("Body") or "")[:160])
        if status == 201 and self.callbacks is not None and params.get("StatusCallback"):
            self.callbacks.put((time.monotonic() + 0.3, kind, body["sid"], params["StatusCallback"]))
        return status, body

    def _post_callbacks(self) -> None:
        while True:
            due, kind, sid, url = self.callbacks.get()
            time.sleep(max(0.0, due - time.monotonic()))
            params = ({"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "x"} if kind == "sms"
                      else {"CallSid": sid, "CallStatus": "completed", "AccountSid": "x"})
            try:
                status, _ = self.post(url, params)
            except OSError as error:  # the app is down (a fault run): Twilio would retry later; we don't
                status = f"{type(error).__name__}"
            self.log.write(kind="callback", sid=sid, status=status)


class LoggedMessages(list):
    def __init__(self, log: Log):
        super().__init__()
        self.log = log

    def append(self, message) -> None:
        super().append(message)
        self.log.write(kind="email", to=str(message["To"]), sid=str(message["Message-ID"]).strip("<>"), status=250,
                       subject=str(message["Subject"])[:160])
        if len(self) > 1000:
            del self[:500]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.fakes")
    parser.add_argument("which", choices=["twilio", "smtp"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--callbacks", action="store_true")
    args = parser.parse_args(argv)
    log = Log(args.log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.which == "twilio":
        fake = LoggedTwilio(log, args.port, args.callbacks)
    else:
        fake = Mailbox(port=args.port)
        fake.messages = LoggedMessages(log)
    print(f"ready {args.which} {args.port}", flush=True)
    stop.wait()
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
