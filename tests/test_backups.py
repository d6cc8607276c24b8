"""Continuous backups of the SQLite file with Litestream (LITESTREAM_REPLICA_URL).

For real: a database with an integration key is replicated once to a file replica;
scripts/serve.sh, started where no database file is, restores it from the replica
(only then do its events find their key) and runs under `litestream replicate`; it
takes events for a few seconds, everything is SIGKILLed at once, and `litestream
restore` into a new file must hold every event answered 202 longer than the
documented window (about 2 s) plus UPLOAD_SLACK_SECONDS before the kill. `flask backup` works beside it meanwhile. The
replica settings are checked on their own too (app.replication)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from app.config import ConfigError
from app.extensions import db
from app.replication import LOSS_WINDOW_SECONDS, config, database_path
from app.services.models import IntegrationKey
from tests.factories import make_service
from tests.fakes import wait_for
from tests.served import BIN, ROOT, Served

KEY = "b4" * 16
LOAD_SECONDS = 3
SENDERS = 4
# The window is Litestream's two intervals; its own work (reading the WAL frames,
# writing and uploading their file) comes on top, and on a busy machine takes up to
# about a second more.
UPLOAD_SLACK_SECONDS = 1
OWED_AFTER = LOSS_WINDOW_SECONDS + UPLOAD_SLACK_SECONDS


def test_the_replica_is_a_path_a_file_url_or_an_s3_url(tmp_path):
    database = database_path(f"sqlite:///{tmp_path / 'f.db'}")
    assert database == tmp_path / "f.db"
    [file_replica] = config(database, str(tmp_path / "replica"))["dbs"]
    assert file_replica["path"] == str(database)
    assert file_replica["replica"] == {"type": "file", "path": str(tmp_path / "replica"), "sync-interval": "1s"}
    [same] = config(database, f"file://{tmp_path / 'replica'}")["dbs"]
    assert same["replica"] == file_replica["replica"]
    s3 = "s3://backups/firebreak?endpoint=https://fly.storage.tigris.dev&region=auto"
    assert config(database, s3)["dbs"][0]["replica"] == {"url": s3, "sync-interval": "1s"}
    for refused in ("gs://bucket/db", "s3:///no-bucket", "file://"):
        with pytest.raises(ConfigError, match="LITESTREAM_REPLICA_URL"):
            config(database, refused)


def test_only_a_sqlite_file_is_replicated():
    for url in ("postgresql+psycopg://app@127.0.0.1/firebreak", "postgres://app@db/firebreak"):
        with pytest.raises(ConfigError, match="pg_dump"):
            database_path(url)
    with pytest.raises(ConfigError, match="by its path"):
        database_path("sqlite://")


@pytest.mark.realtime
def test_serve_refuses_litestream_on_postgresql_before_starting_anything(tmp_path):
    url = "postgresql+psycopg://app@127.0.0.1:1/firebreak"
    served = Served(tmp_path, url, LITESTREAM_REPLICA_URL=str(tmp_path / "replica"))
    try:
        assert served.process.wait(timeout=60) == 2
    finally:
        served.close()
    assert "back PostgreSQL up with pg_dump" in served.output()
    assert not (tmp_path / "replica").exists()


def loaded(answered: list[tuple[str, float]], started: float) -> bool:
    """LOAD_SECONDS of events, and enough of them answered before the window (and its
    slack) for the comparison to mean something (a busy machine may be slow to start
    answering)."""
    now = time.monotonic()
    settled = sum(1 for _, at in answered if at <= now - OWED_AFTER)
    return now - started >= LOAD_SECONDS and settled >= 50 or now - started > 30


def alert_keys(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in conn.execute("SELECT dedup_key FROM alerts")}


@pytest.mark.realtime
def test_a_restore_from_the_replica_holds_every_event_answered_before_the_window(app, database_url, tmp_path):
    intake = make_service("intake", with_key=False)
    db.session.add(IntegrationKey(service=intake, key=KEY, name="test"))
    db.session.commit()
    db.session.remove()
    replica = tmp_path / "replica"
    once = tmp_path / "once.yml"
    once.write_text(json.dumps(config(Path(database_url.removeprefix("sqlite:///")), str(replica))))
    seeded = subprocess.run([str(BIN / "litestream"), "replicate", "-once", "-config", str(once)],
                            capture_output=True, text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    database = tmp_path / "elsewhere.db"  # a new machine: the volume is empty
    served = Served(tmp_path, f"sqlite:///{database}", LITESTREAM_REPLICA_URL=str(replica))
    answered: list[tuple[str, float]] = []  # (dedup key, when its 202 arrived)
    stop = threading.Event()

    def send(sender: int) -> None:
        for n in range(100_000):
            if stop.is_set():
                return
            key = f"s{sender}-{n}"
            try:
                status = served.trigger(KEY, key, timeout=10)
            except OSError:  # the kill
                return
            if status == 202:
                answered.append((key, time.monotonic()))

    senders = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    try:
        served.wait_ready()
        started = time.monotonic()
        for sender in senders:
            sender.start()
        wait_for(lambda: answered, 30, "the first event to be answered")
        copy = tmp_path / "copy.db"  # a one-off copy, taken beside Litestream under the load
        backup = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "backup", str(copy)], cwd=ROOT,
                                env=served.env, capture_output=True, text=True, timeout=60)
        while not loaded(answered, started):
            time.sleep(0.1)
        killed_at = time.monotonic()
        served.kill_all()
    finally:
        stop.set()
        for sender in senders:
            if sender.is_alive():
                sender.join(15)
        served.close()
    assert backup.returncode == 0, backup.stdout + backup.stderr
    # serve.sh wrote Litestream's configuration over the last start's, in its metrics folder.
    assert (Path(served.env["PROMETHEUS_MULTIPROC_DIR"]) / "litestream.yml").is_file()
    assert alert_keys(copy) >= {answered[0][0]}  # an event answered before the copy began

    restored = tmp_path / "restored.db"
    restore = subprocess.run([str(BIN / "litestream"), "restore", "-o", str(restored), f"file://{replica}"],
                             capture_output=True, text=True, timeout=60)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    kept = alert_keys(restored)
    owed = [key for key, at in answered if at <= killed_at - OWED_AFTER]
    assert len(owed) >= 50, f"only {len(owed)} events answered before the window: {served.output()[-3000:]}"
    missing = [key for key in owed if key not in kept]
    assert not missing, f"{len(missing)} of {len(owed)} answered events lost, e.g. {missing[:5]}"
