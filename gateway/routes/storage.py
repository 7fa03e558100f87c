"""``/service/storage-backends`` and ``POST /flows/{flowId}/storage``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from catalog.paging import decode_key, encode_key
from gateway import params
from gateway.responses import json_response, paged_response, read_json
from gateway.routes.common import media, page_limit
from streaming.get_urls import _tags_match


async def list_storage_backends(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    tags = params.get_tag_filter(q)
    limit = page_limit(request)
    backends = [s.info for s in media(request).storage.ordered() if _tags_match(dict(s.info.tags), tags)]
    if reverse:
        backends.reverse()
    page = q.get("page")
    if page is not None:
        label, backend_id = decode_key("storage-backends", page, 2)
        backends = [b for b in backends if ((b.label, b.id) < (label, backend_id)) == reverse
                    and (b.label, b.id) != (label, backend_id)]
    items = backends[:limit]
    next_key = encode_key("storage-backends", items[-1].label, items[-1].id) if len(backends) > limit else None
    return paged_response(request, [b.describe() for b in items], next_key, limit, reverse=reverse)


async def allocate_storage(request: Request) -> Response:
    """Objects for a flow to upload into, with presigned PUT URLs."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    body = models.validate_storage_post(await read_json(request, optional=True))
    objects = await media(request).allocate(
        flow_id, limit=body.get("limit"), object_ids=body.get("object_ids"), storage_id=body.get("storage_id"),
        content_type=body.get("content_type"), presigned=body.get("presigned"),
    )
    return json_response({"media_objects": objects}, status=201)


routes = [
    Route("/service/storage-backends", list_storage_backends, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/storage", allocate_storage, methods=["POST"]),
]
