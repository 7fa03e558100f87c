"""``GET /events``: the outbox as Server-Sent Events (an extension: a live event stream for TAMS).

Query parameters mirror a webhook's filters (``events``, ``flow_ids``, ``source_ids``, ``presigned``,
``accept_get_urls``, ``verbose_storage``, ``include_object_timerange``; comma lists). Each event
carries ``id: <sequence>``; a client that reconnects with ``Last-Event-ID`` continues right after
it, with no gap, while the outbox still holds it. A comment line every 15 s keeps proxies open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from catalog.vocabulary import EVENT_TYPES
from gateway import access, params
from gateway.errors import HTTPError
from streaming.events.webhooks import transform, wanted

HEARTBEAT_S = 15.0
POLL_S = 0.2


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    events = params.get_list(q, "events") or list(EVENT_TYPES)
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise HTTPError(400, f"unknown event types: {', '.join(unknown)}")
    hook: dict[str, Any] = {"events": events}
    for name in ("flow_ids", "source_ids", "flow_collected_by_ids", "source_collected_by_ids"):
        value = params.get_uuid_list(q, name)
        if value is not None:
            hook[name] = value
    if (labels := params.get_list(q, "accept_get_urls")) is not None:
        hook["accept_get_urls"] = labels
    for name in ("presigned", "verbose_storage", "include_object_timerange"):
        if (flag := params.get_bool(q, name)) is not None:
            hook[name] = flag
    return hook


async def event_stream(request: Request) -> StreamingResponse:
    """Server-Sent Events of catalog changes, resumable with Last-Event-ID."""
    hook = _filters(request)
    catalog, media = request.app.state.catalog, request.app.state.media
    resume = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    after = None if resume is None else params.parse_int(resume, minimum=0)
    if resume is not None and after is None:
        raise HTTPError(400, f"Last-Event-ID {resume[:40]!r} is not an event id from this stream")
    start = after if after is not None else await catalog.last_event_seq()
    guard, identity = access.guard(request), access.who(request)
    hook["_readable_storage_ids"] = access.readable_backends(request)  # get_urls: readable backends only

    async def stream() -> AsyncIterator[bytes]:
        seq, quiet_since = start, time.monotonic()
        yield b"retry: 2000\n\n"
        while True:
            events = await catalog.events_after(seq, 200)
            for event_seq, event_type, flow_id, source_id, body, _created in events:
                seq = event_seq
                if await wanted(catalog, hook, event_type, flow_id, source_id) and (
                    guard is None or await guard.may_see_event(identity, flow_id, source_id)
                ):
                    data = orjson.dumps(await transform(catalog, media, hook, event_type, body))
                    yield b"id: %d\nevent: %s\ndata: %s\n\n" % (event_seq, event_type.encode(), data)
                    quiet_since = time.monotonic()
            if not events:
                if time.monotonic() - quiet_since > HEARTBEAT_S:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
                await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


routes = [Route("/events", event_stream, methods=["GET"])]
