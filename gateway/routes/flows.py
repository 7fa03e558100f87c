"""``/flows`` and ``/flows/{flowId}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from catalog.store import FlowQuery, SegmentQuery
from catalog.timing import TimeRange
from catalog.vocabulary import FLOW_STATUSES, FORMATS
from gateway import access, params, permissions
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, paged_response, public_url, read_json
from gateway.routes.common import catalog, media, page_limit, principal_name


async def list_flows(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    query = FlowQuery(
        source_id=params.get_uuid(q, "source_id"),
        format=params.get_choice(q, "format", FORMATS),
        codec=params.get_mime(q, "codec"),
        label=q.get("label"),
        profile_id=params.get_uuid(q, "profile_id"),
        status=params.get_choice(q, "status", FLOW_STATUSES),
        frame_width=params.get_int(q, "frame_width"),
        frame_height=params.get_int(q, "frame_height"),
        init_segments=params.get_bool(q, "init_segments"),
        timerange=params.get_timerange(q),
        tags=params.get_tag_filter(q),
        collected_by_ids=params.get_uuid_list(q, "collected_by_ids"),
        sort_by=params.get_choice(q, "sort_by", ("created", "metadata_updated", "label"), "created") or "created",
        reverse=reverse,
    )
    limit = page_limit(request)
    page = await catalog(request).list_flows(query, q.get("page"), limit, access.listing_filter(request))
    return paged_response(request, page.items, page.next_key, limit, reverse=reverse)


async def flow_timerange(request: Request, flow_id: str, window: TimeRange | None) -> TimeRange:
    """The flow's envelope; with a window, the envelope of the segments overlapping it, clipped to it."""
    store = catalog(request)
    if window is None:
        stats = await store.flow_stats(flow_id)
        return stats.envelope if stats else TimeRange.never()
    first = await store.query_segments(flow_id, SegmentQuery(window), None, 1)
    if not first.items:
        return TimeRange.never()
    last = await store.query_segments(flow_id, SegmentQuery(window, reverse=True), None, 1)
    return first.items[0].range().envelope(last.items[0].range()).intersect(window)


async def get_flow(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    q = request.query_params
    include = params.get_bool(q, "include_timerange", False)
    window = params.get_timerange(q)
    flow = await catalog(request).get_flow(flow_id)
    if flow is None:
        raise HTTPError(404, f"flow {flow_id} does not exist")
    if include:
        flow["timerange"] = str(await flow_timerange(request, flow_id, window))
    return json_response(flow)


async def put_flow(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    body = models.validate_flow_put(await read_json(request))
    if body["id"] != flow_id:
        raise HTTPError(404, f"the flow id in the path ({flow_id}) does not match the body's id ({body['id']})")
    source_tags = await permissions.prepare_flow_put(request, body)
    result = await catalog(request).put_flow(body, principal_name(request), source_tags)
    if result.created:
        return json_response(result.flow, status=201)
    return empty()


async def delete_flow(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    deletion = await media(request).deletion.delete_flow(flow_id, principal_name(request))
    if deletion is None:
        return empty()
    location = f"{public_url(request).scheme}://{public_url(request).netloc}/flow-delete-requests/{deletion['id']}"
    return json_response(deletion, status=202, headers={"Location": location})


async def list_deletions(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    sort_by = params.get_choice(q, "sort_by", ("created", "expiry"), "created") or "created"
    limit = page_limit(request)
    page = await catalog(request).list_deletions(sort_by, reverse, q.get("page"), limit)
    return paged_response(request, page.items, page.next_key, limit, reverse=reverse)


async def get_deletion(request: Request) -> Response:
    request_id = params.path_uuid(request.path_params["requestId"], "flow delete request")
    found = await catalog(request).get_deletion(request_id)
    if found is None:
        raise HTTPError(404, f"flow delete request {request_id} does not exist")
    return json_response(found)


routes = [
    Route("/flows", list_flows, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}", get_flow, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}", put_flow, methods=["PUT"]),
    Route("/flows/{flowId}", delete_flow, methods=["DELETE"]),
    Route("/flow-delete-requests", list_deletions, methods=["GET", "HEAD"]),
    Route("/flow-delete-requests/{requestId}", get_deletion, methods=["GET", "HEAD"]),
]
