"""Continuous backup of the SQLite file with Litestream (LITESTREAM_REPLICA_URL,
read by scripts/serve.sh): the configuration it runs `litestream replicate` and
`litestream restore` with.

    python -m app.replication CONFIG_PATH REPLICA_URL

writes the configuration to CONFIG_PATH and prints the database file's path; it
refuses, before anything starts, a DATABASE_URL that is not a SQLite file (PostgreSQL
is backed up with pg_dump) and a replica it cannot name (a path, a file:// URL or an
s3:// URL).

How much a crash can lose: Litestream reads new WAL frames every `monitor-interval`
and ships them every `sync-interval`, so a commit reaches the replica within about
both (2 s) plus the upload. The app suits it as it is: WAL mode, a busy timeout above
the 5 s Litestream asks for (app.database), and no checkpoint of its own but SQLite's
PASSIVE autocheckpoint, which cannot move past the read transaction Litestream holds.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.config import ConfigError

MONITOR_INTERVAL = "1s"
SYNC_INTERVAL = "1s"
LOSS_WINDOW_SECONDS = 2  # MONITOR_INTERVAL + SYNC_INTERVAL, as docs/reliability.md states
# What Litestream may still take to ship the last changes once the app has stopped,
# within the 30 s a host waits after SIGTERM (gunicorn's graceful timeout is 20 s).
SHUTDOWN_SYNC_TIMEOUT = "5s"


def database_path(database_url: str) -> Path:
    """The SQLite file DATABASE_URL names, or ConfigError for anything else."""
    try:
        url = sa.engine.make_url(database_url)
    except sa.exc.ArgumentError as error:
        raise ConfigError(f"DATABASE_URL is not a database URL: {error}") from None
    if url.get_backend_name() != "sqlite":
        raise ConfigError(f"LITESTREAM_REPLICA_URL replicates a SQLite file, but DATABASE_URL is "
                          f"{url.get_backend_name()}: back PostgreSQL up with pg_dump instead.")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ConfigError("LITESTREAM_REPLICA_URL needs DATABASE_URL to name a SQLite file by its path "
                          "(sqlite:////data/firebreak.db).")
    return Path(url.database).absolute()


def replica(replica_url: str) -> dict:
    """Litestream's replica entry: an s3:// URL as it is (bucket, path, and
    `?endpoint=…&region=…` for S3-compatible stores); a file:// URL or a plain path
    as an absolute path."""
    scheme = urlsplit(replica_url).scheme
    if scheme == "s3":
        if not urlsplit(replica_url).netloc:
            raise ConfigError(f"LITESTREAM_REPLICA_URL {replica_url!r} names no bucket (s3://bucket/path).")
        return {"url": replica_url}
    if scheme == "file":
        path = urlsplit(replica_url).path
    elif scheme == "":
        path = replica_url
    else:
        raise ConfigError(f"LITESTREAM_REPLICA_URL {replica_url!r}: give a path, a file:// URL or an s3:// URL.")
    if not path:
        raise ConfigError(f"LITESTREAM_REPLICA_URL {replica_url!r} names no folder.")
    return {"type": "file", "path": str(Path(path).absolute())}


def config(database: Path, replica_url: str) -> dict:
    return {
        "shutdown-sync-timeout": SHUTDOWN_SYNC_TIMEOUT,
        "dbs": [{"path": str(database), "monitor-interval": MONITOR_INTERVAL,
                 "replica": {**replica(replica_url), "sync-interval": SYNC_INTERVAL}}],
    }


def main(argv: list[str]) -> int:
    from app import config as settings
    if len(argv) != 2:
        print("usage: python -m app.replication CONFIG_PATH REPLICA_URL", file=sys.stderr)
        return 2
    config_path, replica_url = argv
    try:
        database = database_path(settings.from_env()["SQLALCHEMY_DATABASE_URI"])
        text = json.dumps(config(database, replica_url), indent=2)  # JSON is YAML too
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    Path(config_path).write_text(text + "\n")
    print(database)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
