"""Gunicorn settings every start shares (`make run`, scripts/serve.sh, `make bench`):
gunicorn reads this file from the working directory by itself; flags still win.

Garbage collection: once the app is loaded, a worker freezes what it holds
(app.patches.after_worker_init, the `gc_freeze` patch).

Templates. The busiest pages' templates are compiled before the freeze
(app.templating.warm), so a worker's first visitor does not wait for them.

Logs. With LOG_FORMAT=json, gunicorn's error and access logs and the app's records are
one JSON object per line (app.logs.GUNICORN_LOGCONFIG), the access record with the
request's id.

Files. No control socket (gunicorn 27 makes one under $HOME, read-only in the image
and shared by every gunicorn of a user) and the workers' heartbeat files in /dev/shm,
a tmpfs also in a read-only container.

Metrics (app.metrics). Every process of one gunicorn (its workers, their ingestion
writer processes) records into PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker
adds them up. When it is not set, the master makes a fresh directory before the first
worker starts and removes it as it exits. It must be set before prometheus_client is
first imported, which is why the app imports app.metrics only in create_app, and
why a worker refuses to start when that went wrong (`--preload` would load the app
before `on_starting`).
"""
import os
import shutil
import tempfile

from app import logs, patches
from app.config import log_format

if log_format() == "json":
    logconfig_dict = logs.GUNICORN_LOGCONFIG

control_socket_disable = True
worker_tmp_dir = "/dev/shm"

_made_metrics_dirs: list[str] = []


def on_starting(server):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = tempfile.mkdtemp(prefix="firebreak-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        _made_metrics_dirs.append(path)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def post_worker_init(worker):
    from app import metrics
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not metrics.multiprocess():
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set "
                           "(gunicorn --preload?): each worker would report only its own metrics")
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


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for path in _made_metrics_dirs:
        shutil.rmtree(path, ignore_errors=True)
