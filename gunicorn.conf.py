"""Gunicorn settings every start shares (`make run`, scripts/serve.sh, `make bench`):
gunicorn reads this file from the working directory by itself; flags still win.

Garbage collection: once the app is loaded, a worker freezes what it holds
(app.patches.after_worker_init, the `gc_freeze` patch).

Templates. The busiest pages' templates are compiled before the freeze
(app.templating.warm), so a worker's first visitor does not wait for them.
"""
from app import patches


def post_worker_init(worker):
    extensions = getattr(worker.wsgi, "extensions", {})  # none in bench/_minimal.py's app
    warm = extensions.get("firebreak.warm")
    if warm is not None:
        warm()
    start_writer = extensions.get("firebreak.start_writer")  # SQLite: ingestion's writer process
    if start_writer is not None:
        start_writer(worker.cfg.threads)
    patches.after_worker_init()


def worker_exit(server, worker):
    writer = getattr(worker.wsgi, "extensions", {}).get("firebreak.writer")
    if writer is not None:
        writer.stop()
