"""The yardstick: the least a Flask JSON endpoint can do with an event.

It reads and parses the JSON body, as any real endpoint must, and answers with a
small JSON object; no database, no validation. Served by the same gunicorn settings
as Firebreak in the same run, it is what "N% of a minimal endpoint" is measured against.
"""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/v2/enqueue")
def enqueue():
    request.get_json(force=True)
    return jsonify({"status": "ok"})
