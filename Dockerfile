# One image for every process: `signage api` (default), `signage edge`, `signage worker`,
# `signage scheduler` and the one-shot `signage migrate`. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system signage \
    && useradd --system --gid signage --home-dir /app --no-create-home --shell /usr/sbin/nologin signage

WORKDIR /app

# Source and migrations live together in /app: `signage migrate` finds alembic.ini and
# migrations/ next to the `core` package, so the package is installed in editable mode.
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY http_common ./http_common
COPY graphql_api ./graphql_api
COPY device_edge ./device_edge
COPY workers ./workers
COPY migrations ./migrations
RUN pip install -e . \
    && mkdir -p /app/data \
    && chown signage:signage /app/data

USER signage

# Production unless told otherwise: the processes refuse to start with dev secrets.
ENV SIGNAGE_ENV=production \
    SIGNAGE_DATA_DIR=/app/data \
    API_HOST=0.0.0.0 \
    EDGE_HOST=0.0.0.0 \
    LOG_JSON=true

EXPOSE 8000 8001

# Health checks are per service in docker-compose.yml: this image also runs the worker,
# which serves no HTTP.
CMD ["signage", "api"]
