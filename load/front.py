"""The production layout on one machine: Caddy (the OS package) terminating TLS with
its internal CA in front of several gunicorn processes, and the engines, on one
PostgreSQL: load/stack.py's Stack with a front.

Caddy runs deploy/Caddyfile, the file compose.yaml mounts, with only its addresses
set from the environment (free loopback ports, these gunicorns as upstreams). Its
data and config folders are the run's own (XDG_DATA_HOME, XDG_CONFIG_HOME) and the
Caddyfile says skip_install_trust, so the CA it makes never reaches the machine's
trust store. Clients verify Caddy's certificate against that CA's root, as a
monitoring system given the root would: the harness through `tls`, the fake Twilio
(its status callbacks come in through Caddy) through SSL_CERT_FILE.

The app behind it is set as behind any proxy: PUBLIC_BASE_URL is the https address
Caddy serves, and PROXY_COUNT=1 trusts the one X-Forwarded-For/-Proto Caddy adds.
"""
from __future__ import annotations

import os
import shutil
import ssl
import time
from pathlib import Path

from bench._harness import ROOT, BenchError, free_port
from load.stack import Proc, Stack, probe_health

CADDYFILE = ROOT / "deploy" / "Caddyfile"
SITE = "localhost"  # the name in the certificate Caddy's internal CA issues


def addresses(upstreams: list[str], https_port: int, http_port: int, admin_port: int) -> dict[str, str]:
    """What the Caddyfile's placeholders are set to here: Caddy on loopback ports, TLS
    from its internal CA, these gunicorns behind it."""
    return {"FIREBREAK_SITE": SITE, "FIREBREAK_TLS": "internal", "FIREBREAK_UPSTREAMS": " ".join(upstreams),
            "CADDY_HTTP_PORT": str(http_port), "CADDY_HTTPS_PORT": str(https_port), "CADDY_BIND": "127.0.0.1",
            "CADDY_ADMIN": f"127.0.0.1:{admin_port}"}


class Caddy:
    """`caddy run` on deploy/Caddyfile in front of `upstreams`, on loopback ports."""

    def __init__(self, work: Path, upstreams: list[str]):
        binary = shutil.which("caddy")
        if binary is None:
            raise BenchError("Caddy is not installed: `scripts/system-packages.sh prod` installs the OS package")
        self.home = work / "caddy"
        self.https_port = free_port()
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home),
                    "XDG_DATA_HOME": str(self.home / "data"), "XDG_CONFIG_HOME": str(self.home / "config"),
                    **addresses(upstreams, self.https_port, free_port(), free_port())}
        self.url = f"https://{SITE}:{self.https_port}"
        self.root = self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        self.args = [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        self.log = work / "caddy.log"
        self.proc: Proc | None = None

    def start(self, timeout: float = 60) -> ssl.SSLContext:
        """Start Caddy; once it serves the app over TLS, the context that verifies it."""
        self.proc = Proc("caddy", self.args, self.env, self.log)
        deadline = time.monotonic() + timeout
        while not self.root.exists():
            self._still_starting(deadline)
        context = ssl.create_default_context(cafile=str(self.root))
        while probe_health(self.url, timeout=2, context=context).status is None:
            self._still_starting(deadline)
        return context

    def _still_starting(self, deadline: float) -> None:
        if not self.proc.alive() or time.monotonic() > deadline:
            raise BenchError(f"caddy did not start:\n{self.proc.output()[-3000:]}")
        time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=10)


class FrontedStack(Stack):
    """Stack with `webs` gunicorn processes behind Caddy on PostgreSQL. `url` and
    `https_port` are Caddy's; `tls` verifies it; `webs` are the gunicorns, each with
    its access log in its own log file (which process served what)."""

    def __init__(self, work: Path, *, webs: int = 2, **settings):
        super().__init__(work, "postgresql", **settings)
        self.web_ports = [free_port() for _ in range(webs)]
        self.webs: list[Proc] = []
        self.caddy = Caddy(work, [f"127.0.0.1:{port}" for port in self.web_ports])
        self.url, self.https_port = self.caddy.url, self.caddy.https_port
        self.env.update(PUBLIC_BASE_URL=self.url, PROXY_COUNT="1")

    def outside_env(self) -> dict:
        return {**self.env, "SSL_CERT_FILE": str(self.caddy.root)}

    def start_web(self) -> Proc:
        for n, port in enumerate(self.web_ports, 1):
            self.webs.append(self.start_gunicorn(f"web{n}", port, "--access-logfile", "-"))
        self.web = self.webs[0]
        self.tls = self.caddy.start()
        return self.web

    def served(self, web: Proc, path: str = "/v2/enqueue") -> int:
        """How many requests for `path` this gunicorn answered (its access log)."""
        return sum(1 for line in web.output().splitlines() if f" {path} " in line)

    def close(self) -> None:
        self.caddy.stop()
        for web in self.webs[1:]:
            web.stop()
        super().close()
