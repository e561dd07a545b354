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

# Dependencies first, from the runtime lock: the exact versions CI tested, every file checked
# against its hash. This layer is rebuilt only when requirements/runtime.txt changes (`make
# lock`, see "Dependencies" in README.md); the image carries no dev tools.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt

# Source and migrations live together in /app: `signage migrate` finds alembic.ini and
# migrations/ next to the `core` package, so the project is installed in editable mode.
# One COPY per package of pyproject.toml's [tool.setuptools.packages.find] include
# (tests/stack/test_image_contents.py keeps the two lists equal).
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY http_common ./http_common
COPY graphql_api ./graphql_api
COPY device_edge ./device_edge
COPY workers ./workers
COPY queueing ./queueing
COPY telemetry ./telemetry
COPY ops ./ops
COPY simulator ./simulator
COPY faults ./faults
COPY migrations ./migrations
RUN pip install --no-deps -e . \
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
