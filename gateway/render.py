"""Response bodies: the JSON the API answers with, built here from catalog records and store answers.

Routes parse, call and hand what they got to one of these; the services below them return records,
not wire dictionaries. (Documents the catalog stores as JSON, such as flows, sources, webhooks and
deletion requests, are answered as stored; error bodies come from ``gateway.errors``; a storage
backend's body is ``BackendInfo.describe``, which verbose get_urls share.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from catalog import segment_json
from catalog.segment_json import RenderedPage
from catalog.store import Instance, ObjectRecord, Segment
from catalog.timing import TimeRange
from gateway.errors import error_body
from streaming.objects.uploads import MultipartUpload, Upload
from streaming.storage.get_urls import UrlFilter, build_get_urls, page_get_urls
from streaming.storage.registry import Storage


def segment(
    seg: Segment,
    flt: UrlFilter,
    include_object_timerange: bool,
    storage: Storage,
    expiry: int,
    get_urls: list[dict] | None = None,
    init_get_urls: list[dict] | None = None,
) -> dict[str, Any]:
    """flow-segment.json, get_urls freshly signed and filtered (or as given, made for a whole page)."""
    out = segment_json.members(seg)
    if include_object_timerange:
        out["object_timerange"] = seg.object_timerange or str(seg.range().shift(-(seg.ts_offset or 0)))
    if seg.init_object_id is not None:
        if init_get_urls is None:
            init_get_urls = build_get_urls(storage, seg.init_instances, seg.init_uncontrolled_urls, flt, expiry)
        out["init_object"] = {"object_id": seg.init_object_id, "get_urls": init_get_urls}
    if get_urls is None:
        get_urls = build_get_urls(storage, seg.instances, seg.uncontrolled_urls, flt, expiry)
    out["get_urls"] = get_urls
    return out


def segments(
    page: Sequence[Segment], flt: UrlFilter, include_object_timerange: bool, storage: Storage, expiry: int
) -> list[dict[str, Any]]:
    """A page of flow-segment.json, its URLs signed in bulk per storage backend."""
    urls = page_get_urls(storage, [(s.instances, s.uncontrolled_urls) for s in page], flt, expiry)
    with_init = [s for s in page if s.init_object_id is not None]
    init_urls = iter(
        page_get_urls(storage, [(s.init_instances, s.init_uncontrolled_urls) for s in with_init], flt, expiry)
    )
    return [
        segment(
            seg,
            flt,
            include_object_timerange,
            storage,
            expiry,
            seg_urls,
            next(init_urls) if seg.init_object_id is not None else None,
        )
        for seg, seg_urls in zip(page, urls, strict=True)
    ]


def rendered_segments(page: RenderedPage, flt: UrlFilter, storage: Storage, expiry: int) -> bytes:
    """The JSON body of a page the catalog rendered: each fragment with its get_urls, made in bulk."""
    urls = None
    if any(page.homes):
        homes: list[tuple[tuple[Instance, ...], tuple[()]]] = [((h,), ()) if h else ((), ()) for h in page.homes]
        urls = page_get_urls(storage, homes, flt, expiry)
    if urls is None or not any(urls):  # no URL on the whole page: one shared tail
        return b"[" + b',"get_urls":[]},'.join(page.fragments) + (b',"get_urls":[]}]' if page.fragments else b"]")
    dumps = orjson.dumps
    items = (f + b',"get_urls":' + dumps(u) + b"}" for f, u in zip(page.fragments, urls, strict=True))
    return b"[" + b",".join(items) + b"]"


def media_object(record: ObjectRecord, flt: UrlFilter, storage: Storage, expiry: int) -> dict[str, Any]:
    """object.json: the object, the flows that reference it (this page of them) and its URLs."""
    body: dict[str, Any] = {"id": record.object_id, "referenced_by_flows": record.referenced_by_flows}
    if record.first_referenced_by_flow:
        body["first_referenced_by_flow"] = record.first_referenced_by_flow
    if record.timerange is not None and not record.is_init:
        body["timerange"] = str(record.timerange)
    if record.key_frame_count is not None:
        body["key_frame_count"] = record.key_frame_count
    body["get_urls"] = build_get_urls(storage, record.instances, record.uncontrolled_urls, flt, expiry)
    if record.init_object_id:
        body["init_object"] = {
            "id": record.init_object_id,
            "get_urls": build_get_urls(storage, record.init_instances, record.init_uncontrolled_urls, flt, expiry),
        }
    return body


def media_objects(uploads: list[Upload]) -> dict[str, Any]:
    """flow-storage.json: where to PUT each allocated object."""
    return {
        "media_objects": [
            {"object_id": u.object_id, "presigned": True, "put_url": {"url": u.put_url, "content-type": u.content_type}}
            for u in uploads
        ]
    }


def multipart_started(upload: MultipartUpload) -> dict[str, Any]:
    return {
        "object_id": upload.object_id,
        "upload_id": upload.upload_id,
        "parts": [{"part_number": n, "url": url} for n, url in enumerate(upload.part_urls, start=1)],
    }


def multipart_completed(object_id: str, size: int) -> dict[str, Any]:
    return {"object_id": object_id, "size": size}


def failed_segment(item: Any, summary: str) -> dict[str, Any]:
    """An entry of flow-segment-bulk-failure.json; names the segment as far as the item allows."""
    entry: dict[str, Any] = {"object_id": "", "error": error_body(400, summary)}
    if isinstance(item, dict):
        if isinstance(item.get("object_id"), str):
            entry["object_id"] = item["object_id"]
        timerange = item.get("timerange")
        if isinstance(timerange, str) and _parses(timerange):
            entry["timerange"] = timerange
    return entry


def _parses(timerange: str) -> bool:
    try:
        TimeRange.parse(timerange)
    except ValueError:  # TimeFormatError, or bounds that make no range
        return False
    return True
