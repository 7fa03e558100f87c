"""``/sources`` and ``/sources/{sourceId}`` (sources are created implicitly by flows)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog.store import SourceQuery
from catalog.vocabulary import FORMATS
from gateway import access, params
from gateway.errors import HTTPError
from gateway.responses import json_response, paged_response
from gateway.routes.common import catalog, page_limit


async def list_sources(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    query = SourceQuery(
        label=q.get("label"),
        format=params.get_choice(q, "format", FORMATS),
        tags=params.get_tag_filter(q),
        collected_by_ids=params.get_uuid_list(q, "collected_by_ids"),
        sort_by=params.get_choice(q, "sort_by", ("created", "updated", "label"), "created") or "created",
        reverse=reverse,
    )
    limit = page_limit(request)
    page = await catalog(request).list_sources(query, q.get("page"), limit, access.listing_filter(request))
    return paged_response(request, page.items, page.next_key, limit, reverse=reverse)


async def get_source(request: Request) -> Response:
    source_id = params.path_uuid(request.path_params["sourceId"], "source")
    source = await catalog(request).get_source(source_id)
    if source is None:
        raise HTTPError(404, f"source {source_id} does not exist")
    return json_response(source)


routes = [
    Route("/sources", list_sources, methods=["GET", "HEAD"]),
    Route("/sources/{sourceId}", get_source, methods=["GET", "HEAD"]),
]
