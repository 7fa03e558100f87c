# The gateway on its embedded defaults: SQLite catalog and local objects under /data (a volume).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TAMS_HOST=0.0.0.0 \
    TAMS_PORT=8000 \
    TAMS_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY catalog ./catalog
COPY streaming ./streaming
COPY gateway ./gateway
# the vast extra: the production catalog (TAMS_CATALOG=vast) needs the vastdb SDK
RUN pip install '.[vast]' \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tams \
 && mkdir -p /data && chown tams:tams /data

USER tams
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# Bound to 0.0.0.0 in a container, so configure TAMS_AUTH_* (or TAMS_ALLOW_OPEN=true behind your own proxy).
CMD ["tams-gateway", "serve"]
