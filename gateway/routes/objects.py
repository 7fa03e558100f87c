"""``/objects/{objectId}``: an object, the flows that reference it and its URLs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from gateway import access, params, permissions, render
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, paging_headers, read_json
from gateway.routes.common import catalog, media, page_limit, settings
from gateway.routes.segments import url_filter


async def get_object(request: Request) -> Response:
    object_id = request.path_params["objectId"]
    q = request.query_params
    flt = url_filter(q, access.readable_backends(request))
    flow_tags = params.get_tag_filter(q, "flow_tag")
    limit = page_limit(request)
    readable = access.listing_filter(request)
    found = await catalog(request).get_object(object_id, q.get("page"), limit, flow_tags, readable)
    hidden = readable is not None and not found.record.referenced_by_flows if found else False
    if found is None or (hidden and not await permissions.object_visible(request, object_id)):
        raise HTTPError(404, f"object {object_id!r} does not exist")
    record, next_key = await permissions.redact_object(request, found.record), found.next_key
    body = render.media_object(record, flt, media(request).storage, settings(request).presign_expiry)
    return json_response(body, headers=paging_headers(request, None, next_key, limit))


async def post_instance(request: Request) -> Response:
    """Adds a controlled copy on another backend, or registers a client URL, for an object."""
    body = models.validate_instance_post(await read_json(request))
    await permissions.check_object_write(request, request.path_params["objectId"], body.get("storage_id"))
    await media(request).instances.add(request.path_params["objectId"], body)
    return empty(201)


async def delete_instance(request: Request) -> Response:
    q = request.query_params
    await permissions.check_object_write(request, request.path_params["objectId"], q.get("storage_id"))
    await media(request).instances.remove(request.path_params["objectId"], q.get("storage_id"), q.get("label"))
    return empty(204)


routes = [
    Route("/objects/{objectId:path}/instances", post_instance, methods=["POST"]),
    Route("/objects/{objectId:path}/instances", delete_instance, methods=["DELETE"]),
    Route("/objects/{objectId:path}", get_object, methods=["GET", "HEAD"]),
]
