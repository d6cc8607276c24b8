"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""
import os
import sys

from app import create_app

app = create_app()

# `make run` runs the engine inside the web process; the database lease keeps it to
# one active engine however many workers start one. Never under the `flask` command.
if app.config["ENGINE_IN_PROCESS"] and "flask" not in os.path.basename(sys.argv[0]):
    from app.engine.runner import start_in_background
    start_in_background(app)
