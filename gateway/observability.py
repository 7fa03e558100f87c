"""Health, readiness, Prometheus metrics and structured access logs.

Metrics are labelled by route *template* (``/flows/{flowId}/segments``), never by raw path, so
their cardinality stays bounded. Access logs are one JSON line per request on ``tams.access`` and
never include the query string, which may carry an ``access_token``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import utc_now_iso

access_log = logging.getLogger("tams.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SizesFn = Callable[[], Awaitable[Mapping[str, int]]]
ReadyFn = Callable[[], Awaitable[bool]]


class _CatalogSizes:
    """A collector that reports the last catalog sizes read at scrape time."""

    def __init__(self) -> None:
        self.values: Mapping[str, int] = {}

    def collect(self):  # noqa: ANN201 - prometheus collector protocol
        family = GaugeMetricFamily("tams_catalog_objects", "Number of catalog entries by kind", labels=["kind"])
        for kind, value in sorted(self.values.items()):
            family.add_metric([kind], value)
        yield family


class _ReadAtScrape:
    """Values that live elsewhere (the playlist cache's counts), read when /metrics is scraped."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, str, bool, Callable[[], float]]] = []

    def collect(self):  # noqa: ANN201 - prometheus collector protocol
        for name, documentation, is_counter, read in self.sources:
            family = (CounterMetricFamily if is_counter else GaugeMetricFamily)(name, documentation)
            family.add_metric([], read())
            yield family


class Observability:
    def __init__(self, *, sizes: SizesFn, ready: ReadyFn, service_version: str = "") -> None:
        self.sizes = sizes
        self.ready = ready
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tams_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tams_http_request_duration_seconds",
            "Time to the last byte of the response",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("tams_http_requests_in_flight", "Requests being served", registry=self.registry)
        Gauge("tams_build_info", "Gateway version", ["version"], registry=self.registry).labels(service_version).set(1)
        self._catalog_sizes = _CatalogSizes()
        self.registry.register(self._catalog_sizes)
        self._read_at_scrape = _ReadAtScrape()
        self.registry.register(self._read_at_scrape)
        self._routes: list[BaseRoute] = []

    def watch(self, name: str, documentation: str, read: Callable[[], float], *, counter: bool = False) -> None:
        """Reports ``read()`` at every scrape, as a counter (only ever grows) or a gauge."""
        self._read_at_scrape.sources.append((name, documentation, counter, read))

    # -- middleware ---------------------------------------------------------------------------------
    def wrap(self, app: ASGIApp) -> ASGIApp:
        @lru_cache(maxsize=4096)
        def template(method: str, path: str) -> str:
            scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            for route in self._routes:
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    return getattr(route, "path", path)
            return "<unmatched>"

        # the labelled children, looked up once per label set rather than per request (``labels()``
        # validates and locks every time)
        counters: dict[tuple[str, str, int], Any] = {}
        histograms: dict[tuple[str, str], Any] = {}
        in_flight = self.in_flight

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            request_id = _request_id(scope)
            status = 500
            sent = 0

            async def send_wrapper(message: Message) -> None:
                nonlocal status, sent
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                elif message["type"] == "http.response.body":
                    sent += len(message.get("body", b""))
                await send(message)

            in_flight.inc()
            try:
                await app(scope, receive, send_wrapper)
            finally:
                in_flight.dec()
                elapsed = time.perf_counter() - started
                method = scope["method"]
                route = template(method, scope["path"])
                counter = counters.get((method, route, status))
                if counter is None:
                    counter = counters[method, route, status] = self.requests.labels(method, route, str(status))
                counter.inc()
                histogram = histograms.get((method, route))
                if histogram is None:
                    histogram = histograms[method, route] = self.latency.labels(method, route)
                histogram.observe(elapsed)
                if access_log.isEnabledFor(logging.INFO):
                    access_log.info(_log_line(scope, route, status, elapsed, sent, request_id))

        return middleware

    def bind_routes(self, routes: Sequence[BaseRoute]) -> None:
        """The app's routing table, used to label metrics with route templates."""
        self._routes = list(routes)

    # -- endpoints -------------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        async def healthz(request: Request) -> Response:
            return _json({"status": "ok"})

        async def readyz(request: Request) -> Response:
            try:
                ok = await asyncio.wait_for(self.ready(), timeout=2)
            except Exception:  # any failure to answer means not ready
                ok = False
            return _json({"status": "ready"} if ok else {"status": "not ready"}, 200 if ok else 503)

        async def metrics(request: Request) -> Response:
            try:
                self._catalog_sizes.values = await asyncio.wait_for(self.sizes(), timeout=5)
            except Exception:
                logging.getLogger("tams.gateway").warning("catalog sizes unavailable for /metrics")
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return [
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET", "HEAD"]),
        ]


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return _new_request_id()


_ids = itertools.count()
_id_prefix: tuple[int, str] = (0, "")


def _new_request_id() -> str:
    """A process-unique id: a random prefix (per process, so forked workers differ) and a counter;
    cheaper than a uuid4 per request (os.urandom is a system call)."""
    global _id_prefix
    pid = os.getpid()
    if _id_prefix[0] != pid:
        _id_prefix = (pid, uuid.uuid4().hex[:16])
    return f"{_id_prefix[1]}{next(_ids):016x}"


def _log_line(scope: Scope, route: str, status: int, elapsed: float, sent: int, request_id: str) -> str:
    headers = dict(scope.get("headers", []))
    principal = scope.get("state", {}).get("principal")
    client = scope.get("client")
    return orjson.dumps(
        {
            "ts": utc_now_iso(),
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "bytes_sent": sent,
            "client": client[0] if client else None,
            "principal": getattr(principal, "name", None),
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1"),
            "request_id": request_id,
        }
    ).decode()
