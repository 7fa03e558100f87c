"""Segments remuxed on the fly (streaming/playback/remux.py): an fMP4 init segment per flow, and one
segment's used part, in flow time, as ``.ts``, ``.m4s`` (with ``remux/init.mp4``) or ``.aac``;
``?track=video|audio``: the init and fragments of that media type only (DASH of a muxed flow)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import params
from gateway.auth import cache_control
from gateway.errors import HTTPError
from gateway.routes.delivery import ranged, remux_service
from streaming.playback.remux import SEGMENT_EXTS, TRACKS, Remuxed
from streaming.storage.interface import ObjectInfo

CACHE_CONTROL = "public, max-age=3600"  # a segment re-registered with other timing gets another key


def _send(request: Request, remuxed: Remuxed) -> Response:
    """The bytes with ETag, If-None-Match and Range, like any object the gateway proxies."""
    body = remuxed.body

    async def read(start: int, end: int) -> AsyncIterator[bytes]:
        yield body[start : end + 1]

    response = ranged(request, ObjectInfo(len(body), remuxed.etag, 0.0), remuxed.content_type, read)
    response.headers["Cache-Control"] = cache_control(request, CACHE_CONTROL)
    return response


async def init_segment(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    track = params.get_choice(request.query_params, "track", TRACKS)
    return _send(request, await remux_service(request).init_segment(flow_id, track))


async def segment(request: Request) -> Response:
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    object_id, dot, ext = request.path_params["segment"].rpartition(".")
    if not dot or not object_id:
        raise HTTPError(400, f"name the container: remux/<object id>.{'|'.join(SEGMENT_EXTS)}")
    if ext not in SEGMENT_EXTS:
        raise HTTPError(400, f"remuxed segments are .{', .'.join(SEGMENT_EXTS)}, not .{ext}")
    timerange = params.get_timerange(request.query_params)
    track = params.get_choice(request.query_params, "track", TRACKS)
    if track is not None and ext != "m4s":
        raise HTTPError(400, f"track={track} is served as fMP4 fragments (.m4s), not .{ext}")
    return _send(request, await remux_service(request).segment(flow_id, object_id, timerange, ext, track))


routes = [
    Route("/flows/{flowId}/remux/init.mp4", init_segment, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/remux/{segment:path}", segment, methods=["GET", "HEAD"]),
]
