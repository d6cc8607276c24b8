"""The system under test, as the deployment runs it: gunicorn with several gthread
workers, the engine as its own process, a fake Twilio and an SMTP server as
processes of their own, on a fresh SQLite file or a throwaway PostgreSQL cluster
(scripts/pgcluster.py). Everything listens on loopback and is stopped however a
run ends; every process writes its output to a file in the run's directory, which
the checks read afterwards ("database is locked", tracebacks).
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench._harness import BIN, ROOT, BenchError, environment, free_port
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

SECRET = "load-secret-key-not-for-production"
USER_AGENT = "Mozilla/5.0 (load test browser)"


def _pgcluster():
    spec = importlib.util.spec_from_file_location("pgcluster", ROOT / "scripts" / "pgcluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Proc:
    """A child process with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict, log: Path):
        self.name, self.args, self.env, self.log = name, args, env, log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: no handler runs."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait()

    def kill_group(self) -> None:
        """SIGKILL to the process and every child it started (gunicorn's workers): the
        machine or container it ran on gone at once."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 35) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it does not go."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class HealthSample:
    at: float          # wall clock (time.time())
    status: int | None  # None: no answer (connection refused, timeout)
    engine: str
    database: bool
    error: str = ""


@dataclass
class HealthWatch:
    """/healthz polled every `every` seconds in a thread, for the whole of a scenario."""

    url: str
    every: float = 0.5
    samples: list[HealthSample] = field(default_factory=list)
    context: ssl.SSLContext | None = None  # an https url: the CA to verify it with

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(probe_health(self.url, context=self.context))
            self._stop.wait(self.every)

    def stop(self) -> list[HealthSample]:
        self._stop.set()
        self._thread.join(10)
        return self.samples


def probe_health(url: str, timeout: float = 5, context: ssl.SSLContext | None = None) -> HealthSample:
    at = time.time()
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=timeout, context=context) as answer:
            status, body = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        status = error.code
        try:
            body = json.loads(error.read())
        except ValueError:
            body = {}
    except OSError as error:
        return HealthSample(at, None, "unknown", False, type(error).__name__)
    return HealthSample(at, status, body.get("engine", {}).get("state", "?"),
                        bool(body.get("database", {}).get("ok")), json.dumps(body)[:300])


def children(proc: Proc) -> list[int]:
    """The process ids a running process started (gunicorn's workers)."""
    if not proc.alive():
        return []
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def _tree_cpu(data: Path) -> float:
    """CPU time of the PostgreSQL server of the cluster in `data` and its backends."""
    def stat(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    try:
        master = int((data / "postmaster.pid").read_text().split()[0])
        fields = stat(master)
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except (OSError, ValueError, IndexError):
        return 0.0
    ticks = sum(int(f) for f in fields[11:15])  # its own and its exited children's
    for child in children:
        try:
            ticks += sum(int(f) for f in stat(int(child))[11:13])
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Stack:
    """One run's servers. `start()` brings everything up; `close()` takes it all down."""

    def __init__(self, work: Path, backend: str = "sqlite", *, workers: int = 8, threads: int = 8,
                 lease: float = 15.0, interval: float = 0.5, stale: float = 45.0, callbacks: bool = True,
                 browsers: int = 0, database_dir: Path | None = None, extra_env: dict | None = None,
                 drill_seconds: float = 0):
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.workers, self.threads = workers, threads
        self.callbacks = callbacks
        self.browsers = browsers
        self.drill_seconds = drill_seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls: ssl.SSLContext | None = None  # what verifies self.url when it is https
        self.ports = {"twilio": free_port(), "smtp": free_port()}
        self.fake_logs = {"twilio": work / "twilio.jsonl", "smtp": work / "smtp.jsonl"}
        self.fakes: dict[str, Proc] = {}
        self.web: Proc | None = None
        self.engines: list[Proc] = []
        self.engine_settled: bool | None = None  # whether the engine caught up before the load began
        self.settle_seconds = 0.0
        self.cluster = None
        self.database_dir = database_dir or work
        self.sqlite_path = self.database_dir / "firebreak.db"
        self._engine: sa.Engine | None = None
        self.seeded: dict = {}
        self.env = environment(
            SECRET_KEY=SECRET, FIREBREAK_INSTANCE_PATH=str(work / "instance"), PUBLIC_BASE_URL=self.url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
            TWILIO_API_BASE=f"http://127.0.0.1:{self.ports['twilio']}", SMTP_URL=f"smtp://127.0.0.1:{self.ports['smtp']}",
            MAIL_FROM="Firebreak <firebreak@example.com>", ENGINE_LEASE_SECONDS=str(lease),
            ENGINE_INTERVAL_SECONDS=str(interval), ENGINE_STALE_SECONDS=str(stale), PYTHONUNBUFFERED="1",
            **(extra_env or {}))
        self.env.pop("ENGINE_IN_PROCESS", None)

    # --- the database ----------------------------------------------------------------------

    def _database(self) -> str:
        if self.backend == "postgresql":
            module = _pgcluster()
            bindir = module.find_bin()
            if bindir is None:
                raise BenchError("PostgreSQL is not installed: scripts/system-packages.sh installs it")
            self.cluster = module.Cluster(bindir)
            return self.cluster.start()
        return f"sqlite:///{self.sqlite_path}"

    @property
    def db(self) -> sa.Engine:
        """The harness's own connection to the database, for counting."""
        if self._engine is None:
            self._engine = sa.create_engine(self.env["DATABASE_URL"], poolclass=sa.pool.NullPool)
        return self._engine

    def rows(self, sql: str, **params) -> list:
        with self.db.connect() as conn:
            return conn.execute(sa.text(sql), params).fetchall()

    def one(self, sql: str, **params):
        return self.rows(sql, **params)[0][0]

    # --- starting and stopping ----------------------------------------------------------------

    def start(self, engines: int = 1) -> "Stack":
        try:
            self.env["DATABASE_URL"] = self._database()
            seeded = subprocess.run([str(BIN / "python"), "-m", "load.seed", str(self.browsers), USER_AGENT,
                                     str(self.drill_seconds)],
                                    cwd=ROOT, env=self.env, capture_output=True, text=True)
            if seeded.returncode:
                raise BenchError(f"seeding failed:\n{seeded.stdout[-2000:]}{seeded.stderr[-4000:]}")
            self.seeded = json.loads(seeded.stdout.strip().splitlines()[-1])
            for which in ("twilio", "smtp"):
                self.start_fake(which)
            self.start_web()
            for _ in range(engines):
                self.start_engine()
            self.wait_healthy()
            started = time.monotonic()
            self.engine_settled = self.wait_engine_caught_up()
            self.settle_seconds = time.monotonic() - started
        except BaseException:
            self.close()
            raise
        return self

    def start_fake(self, which: str) -> Proc:
        args = [str(BIN / "python"), "-m", "load.fakes", which, "--port", str(self.ports[which]),
                "--log", str(self.fake_logs[which])]
        if which == "twilio" and self.callbacks:
            args.append("--callbacks")
        proc = Proc(which, args, self.outside_env(), self.work / f"{which}.log")
        self.fakes[which] = proc
        deadline = time.monotonic() + 20
        while f"ready {which}" not in proc.output():
            if not proc.alive() or time.monotonic() > deadline:
                raise BenchError(f"the fake {which} did not start:\n{proc.output()[-2000:]}")
            time.sleep(0.05)
        return proc

    def start_web(self) -> Proc:
        self.web = self.start_gunicorn("gunicorn", self.port)
        return self.web

    def start_gunicorn(self, name: str, port: int, *extra: str) -> Proc:
        """A gunicorn on `port`, returned once it answers with all its workers started."""
        args = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(self.workers),
                "--worker-class", "gthread", "--threads", str(self.threads), "--log-level", "warning",
                "--graceful-timeout", "20", *extra, "wsgi:app"]
        proc = Proc(name, args, self.env, self.work / f"{name}.log")
        deadline = time.monotonic() + 60
        while True:
            sample = probe_health(f"http://127.0.0.1:{port}", timeout=2)
            if sample.status is not None and len(children(proc)) >= self.workers:
                return proc
            if not proc.alive() or time.monotonic() > deadline:
                raise BenchError(f"{name} did not start:\n{proc.output()[-3000:]}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        return children(self.web) if self.web is not None else []

    def outside_env(self) -> dict:
        """The environment of what stands for the world outside (the fake providers)."""
        return self.env

    def start_engine(self) -> Proc:
        args = [str(BIN / "flask"), "--app", "wsgi", "engine", "run"]
        proc = Proc(f"engine-{len(self.engines)}", args, self.env, self.work / f"engine-{len(self.engines)}.log")
        self.engines.append(proc)
        return proc

    def wait_healthy(self, timeout: float = 60) -> HealthSample:
        deadline = time.monotonic() + timeout
        while True:
            sample = probe_health(self.url, context=self.tls)
            if sample.status == 200:
                return sample
            if time.monotonic() > deadline:
                raise BenchError(f"/healthz did not become 200 within {timeout:.0f} s: {sample}")
            time.sleep(0.2)

    def wait_engine_caught_up(self, timeout: float = 120, quiet_ms: float = 50) -> bool:
        """Until the engine's cycles are quick (three in a row under `quiet_ms`): it has
        done the due work the seed left (handovers, reminders, rollups, the demo's
        incidents), as an engine that has been running all along would have. Without
        this, the first incidents of a run waited seconds behind that catch-up and set
        the first-page p99. False (and the run goes on) if it never settles."""
        deadline, quiet, last = time.monotonic() + timeout, 0, None
        while time.monotonic() < deadline:
            rows = self.rows("SELECT cycles, last_cycle_ms FROM engine_leases WHERE name = 'engine'")
            if rows and rows[0][0] != last:
                last = rows[0][0]
                quiet = quiet + 1 if rows[0][1] is not None and rows[0][1] < quiet_ms else 0
                if quiet >= 3:
                    return True
            time.sleep(0.1)
        return False

    def lease(self) -> dict | None:
        rows = self.rows("SELECT holder, epoch, acquired_at, expires_at, heartbeat_at FROM engine_leases "
                         "WHERE name = 'engine'")
        if not rows:
            return None
        holder, epoch, acquired, expires, beat = rows[0]
        return {"holder": holder, "epoch": epoch, "acquired_at": acquired, "expires_at": expires,
                "heartbeat_at": beat, "pid": int(holder.split(":")[1])}

    def close(self) -> None:
        for engine in self.engines:
            engine.stop(timeout=10)
        if self.web is not None:
            self.web.stop()
        for fake in self.fakes.values():
            fake.stop(timeout=10)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each part has used so far."""
        def of(pid: int) -> float:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        found = {"web workers": sum(of(pid) for pid in self.worker_pids()),
                 "engine": sum(of(proc.pid) for proc in self.engines if proc.alive()),
                 "fakes": sum(of(proc.pid) for proc in self.fakes.values() if proc.alive())}
        if self.cluster is not None:
            found["postgresql"] = _tree_cpu(self.cluster.data)
        return {name: round(value, 1) for name, value in found.items()}

    # --- what the logs say ------------------------------------------------------------------

    def logs(self) -> dict[str, str]:
        found = {}
        for path in sorted(self.work.glob("*.log")):
            found[path.stem] = path.read_text(errors="replace")
        return found

    def log_problems(self) -> dict[str, int]:
        """Counts, over every process's output, of what must never appear."""
        text = "\n".join(self.logs().values())
        return {"database is locked": text.count("database is locked"),
                "Traceback": text.count("Traceback (most recent call last)"),
                "WORKER TIMEOUT": text.count("WORKER TIMEOUT")}

    def fake_records(self, which: str) -> list[dict]:
        path = self.fake_logs[which]
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
