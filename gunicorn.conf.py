"""Gunicorn settings every start shares (`make run`, scripts/serve.sh, `make bench`):
gunicorn reads this file from the working directory by itself; flags still win.

Garbage collection. A full collection walks every object a worker holds (the app,
SQLAlchemy's mappers, Jinja's templates, the status page's cache, …) with the GIL
held, so every thread of the worker waits for it; on a page re-rendered every second
those pauses set the p99 (bench/statuspage.py measured about 80-90 ms against about
30 ms here). Freezing what exists once the app is loaded takes it out of every later
collection, and a higher first threshold makes collections rarer.

Templates. The busiest pages' templates are compiled before the freeze
(app.templating.warm), so a worker's first visitor does not wait for them.
"""
import gc


def post_worker_init(worker):
    extensions = getattr(worker.wsgi, "extensions", {})  # none in bench/_minimal.py's app
    warm = extensions.get("firebreak.warm")
    if warm is not None:
        warm()
    start_writer = extensions.get("firebreak.start_writer")  # SQLite: ingestion's writer process
    if start_writer is not None:
        start_writer(worker.cfg.threads)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def worker_exit(server, worker):
    writer = getattr(worker.wsgi, "extensions", {}).get("firebreak.writer")
    if writer is not None:
        writer.stop()
