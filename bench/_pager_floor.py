"""The floor for paging: the least a program can do to turn an event into a page
with Flask, gunicorn and the `twilio` client on this machine.

`POST /v2/enqueue` parses the event, and in the request itself sends one SMS
through Firebreak's own Twilio provider (the real `twilio` client, one per thread)
to the person the routing key names (bench/escalation.py: one person per service),
then answers 202. No database, no incident, no escalation, no engine, nothing kept:
an event answered is a page already sent. bench/escalation.py serves it with the
same gunicorn settings as Firebreak and sends it the same burst, so the two
latencies stand side by side; what the floor takes, no design of Firebreak's could
save on this machine.
"""
from __future__ import annotations

import os
import threading

from flask import Flask, jsonify, request

from app.notify.providers import Twilio

app = Flask(__name__)
_local = threading.local()


def _twilio() -> Twilio:
    provider = getattr(_local, "twilio", None)
    if provider is None:
        provider = _local.twilio = Twilio(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"],
                                          os.environ["TWILIO_FROM_NUMBER"], os.environ["TWILIO_API_BASE"], 10.0)
    return provider


@app.get("/")
def ready():
    return "ready"


@app.post("/v2/enqueue")
def enqueue():
    event = request.get_json(force=True)
    n = int(event["routing_key"][3:])  # bench/escalation.py's key_of(n)
    _twilio().send_sms(f"+1555{n:07d}", f"[SEV-3] {event['payload']['summary']} - reply 1A to acknowledge")
    return jsonify({"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}), 202
