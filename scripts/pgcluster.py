#!/usr/bin/env python3
"""Run a command beside a throwaway PostgreSQL cluster on loopback.

    python scripts/pgcluster.py run -- pytest -n auto

Starts a fresh cluster in a temporary directory (as the `postgres` user when run as
root, since initdb refuses root), exports FIREBREAK_TEST_POSTGRES_URL for the
command, and stops and removes the cluster however the command ends, Ctrl-C and
SIGTERM included. Without PostgreSQL binaries it says so and fails, unless
FIREBREAK_SKIP_POSTGRES=1 asks to run on SQLite only.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def find_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="firebreak-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.started = False

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> str:
        self.sock.mkdir()
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "app", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8")
        self.resume()
        self._run(self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "app", "firebreak")
        return f"postgresql+psycopg://app@127.0.0.1:{self.port}/firebreak"

    def resume(self) -> None:
        """Start the server (again, after `pause`) on the same port and data."""
        options = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-w", "-l", self.root / "server.log",
                  "-o", options, "start")
        self.started = True

    def pause(self) -> None:
        """Stop the server, keeping its data (the load runs' "database unreachable")."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.started = False

    def stop(self) -> None:
        """Stop the server if it runs, and remove the cluster."""
        if self.started:
            try:
                self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError as error:
                print(f"pgcluster: stopping failed: {error.stderr.decode(errors='replace')}", file=sys.stderr)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


def run(command: list[str]) -> int:
    bindir = find_bin()
    env = dict(os.environ)
    if bindir is None:
        if env.get("FIREBREAK_SKIP_POSTGRES") == "1":
            print("pgcluster: no PostgreSQL; running on SQLite only", file=sys.stderr)
            return subprocess.call(command, env=env)
        print("pgcluster: PostgreSQL binaries not found (apt-get install postgresql)", file=sys.stderr)
        return 2
    cluster = Cluster(bindir)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        url = cluster.start()
        print(f"pgcluster: PostgreSQL ({bindir.parent.name}) on 127.0.0.1:{cluster.port}", file=sys.stderr)
        env["FIREBREAK_TEST_POSTGRES_URL"] = url
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
            return 130
    except subprocess.CalledProcessError as error:
        print(f"pgcluster: {' '.join(map(str, error.cmd))} failed:\n{error.stderr.decode(errors='replace')}",
              file=sys.stderr)
        return 2
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    return run(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
