"""``/flows/{flowId}/segments``: timerange queries, registration and deletion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from catalog.store import SegmentQuery
from catalog.timing import TimeRange, envelope_text
from gateway import access, params, permissions, render
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, paged_json, paged_response, public_url, read_json
from gateway.routes.common import catalog, media, page_limit, principal_name, settings
from streaming.storage.get_urls import UrlFilter


def url_filter(q: Mapping[str, str], readable_storage_ids: frozenset[str] | None = None) -> UrlFilter:
    return UrlFilter(
        readable_storage_ids=readable_storage_ids,
        accept_get_urls=params.get_list(q, "accept_get_urls"),
        accept_storage_ids=params.get_uuid_list(q, "accept_storage_ids"),
        presigned=params.get_bool(q, "presigned"),
        verbose_storage=bool(params.get_bool(q, "verbose_storage", False)),
        backend_tags=params.get_tag_filter(q, "storage_backend_tag"),
    )


async def get_segments(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    q = params.query_dict(request.scope["query_string"])
    reverse = bool(params.get_bool(q, "reverse_order", False))
    query = SegmentQuery(params.get_timerange(q), q.get("object_id"), reverse)
    flt = url_filter(q, access.readable_backends(request))
    include_otr = bool(params.get_bool(q, "include_object_timerange", False))
    limit = page_limit(request, q)
    storage, expiry = media(request).storage, settings(request).presign_expiry
    extra = {"X-Paging-Timerange": "()"}
    if not include_otr:  # the common page: rendered by the catalog, get_urls added here
        rendered = await catalog(request).segment_page_json(flow_id, query, q.get("page"), limit)
        if rendered is not None:
            first, last = rendered.first_timerange, rendered.last_timerange
            if first is not None and last is not None:
                extra["X-Paging-Timerange"] = envelope_text(last, first) if reverse else envelope_text(first, last)
            body = render.rendered_segments(rendered, flt, storage, expiry)
            count = len(rendered.fragments)
            return paged_json(request, body, count, rendered.next_key, limit, reverse=reverse, extra=extra)
    page = await catalog(request).query_segments(flow_id, query, q.get("page"), limit)
    items = render.segments(page.items, flt, include_otr, storage, expiry)
    if page.items:
        extra["X-Paging-Timerange"] = str(page.items[0].range().envelope(page.items[-1].range()))
    return paged_response(request, items, page.next_key, limit, reverse=reverse, extra=extra)


async def post_segments(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    body = await read_json(request)
    if isinstance(body, list):
        return await _post_many(request, flow_id, body)
    segment = models.validate_segment_post(body)
    refused = await permissions.refused_objects(request, flow_id, [segment["object_id"]])
    if refused:
        raise HTTPError(403, next(iter(refused.values())))
    failures = await media(request).registration.register(flow_id, [segment])
    if failures:
        raise HTTPError(400, failures[0].summary)
    return empty(201)


async def _post_many(request: Request, flow_id: str, body: list[Any]) -> Response:
    valid: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for item in body:
        try:
            valid.append(models.validate_segment_post(item))
        except models.ValidationError as exc:
            failed.append(render.failed_segment(item, str(exc)))
    refused = await permissions.refused_objects(request, flow_id, [seg["object_id"] for seg in valid])
    failed.extend(render.failed_segment(seg, refused[seg["object_id"]]) for seg in valid if seg["object_id"] in refused)
    valid = [seg for seg in valid if seg["object_id"] not in refused]
    failures = await media(request).registration.register(flow_id, valid) if valid else []
    failed.extend(render.failed_segment(valid[f.index], f.summary) for f in failures)
    if failed:
        return json_response({"failed_segments": failed}, status=200)
    return empty(201)


async def delete_segments(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    q = request.query_params
    timerange = params.get_timerange(q) or TimeRange.eternity()
    deletion = await media(request).deletion.delete_segments(
        flow_id, timerange, q.get("object_id"), principal_name(request)
    )
    if deletion is None:
        return empty()
    url = public_url(request)
    return json_response(
        deletion, status=202, headers={"Location": f"{url.scheme}://{url.netloc}/flow-delete-requests/{deletion['id']}"}
    )


routes = [
    Route("/flows/{flowId}/segments", get_segments, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/segments", post_segments, methods=["POST"]),
    Route("/flows/{flowId}/segments", delete_segments, methods=["DELETE"]),
]
