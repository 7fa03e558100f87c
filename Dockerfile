# syntax=docker/dockerfile:1
# The gateway on its embedded defaults: SQLite catalog and local objects under /data (a volume).
# Three stages: npm installs the player scripts (hls.js, dash.js), a build stage makes the wheel and the
# wheels of everything it needs, and a slim runtime installs those with no network, compiler or npm.
# The runtime needs no apt packages: PyAV's wheel carries its own FFmpeg libraries.

FROM node:22-bookworm-slim AS player-js
WORKDIR /src/gateway/player
COPY gateway/player/package.json gateway/player/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY catalog ./catalog
COPY streaming ./streaming
COPY gateway ./gateway
# the build hook (setup.py) finds the scripts at their locked versions, so it needs no npm here
COPY --from=player-js /src/gateway/player/node_modules ./gateway/player/node_modules
# the vast extra: the production catalog (TAMS_CATALOG=vast) needs the vastdb SDK
RUN pip wheel --wheel-dir /wheels '.[vast]'

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TAMS_HOST=0.0.0.0 \
    TAMS_PORT=8000 \
    TAMS_DATA_DIR=/data
# /wheels holds exactly the resolved set (the gateway, its vast extra, their dependencies): install all of it
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/*.whl \
 && groupadd --system --gid 10001 tams \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin tams \
 && mkdir -p /data && chown 10001:10001 /data

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# the configured port: TAMS_PORT (docker run -e TAMS_PORT=9000 moves the server and this check together)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('TAMS_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"]
# Bound to 0.0.0.0 in a container, so configure TAMS_AUTH_* (or TAMS_ALLOW_OPEN=true behind your own proxy).
CMD ["tams-gateway", "serve"]
