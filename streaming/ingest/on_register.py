"""Probing a segment's uploaded bytes when it is first registered (``TAMS_PROBE_ON_REGISTER``).

The object is read with PyAV (behind its init object for CMAF-style flows, since a fragment alone
is not readable media): its duration must match the segment's timerange, its key frames fill a
missing ``key_frame_count``, and the essence parameters it states (``avc_parameters``,
``codec_parameters.mp4_oti``, frame size and rate, ...) fill those the flow lacks, so codec strings
can be built for flows whose writers never set them. Values already on the flow are never replaced;
a flow linked to a profile, read-only, or whose codec differs from the media's is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from catalog.errors import CatalogError
from catalog.models import ValidationError, validate_flow_put
from catalog.store import Allocation, Registering
from catalog.timing import TimeRange, Timestamp
from streaming.ingest.essence import fill_missing
from streaming.ingest.probe import ProbeResult, probe
from streaming.storage.registry import Storage

log = logging.getLogger("tams.ingest")

_KINDS = {"urn:x-nmos:format:video": "video", "urn:x-nmos:format:audio": "audio"}


async def _read(storage: Storage, storage_id: str, key: str, max_bytes: int) -> bytes | None:
    """The object's bytes, or None when it is gone or too large to probe."""
    store = storage.get(storage_id)
    info = await store.head(key) if store else None
    if store is None or info is None or info.size > max_bytes:
        return None
    return b"".join([chunk async for chunk in store.read(key, 0, info.size - 1)])


async def _init_bytes(
    catalog: Registering, storage: Storage, init_id: str, pending: Mapping[str, Allocation], max_bytes: int
) -> bytes | None:
    """An init object's bytes: uploaded with this registration, or registered before."""
    if init_id in pending:
        return await _read(storage, pending[init_id].storage_id, pending[init_id].key, max_bytes)
    found = await catalog.get_object(init_id, None, 1)
    for instance in found[0].instances if found else ():
        data = await _read(storage, instance.storage_id, instance.key, max_bytes)
        if data is not None:
            return data
    return None


async def probe_segment(
    catalog: Registering,
    storage: Storage,
    flow_id: str,
    seg: dict[str, Any],
    pending: Mapping[str, Allocation],
    max_bytes: int,
) -> tuple[dict[str, Any], str | None]:
    """(the segment, with key_frame_count filled when absent; the reason to refuse it, or None)."""
    allocation = pending[seg["object_id"]]
    data = await _read(storage, allocation.storage_id, allocation.key, max_bytes)
    if data is None:
        return seg, None
    if seg.get("init_object_id"):
        init = await _init_bytes(catalog, storage, seg["init_object_id"], pending, max_bytes)
        if init is None:
            return seg, None  # a fragment cannot be read without its init object
        data = init + data
    try:
        media = await asyncio.to_thread(probe, data)
    except Exception as exc:  # PyAV raises many error types for unreadable media
        return seg, f"object {seg['object_id']} is not readable media: {exc}"
    timerange = TimeRange.parse(seg["timerange"])
    rate = media.main.frame_rate
    tolerance = int(1_000_000_000 / rate) if rate else 0
    length = timerange.length_ns() or 0
    if abs(media.duration_ns - length) > tolerance:
        return seg, (
            f"segment timerange {seg['timerange']} lasts {Timestamp(length)} s but object "
            f"{seg['object_id']} holds {Timestamp(media.duration_ns)} s of media"
        )
    if "key_frame_count" not in seg:
        seg = {**seg, "key_frame_count": media.key_frame_count}
    await fill_flow_essence(catalog, flow_id, media)
    return seg, None


async def fill_flow_essence(catalog: Registering, flow_id: str, media: ProbeResult) -> bool:
    """Adds the essence parameters ``media`` states and the flow lacks; True when the flow changed.
    Never fails the registration: a flow that cannot take them keeps what it has."""
    flow = await catalog.get_flow(flow_id)
    if flow is None or flow.get("profile_id") or flow.get("read_only"):
        return False
    kind = _KINDS.get(flow.get("format", ""))
    stream = media.first(kind) if kind else None
    if stream is None or stream.mime is None or (flow.get("codec") or "").lower() != stream.mime:
        return False
    current = flow.get("essence_parameters") or {}
    merged = fill_missing(current, stream.essence)
    if merged == current:
        return False
    try:
        validate_flow_put({**flow, "essence_parameters": merged})
        await catalog.set_flow_field(flow_id, "essence_parameters", merged)
    except (ValidationError, CatalogError) as exc:
        log.warning("essence parameters of flow %s not filled from its media: %s", flow_id, exc)
        return False
    return True
