"""scripts/serve.sh started as a host starts it (its own process group, settings in
the environment) on a test's SQLite file, for what only the whole start shows:
graceful shutdown (tests/test_serve.py) and Litestream (tests/test_backups.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.fakes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "serve-test-secret-key-not-for-production"
# Settings of the developer's own start that must not leak into the test's.
OWN_SETTINGS = {"ENGINE_IN_PROCESS", "LITESTREAM_REPLICA_URL", "PROMETHEUS_MULTIPROC_DIR"}


class Served:
    """serve.sh with one web worker; stopped with SIGKILL (its whole group) by
    `close()` if the test has not stopped it."""

    def __init__(self, tmp_path: Path, database_url: str, **settings: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {name: value for name, value in os.environ.items() if name not in OWN_SETTINGS}
        self.env = {**inherited, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                    "DATABASE_URL": database_url, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": self.url,
                    "FIREBREAK_INSTANCE_PATH": str(tmp_path / "instance"), "PORT": str(self.port),
                    "WEB_WORKERS": "1", "WEB_THREADS": "4", "ENGINE_INTERVAL_SECONDS": "0.25",
                    # Not there yet, as in a fresh container: serve.sh must make it.
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **settings}
        self.log = tmp_path / "serve.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], cwd=ROOT, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        assert self.process.poll() is None, f"serve.sh exited ({self.process.returncode}):\n{self.output()[-4000:]}"
        try:
            with urllib.request.urlopen(self.url + "/healthz/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(self.ready, timeout, "serve.sh to answer /healthz/ready")

    def trigger(self, routing_key: str, dedup_key: str, timeout: float = 30) -> int:
        """POST one PagerDuty trigger; the status it was answered with."""
        body = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key,
                "payload": {"summary": f"Disk full ({dedup_key})", "source": "db-1", "severity": "warning"}}
        request = urllib.request.Request(self.url + "/v2/enqueue", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def kill_all(self) -> None:
        """SIGKILL to every process of the start at once, as a machine that dies."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill_all()
        else:  # the group may outlive its leader (a child that did not stop)
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
