"""``/service/storage-backends`` and ``POST /flows/{flowId}/storage``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from catalog.paging import decode_key, encode_key
from catalog.rules import tags_match
from gateway import params, permissions, render
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, paged_response, read_json
from gateway.routes.common import media, page_limit
from streaming.storage.interface import ObjectExists, ObjectTooLarge


async def list_storage_backends(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    tags = params.get_tag_filter(q)
    limit = page_limit(request)
    visible = permissions.visible_backends(request)
    backends = [
        s.info
        for s in media(request).storage.ordered()
        if tags_match(s.info.tags, tags) and (visible is None or s.info.id in visible)
    ]
    if reverse:
        backends.reverse()
    page = q.get("page")
    if page is not None:
        label, backend_id = decode_key("storage-backends", page, 2, (str, str))
        backends = [
            b
            for b in backends
            if ((b.label, b.id) < (label, backend_id)) == reverse and (b.label, b.id) != (label, backend_id)
        ]
    items = backends[:limit]
    next_key = encode_key("storage-backends", items[-1].label, items[-1].id) if len(backends) > limit else None
    return paged_response(request, [b.describe() for b in items], next_key, limit, reverse=reverse)


async def allocate_storage(request: Request) -> Response:
    """Objects for a flow to upload into, with presigned PUT URLs."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    body = models.validate_storage_post(await read_json(request, optional=True))
    permissions.check_backend_write(request, body.get("storage_id"))
    uploads = await media(request).uploads.allocate(
        flow_id,
        limit=body.get("limit"),
        object_ids=body.get("object_ids"),
        storage_id=body.get("storage_id"),
        content_type=body.get("content_type"),
        presigned=body.get("presigned"),
    )
    return json_response(render.media_objects(uploads), status=201)


async def start_multipart(request: Request) -> Response:
    """Presigned part URLs for uploading one allocated object in pieces (an extension of TAMS)."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    parts = models.validate_multipart_start(await read_json(request))
    upload = await media(request).uploads.start_multipart(flow_id, request.path_params["objectId"], parts)
    return json_response(render.multipart_started(upload), status=201)


async def complete_multipart(request: Request) -> Response:
    """Joins the uploaded parts into the object; then it can be registered like any other."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    parts = models.validate_multipart_complete(await read_json(request))
    object_id = request.path_params["objectId"]
    try:
        size = await media(request).uploads.complete_multipart(
            flow_id, object_id, request.path_params["uploadId"], parts
        )
    except ObjectTooLarge as exc:
        raise HTTPError(413, f"{exc}; the upload and its parts were deleted") from None
    except ObjectExists as exc:
        raise HTTPError(409, str(exc)) from None
    return json_response(render.multipart_completed(object_id, size))


async def abort_multipart(request: Request) -> Response:
    """Abandons a multipart upload and deletes its parts."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    await media(request).uploads.abort_multipart(
        flow_id, request.path_params["objectId"], request.path_params["uploadId"]
    )
    return empty(204)


routes = [
    Route("/flows/{flowId}/storage/{objectId:path}/multipart/{uploadId}", complete_multipart, methods=["POST"]),
    Route("/flows/{flowId}/storage/{objectId:path}/multipart/{uploadId}", abort_multipart, methods=["DELETE"]),
    Route("/flows/{flowId}/storage/{objectId:path}/multipart", start_multipart, methods=["POST"]),
    Route("/service/storage-backends", list_storage_backends, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/storage", allocate_storage, methods=["POST"]),
]
