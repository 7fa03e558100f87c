"""Small accessors shared by the route modules."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from catalog.store import Catalog
from gateway.config import Settings
from gateway.params import get_limit
from streaming.objects.media import MediaService


def catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def media(request: Request) -> MediaService:
    return request.app.state.media


def settings(request: Request) -> Settings:
    return request.app.state.settings


def principal_name(request: Request) -> str | None:
    """The authenticated user's name for created_by/updated_by; None when auth is off."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is None or principal.name == "anonymous":
        return None
    return principal.name


def page_limit(request: Request, query: Mapping[str, str] | None = None) -> int:
    """The page size asked for (``query``: the request's parameters when already parsed)."""
    cfg = settings(request)
    return get_limit(request.query_params if query is None else query, cfg.default_limit, cfg.max_limit)
