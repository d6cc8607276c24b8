"""What the benchmarks share: gunicorn servers, wrk runs, free ports, medians.

Nothing here reaches beyond loopback. Servers and load generators are started as
child processes and always stopped, whatever happens to the run.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class BenchError(RuntimeError):
    pass


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise BenchError(f"`{binary}` is not installed: `scripts/system-packages.sh bench` installs the OS "
                         f"package {package} (`make bench` does it for you)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def median(values):
    return statistics.median(values) if values else float("nan")


class Gunicorn:
    """`gunicorn <settings> <app>` on a free loopback port, for a `with` block."""

    def __init__(self, app: str, settings: list[str], env: dict[str, str], log: Path):
        self.app, self.settings, self.env, self.log = app, settings, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
                 *self.settings, self.app],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn {self.app} exited with {self.process.returncode}:\n{self.tail()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/")
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.1)
            finally:
                connection.close()
        raise BenchError(f"gunicorn {self.app} did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
        try:
            self.process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_wrk(url: str, script: Path, args: list[str], *, threads: int, connections: int,
            limit_seconds: int = 300, stall_seconds: float = 20) -> dict:
    """Run wrk with a script that counts its own events (see bench/enqueue.lua).

    The script's threads each say `thread-done` on stderr once all their answers are
    in; wrk itself would sleep out its whole -d, so it is interrupted (SIGINT, which
    makes it report) as soon as every thread is done, or once nothing has been answered
    for `stall_seconds` (a lost request: the run is then reported incomplete).
    Returns the script's JSON line.
    """
    wrk = require("wrk", "wrk")
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{limit_seconds}s", "--timeout", "30s",
               "-s", str(script), url, "--", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    notes: list[str] = []
    output: list[str] = []
    all_done = threading.Event()
    last_heard = [time.monotonic()]

    def watch_stderr():
        finished = 0
        for line in process.stderr:
            last_heard[0] = time.monotonic()
            if line.strip() == "thread-done":
                finished += 1
                if finished == threads:
                    all_done.set()
                    process.send_signal(signal.SIGINT)
            elif line.strip() != "progress":
                notes.append(line.rstrip())

    readers = [threading.Thread(target=watch_stderr, daemon=True),
               threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        while process.poll() is None:
            if not all_done.is_set() and time.monotonic() - last_heard[0] > stall_seconds:
                notes.append(f"no answer for {stall_seconds:.0f} s: stopped")
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)
                break
            time.sleep(0.01)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchError("wrk did not stop when asked") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()
    stdout = "".join(output)
    line = next((row for row in stdout.splitlines() if row.startswith("BENCH ")), None)
    if line is None:
        raise BenchError("wrk printed no result:\n" + stdout + "\n".join(notes))
    result = json.loads(line.removeprefix("BENCH "))
    result["notes"] = notes
    if not all_done.is_set() or not result["complete"]:
        raise BenchError(f"wrk stopped before every event was answered ({result['answered']} of "
                         f"{result['issued']} answered):\n" + "\n".join(notes))
    result["events_per_s"] = result["accepted"] / result["elapsed"] if result["elapsed"] else 0.0
    return result


def environment(**values: str) -> dict[str, str]:
    """This process's environment without settings that would change what is measured."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "ENGINE_IN_PROCESS", "PROXY_COUNT", "SMTP_URL", "TWILIO_ACCOUNT_SID",
                        "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_API_BASE", "PUBLIC_BASE_URL"}}
    env.update(values)
    return env


def in_workdir(prefix: str, body) -> bool:
    """`body(work)` with wrk required and a temporary folder removed afterwards."""
    import tempfile
    require("wrk", "wrk")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
