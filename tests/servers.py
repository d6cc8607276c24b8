"""Real servers the tests start as processes of their own, on free loopback ports:
gunicorn serving the app (with gunicorn.conf.py, as in production), and redis-server
from the OS packages. Each is stopped when its `with` block ends."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.fakes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str, process: subprocess.Popen, folder: Path) -> bool:
    assert process.poll() is None, f"gunicorn exited: {(folder / 'stderr').read_text()[-2000:]}"
    try:
        urllib.request.urlopen(url + "/healthz/live", timeout=5).close()
        return True
    except OSError:
        return False


@contextmanager
def gunicorns(folders: list[Path], settings: dict, *, sqlite_template: Path) -> Iterator[list[str]]:
    """A gunicorn with one worker per folder, all started at once, each on a copy of
    the migrated SQLite file in its folder and with these settings in its
    environment; yields their addresses once each answers. Their stdout and stderr
    are kept in their folders ("stdout", "stderr")."""
    processes, urls = [], []
    try:
        for folder in folders:
            urls.append(_start_gunicorn(folder, settings, sqlite_template, processes))
        for url, process, folder in zip(urls, processes, folders):
            wait_for(lambda: _answers(url, process, folder), 60, f"gunicorn on {url}", step=0.05)
        yield urls
    finally:
        for process in processes:
            _stop(process)


def _start_gunicorn(folder: Path, settings: dict, sqlite_template: Path, processes: list) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "firebreak.db"
    shutil.copyfile(sqlite_template, database)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "FIREBREAK_INSTANCE_PATH": str(folder),
           "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"), **settings}
    with open(folder / "stdout", "wb") as stdout, open(folder / "stderr", "wb") as stderr:
        processes.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--worker-class", "gthread", "--threads", "2", "--access-logfile", "-", "wsgi:app"],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr))
    return f"http://127.0.0.1:{port}"


def _listening(port: int, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "redis-server exited"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """redis-server keeping nothing on disk; yields its URL and process (a test may
    stop it early)."""
    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--protected-mode", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port, process), 20, "redis-server", step=0.02)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        _stop(process)
