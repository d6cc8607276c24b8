# Firebreak for Fly.io or any container host. The SQLite file (with Litestream's
# folder beside it) lives on a volume at /data, the one lasting place the app writes,
# so the root filesystem may be read-only (compose.yaml's `read_only: true`). Besides
# /data it writes only to temporary places, tmpfs in a read-only container: /tmp
# (temporary files, the metrics folder and the Litestream configuration that
# scripts/serve.sh makes) and /dev/shm (gunicorn's worker heartbeats).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FIREBREAK_ENV=production \
    FIREBREAK_INSTANCE_PATH=/data \
    DATABASE_URL=sqlite:////data/firebreak.db \
    PORT=8080

WORKDIR /app
# tini as PID 1 passes signals on and reaps; pango and a font for post-mortem PDFs (WeasyPrint).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml requirements.lock ./
COPY app/__init__.py app/__init__.py
# The extras: litestream's binary for LITESTREAM_REPLICA_URL (scripts/serve.sh), and the
# Redis client for RATELIMIT_STORAGE_URI=redis://… (several web processes).
RUN pip install --no-cache-dir -c requirements.lock -e ".[litestream,redis]"

COPY . .
# Compiled now, as nothing may write beside the sources at run time.
RUN python -m compileall -q app migrations scripts wsgi.py gunicorn.conf.py \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin firebreak \
    && mkdir -p /data && chown firebreak /data
USER firebreak
VOLUME ["/data"]
EXPOSE 8080

# /healthz/ready: the database answers (the engine's own state is not the web's).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz/ready' % os.environ.get('PORT', '8080'), timeout=4)"]

# Migrations, then the web server and the engine under scripts/supervise.py, all
# reached by SIGTERM (see scripts/serve.sh).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["scripts/serve.sh"]
