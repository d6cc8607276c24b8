"""Stand-ins for what lies outside this machine: Twilio's REST API (a real HTTP server
on loopback that the real `twilio` client talks to) and an SMTP server (aiosmtpd).

The fake Twilio records what it was asked, answers like Twilio (201 with a sid),
can be told to fail (HTTP 500) or hang (a timeout), and signs the webhooks it
sends back (status callbacks, inbound SMS, call TwiML fetches and keypresses)
exactly as Twilio does.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+15005550006"
MAX_BODY = 1600  # Twilio refuses longer message bodies (error 21617)


@dataclass
class Sent:
    kind: str  # message or call
    sid: str
    to: str
    from_: str
    body: str | None
    url: str | None
    status_callback: str | None
    params: dict = field(repr=False)


class FakeTwilio:
    def __init__(self, auth_token: str = AUTH_TOKEN, port: int = 0):
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.sent: list[Sent] = []
        self.failures = 0          # answer this many requests with HTTP 500 first
        self.fail_always = False
        self.hang_seconds = 0.0    # sleep this long before answering (client timeouts)
        self.requests = 0
        self._lock = threading.Lock()
        self._counter = 0
        self._generation = 0  # bumped by reset(): a request still hanging from before is not recorded after it
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body go out in separate writes; with Nagle's algorithm on, the
            # body then waits for the client's delayed ACK (40 ms on Linux) on a kept-alive
            # connection, a stall Twilio's own servers do not have.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                status, body = fake._handle(self.path, params)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self.sent.clear()
            self.failures = 0
            self.fail_always = False
            self.hang_seconds = 0.0
            self.requests = 0

    def _handle(self, path: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests += 1
            fail = self.fail_always or self.failures > 0
            if self.failures > 0:
                self.failures -= 1
            hang = self.hang_seconds
            generation = self._generation
        if hang:
            time.sleep(hang)
        if fail:
            return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
        kind = "message" if path.endswith("/Messages.json") else "call" if path.endswith("/Calls.json") else None
        if kind is None or f"/Accounts/{ACCOUNT_SID}/" not in path:
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        if kind == "message" and len(params.get("Body") or "") > MAX_BODY:
            return 400, {"code": 21617, "message": "The concatenated message body exceeds the 1600 character limit",
                         "status": 400}
        with self._lock:
            self._counter += 1
            sid = ("SM" if kind == "message" else "CA") + f"{self._counter:032x}"
            if generation == self._generation:  # else an earlier test's request, answered late
                self.sent.append(Sent(kind, sid, params.get("To", ""), params.get("From", ""), params.get("Body"),
                                      params.get("Url"), params.get("StatusCallback"), params))
        return 201, {"sid": sid, "account_sid": ACCOUNT_SID, "to": params.get("To"), "from": params.get("From"),
                     "body": params.get("Body"), "status": "queued", "direction": "outbound-api",
                     "api_version": "2010-04-01", "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"}

    @property
    def messages(self) -> list[Sent]:
        return [s for s in self.sent if s.kind == "message"]

    @property
    def calls(self) -> list[Sent]:
        return [s for s in self.sent if s.kind == "call"]

    # --- webhooks back to the app, signed as Twilio signs them -----------------------

    def sign(self, url: str, params: dict) -> str:
        return self.validator.compute_signature(url, params)

    def post(self, url: str, params: dict, *, signature: str | None = None) -> tuple[int, str]:
        """POST form params to a live app URL over HTTP, signed unless told otherwise."""
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.sign(url, params) if signature is None else signature})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    @staticmethod
    def inbound_sms(from_: str, body: str, sid: str, to: str = FROM_NUMBER) -> dict:
        return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
                "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID,
                "From": from_, "ApiVersion": "2010-04-01"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self, port: int = 0):
        from aiosmtpd.controller import Controller
        self.messages = []
        self.refuse = False
        mailbox = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if mailbox.refuse:
                    return "451 4.3.0 Try again later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                mailbox.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 Message accepted for delivery"

        self.port = port or free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        self.messages.clear()
        self.refuse = False


def wait_for(condition, timeout: float, what: str, step: float = 0.1):
    """Poll `condition` until it returns something truthy (returned), or fail after
    `timeout` seconds naming `what` was awaited. For real processes and servers only:
    anything in process sets the clock instead of waiting."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(step)


class WebhookReceiver:
    """A loopback HTTP server for outbound webhooks: keeps each POST or GET (method, path,
    headers, body) and answers with `answers` in turn, each a status or (status, headers); then
    `default`. A 3xx without its own Location points at `location`."""

    def __init__(self, default: int = 204):
        self.received: list[dict] = []
        self.answers: list = []
        self.default = default
        self.location = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                          "body": body})
                answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                if 300 <= status < 400 and "Location" not in headers:
                    headers = {**headers, "Location": receiver.location}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
