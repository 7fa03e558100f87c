"""Delivery endpoints beyond the spec: an object's bytes, the segment of a flow at a timestamp, and a
timerange as one file (clip export, streaming/playback/timerange_file.py).

``mode=redirect`` answers 302 to a freshly presigned URL; ``mode=proxy`` streams the bytes through
the gateway from the pooled store client with Range pass-through (200/206/416), ETag, Last-Modified,
the object's ``x-amz-checksum-sha256`` (whole-object answers), If-Range, If-Match, If-None-Match and
If-(Un)Modified-Since (304/412). The default mode comes from TAMS_DELIVERY_MODE.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from catalog.store import Instance, SegmentQuery
from catalog.timing import TimeFormatError, TimeRange, Timestamp
from gateway import params, permissions
from gateway.errors import HTTPError
from gateway.routes.common import catalog, media, settings
from streaming.playback import timerange_file as clips
from streaming.playback.clip_files import ClipFiles, read_file, size_of
from streaming.playback.muxers import CONTENT_TYPES
from streaming.playback.remux import RemuxService
from streaming.storage.checksums import sha256_header
from streaming.storage.interface import ObjectInfo, ObjectStore
from streaming.storage.ranges import (
    CONDITIONAL_HEADERS,
    MultipleRanges,
    RangeNotSatisfiable,
    last_modified,
    parse_range,
    parse_range_spec,
    precondition,
    range_applies,
)


def _pick(request: Request, instances: tuple[Instance, ...], what: str) -> tuple[ObjectStore, str]:
    replica = media(request).storage.readable(instances)
    if replica is None:
        raise HTTPError(404, f"{what} has no bytes on this gateway's storage backends")
    return replica


async def _deliver(request: Request, store: ObjectStore, key: str, content_type: str | None) -> Response:
    mode = params.get_choice(request.query_params, "mode", ("redirect", "proxy"), settings(request).delivery_mode)
    mode = permissions.delivery_mode(request, mode or "redirect")
    expiry = settings(request).presign_expiry
    if mode == "redirect":
        return RedirectResponse(
            store.get_url(key, expiry),
            status_code=302,
            headers={"Cache-Control": f"private, max-age={min(60, expiry // 2)}"},
        )
    headers = request.headers
    if request.method == "HEAD" or any(h in headers for h in CONDITIONAL_HEADERS):
        # answers that depend on the object's validators or size first: HEAD, then maybe a read
        info = await store.head(key)  # store failures become 502/503/504 in the app's error handler
        if info is None:
            raise _missing(store)
        return ranged(request, info, content_type or info.content_type, lambda a, b: store.read(key, a, b))
    # the common player request: one store request carries both the bytes and what the headers need
    try:
        wanted = parse_range_spec(headers.get("range"))
        opened = await store.open(key, wanted)
    except MultipleRanges:
        info = await store.head(key)
        raise _unsatisfiable(ONE_RANGE, info.size if info else 0) from None
    except RangeNotSatisfiable as exc:
        raise _out_of_range(exc.size) from None
    if opened is None:
        raise _missing(store)
    info = opened.info
    body: AsyncIterator[bytes] | None = opened.body
    if opened.end < opened.start:  # an empty object: nothing to stream
        opened.close()
        body = None
    return _bytes_response(
        info, content_type or info.content_type, 200 if wanted is None else 206, opened.start, opened.end, body
    )


ONE_RANGE = "one range per request, please; ask for ranges one at a time"


def _missing(store: ObjectStore) -> HTTPError:
    return HTTPError(502, f"the bytes are missing from storage backend {store.info.label}")


def _unsatisfiable(reason: str, size: int) -> HTTPError:
    return HTTPError(416, reason, headers={"Content-Range": f"bytes */{size}"})


def _out_of_range(size: int) -> HTTPError:
    return _unsatisfiable(f"the range is outside the {size} bytes", size)


def _bytes_response(
    info: ObjectInfo, content_type: str | None, status: int, start: int, end: int, body: AsyncIterator[bytes] | None
) -> Response:
    """200 or 206 (bytes ``start``..``end``) with the object's headers; ``body`` None: headers only."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": info.etag,
        "Last-Modified": last_modified(info),
        "Content-Type": content_type or "application/octet-stream",
        "Content-Length": str(end - start + 1),
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    elif info.sha256:  # a checksum of the whole object: passed through on whole-object answers only
        headers.update(sha256_header(info.sha256))
    if body is None:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(body, status_code=status, headers=headers)


def ranged(
    request: Request, info: ObjectInfo, content_type: str | None, read: Callable[[int, int], AsyncIterator[bytes]]
) -> Response:
    """A streamed answer with Range (one range: 206; past the end: 416), If-Range and If-None-Match."""
    answer = precondition(request.headers, info)
    if answer == 412:
        raise HTTPError(412, "the object does not match the request's If-Match or If-Unmodified-Since")
    if answer == 304:
        return Response(status_code=304, headers={"ETag": info.etag, "Last-Modified": last_modified(info)})
    try:
        wanted = parse_range(request.headers.get("range"), info.size)
    except RangeNotSatisfiable:
        raise _out_of_range(info.size) from None
    except MultipleRanges:
        raise _unsatisfiable(ONE_RANGE, info.size) from None
    status, start, end = 200, 0, info.size - 1
    if wanted is not None and range_applies(request.headers.get("if-range"), info):
        status, start, end = 206, wanted.start, wanted.end
    body = None if request.method == "HEAD" or info.size == 0 else read(start, end)
    return _bytes_response(info, content_type, status, start, end, body)


async def object_content(request: Request) -> Response:
    """An object's bytes: redirect to a presigned URL or proxy them (mode=redirect|proxy)."""
    object_id = request.path_params["objectId"]
    found = await catalog(request).get_object(object_id, None, 1)
    if found is None:
        raise HTTPError(404, f"object {object_id!r} does not exist")
    store, key = _pick(request, found[0].instances, f"object {object_id!r}")
    return await _deliver(request, store, key, None)


async def flow_content(request: Request) -> Response:
    """The bytes of the segment of a flow that covers the timestamp ``at``."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    at = request.query_params.get("at")
    if at is None:
        raise HTTPError(400, "give the timestamp with ?at=<seconds>:<nanoseconds>")
    try:
        instant = TimeRange.instant(Timestamp.parse(at).ns)
    except TimeFormatError as exc:
        raise HTTPError(400, f"query parameter at: {exc}") from None
    page = await catalog(request).query_segments(flow_id, SegmentQuery(instant), None, 1)
    if not page.items:
        raise HTTPError(404, f"flow {flow_id} has no segment at {at}")
    segment = page.items[0]
    store, key = _pick(request, segment.instances, f"object {segment.object_id!r}")
    flow = await catalog(request).get_flow(flow_id)
    return await _deliver(request, store, key, (flow or {}).get("container"))


def remux_service(request: Request) -> RemuxService:
    """The app's remux service (its thread pool and cache), made on first use."""
    state = request.app.state
    service = getattr(state, "remux", None)
    if service is None:
        service = state.remux = RemuxService(media(request), settings(request).remux_cache_mb * 1024 * 1024)
    return service


async def timerange_file(request: Request) -> Response:
    """A flow's timerange as one file, cut to it: ``media.ts`` (streamed) or ``media.mp4`` (plain MP4)."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    window = params.get_timerange(request.query_params)
    clip = await clips.plan_clip(request.app.state.playlists, flow_id, window, request.path_params["ext"])
    headers = {
        "Content-Disposition": f'attachment; filename="{clip.filename}"',
        "X-TAMS-Timerange": str(clip.timerange),
    }
    if not clip.needs_remux():  # the objects back to back: seekable, with Range
        file = await clips.virtual_file(media(request), clip)
        response = ranged(request, ObjectInfo(file.size, file.etag, file.last_modified), file.content_type, file.read)
        response.headers.update(headers)
        return response
    content_type = CONTENT_TYPES[clip.ext]
    if clip.ext == "ts":
        if request.method == "HEAD":  # streamed as made: no length to tell
            return Response(status_code=200, headers=headers, media_type=content_type)
        return StreamingResponse(
            clips.stream_ts(remux_service(request), clip), headers=headers, media_type=content_type
        )
    return await _made_mp4(request, clip, headers, content_type)


async def _made_mp4(request: Request, clip: clips.Clip, headers: dict[str, str], content_type: str) -> Response:
    """A remuxed ``media.mp4``: made whole (moov first) once per clip and kept, so it is seekable and
    answers Range like any object (VLC's MP4 reader needs it) without being remuxed per request."""
    key, files = clips.clip_key(clip), clip_files(request)  # the key hashes every segment: once
    unmade = clips.made_info(clip, key, 0)  # the ETag is known before the bytes
    if precondition(request.headers, unmade) == 304:
        return Response(status_code=304, headers={**headers, "ETag": unmade.etag})
    if request.method == "HEAD":  # its length when it was made before; a HEAD makes nothing
        file = await files.cached(key)
        if file is None:
            return Response(status_code=200, headers={**headers, "ETag": unmade.etag}, media_type=content_type)
    else:
        file = await files.get(key, partial(clips.write_mp4, remux_service(request), clip))
    try:
        response = ranged(request, clips.made_info(clip, key, size_of(file)), content_type, partial(read_file, file))
    except BaseException:
        file.close()
        raise
    response.headers.update(headers)
    response.background = BackgroundTask(file.close)  # also when no body is sent (HEAD, 304, 412)
    return response


def clip_files(request: Request) -> ClipFiles:
    """The app's kept clip files, made on first use."""
    state = request.app.state
    files = getattr(state, "clip_files", None)
    if files is None:
        config = settings(request)
        files = state.clip_files = ClipFiles(config.data_dir / "cache" / "clips", config.clip_cache_mb * 1024 * 1024)
    return files


routes = [
    Route("/flows/{flowId}/media.{ext}", timerange_file, methods=["GET", "HEAD"]),
    # ".ts" (or another extension) may end the path: some players only fetch URLs that look like media
    Route("/objects/{objectId:path}/content.{ext}", object_content, methods=["GET", "HEAD"]),
    Route("/objects/{objectId:path}/content", object_content, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/content", flow_content, methods=["GET", "HEAD"]),
]
