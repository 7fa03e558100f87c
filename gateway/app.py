"""The ASGI application: routes, error rendering, middleware and the catalog's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog.errors import CatalogError, Full, Invalid, NotFound, ReadOnly, Unavailable
from catalog.models import ValidationError
from catalog.store import Catalog
from catalog.timing import TimeFormatError
from gateway.access import AccessMiddleware, Guard, load_policy
from gateway.auth import AuthMiddleware, AuthSettings, token_endpoint
from gateway.background import BackgroundServices
from gateway.catalogs import build_catalog
from gateway.config import Settings
from gateway.credentials import PasswordChecker
from gateway.errors import HTTPError, error_response
from gateway.observability import Observability
from gateway.openapi import openapi_endpoint
from gateway.responses import HeadBodyStripper
from gateway.routes import api_routes
from gateway.strict_url import StrictUrl
from streaming.events.webhooks import Dispatcher, WebhookSettings
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.playlists import PlaylistService, PlaylistSettings
from streaming.storage.interface import StoreError, StoreFull, StoreTimeout, StoreUnavailable
from streaming.storage.registry import build_storage

log = logging.getLogger("tams.gateway")

_CATALOG_STATUS = ((NotFound, 404), (ReadOnly, 403), (Invalid, 400), (Unavailable, 503), (Full, 507))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return exc.response()


async def _catalog_error(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in _CATALOG_STATUS if isinstance(exc, kind)), 400)
    return error_response(status, str(exc), headers={"Retry-After": "5"} if status == 503 else None)


async def _store_error(request: Request, exc: Exception) -> Response:
    status = 504 if isinstance(exc, StoreTimeout) else 502 if isinstance(exc, StoreError) else 503
    headers = {"Retry-After": "10"} if status == 503 else None
    return error_response(status, str(exc), headers=headers)


async def _store_full(request: Request, exc: Exception) -> Response:
    return error_response(507, str(exc))


async def _bad_input(request: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    summary = {
        404: f"no such resource: {request.url.path}",
        405: f"method {request.method} is not allowed on {request.url.path}",
    }
    return error_response(exc.status_code, summary.get(exc.status_code, str(exc.detail)), headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error; see the gateway's log")


EXPOSED_HEADERS = [
    "Link",
    "X-Paging-Limit",
    "X-Paging-NextKey",
    "X-Paging-Count",
    "X-Paging-Reverse-Order",
    "X-Paging-Timerange",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Content-Length",
    "Location",
    "X-Request-ID",
]


def cors(settings: Settings) -> list[Middleware]:
    """CORS for browsers (players, web clients) when origins are configured; preflights answered."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
            allow_credentials="*" not in settings.cors_origins,
        )
    ]


def create_app(settings: Settings, catalog: Catalog | None = None, auth: AuthSettings | None = None) -> Starlette:
    """Builds the gateway. ``catalog`` defaults to the configured store (SQLite in the data dir)."""
    store: Catalog = catalog or build_catalog(settings)
    storage = build_storage(
        settings.storage_config, settings.data_dir, settings.public_base_url, settings.max_object_bytes
    )
    media = MediaService(
        store,
        storage,
        MediaSettings(
            presign_expiry_s=settings.presign_expiry,
            object_timeout_s=settings.object_timeout,
            require_known_objects=settings.require_allocation,
            probe_on_register=settings.probe_on_register,
        ),
    )
    auth_settings = auth or AuthSettings.from_env({}, settings.data_dir)
    passwords = PasswordChecker(auth_settings.limits)  # shared by Basic and the token endpoint

    async def ready() -> bool:
        return await store.ping()

    webhook_settings = WebhookSettings(
        allow_private=settings.webhooks_allow_private,
        max_failures=settings.webhook_max_failures,
        backoff_s=settings.webhook_backoff,
        retention_s=settings.event_retention,
    )
    policy = load_policy(settings.authz_policy_file)
    guard = Guard(policy, store, storage) if policy else None
    dispatcher = Dispatcher(store, media, webhook_settings, guard.may_deliver if guard else None)
    # of several processes on one catalog, one runs the dispatcher, deletion worker and GC
    background = BackgroundServices(settings.data_dir, store, media, dispatcher)
    observability = Observability(sizes=store.sizes, ready=ready, service_version=version("tams-gateway"))
    observability.watch(
        "tams_background_services",
        "1 in the process that runs the webhook dispatcher, deletion worker and allocation collector",
        lambda: int(background.running),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        await storage.start()
        await background.start()
        try:
            yield
        finally:
            await background.close()
            await storage.close()
            await store.close()

    routes = [
        *api_routes(),  # the hot routes first (see api_routes); none of these paths overlaps another
        *observability.routes(),
        Route("/openapi.json", openapi_endpoint, methods=["GET", "HEAD"]),
        Route("/oauth/token", token_endpoint, methods=["POST"]),
    ]
    observability.bind_routes(routes)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *cors(settings),
            Middleware(HeadBodyStripper),
            Middleware(observability.wrap),
            Middleware(StrictUrl),
            Middleware(AuthMiddleware, settings=auth_settings, passwords=passwords),
            *([Middleware(AccessMiddleware, guard=guard)] if guard else []),  # no policy: nothing to check
        ],
        exception_handlers={
            HTTPError: _http_error,
            CatalogError: _catalog_error,
            ValidationError: _bad_input,
            TimeFormatError: _bad_input,
            StoreUnavailable: _store_error,
            StoreFull: _store_full,
            StarletteHTTPException: _starlette_error,
            Exception: _server_error,
        },
    )
    app.state.settings = settings
    app.state.catalog = store
    app.state.access = guard
    app.state.media = media
    app.state.background = background
    app.state.webhook_settings = webhook_settings
    app.state.playlists = PlaylistService(
        media,
        PlaylistSettings(
            live_window=settings.live_window,
            live_span_s=settings.live_span_s,
            uri_mode=settings.playlist_uris,
            cache_bytes=settings.playlist_cache_mb * 1024 * 1024,
        ),
    )
    playlist_cache = app.state.playlists.cache
    observability.watch(
        "tams_playlist_cache_hits",
        "Finished playlists served from the cache",
        lambda: playlist_cache.hits,
        counter=True,
    )
    observability.watch(
        "tams_playlist_cache_builds",
        "Finished playlists built (cache misses)",
        lambda: playlist_cache.builds,
        counter=True,
    )
    observability.watch(
        "tams_playlist_cache_bytes", "Bytes of playlists held in the cache", lambda: playlist_cache.size
    )
    observability.watch(
        "tams_auth_scrypt_runs", "Password checks that ran scrypt", lambda: passwords.scrypt_runs, counter=True
    )
    observability.watch(
        "tams_auth_rate_limited",
        "Password checks refused (429) after too many failures from an address",
        lambda: passwords.refused,
        counter=True,
    )
    app.state.auth_settings = auth_settings
    app.state.passwords = passwords
    app.state.observability = observability
    app.state.public_base_url = settings.public_url
    return app
