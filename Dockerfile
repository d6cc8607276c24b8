# Firebreak for Fly.io (or any container host). The SQLite file lives on a volume at /data.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FIREBREAK_ENV=production \
    FIREBREAK_INSTANCE_PATH=/data \
    DATABASE_URL=sqlite:////data/firebreak.db \
    PORT=8080

WORKDIR /app
# pango and a font for post-mortem PDFs (WeasyPrint).
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml requirements.lock ./
COPY app/__init__.py app/__init__.py
RUN pip install --no-cache-dir -c requirements.lock -e .

COPY . .
RUN useradd --system --home /app firebreak && mkdir -p /data && chown firebreak /data
USER firebreak
VOLUME ["/data"]
EXPOSE 8080

# Web and engine, both on the volume (see scripts/serve.sh and docs/deployment.md).
CMD ["scripts/serve.sh"]
