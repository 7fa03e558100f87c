"""``tams-gateway ingest``: cut a media file into segments and register them through the TAMS API.

Talks to a running gateway over HTTP exactly as any TAMS client would: create the flow (and its
source) with the essence parameters the media states, allocate storage, PUT each segment to its
presigned URL (a few at a time), register the segments with timeranges from the media's own
timestamps. The flow's ``status`` says where that is: ``ingesting`` while it runs (players treat
the flow as live), ``closed_complete`` when every segment is in (VOD), ``awaiting_content`` when a
run fails. Cutting is deterministic, so a second run after an interruption skips the segments
already registered, carries on and closes the flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from catalog.rules import TECHNICAL_FIELDS
from catalog.timing import Timestamp
from catalog.vocabulary import VIDEO
from streaming.ingest.essence import fill_missing
from streaming.ingest.probe import ProbeResult, probe
from streaming.ingest.segmenter import Chunk, cut

BATCH = 20
MULTIPART_THRESHOLD = 64 * 1024 * 1024  # objects larger than this go up in parts
PART_SIZE = 16 * 1024 * 1024  # S3 needs >= 5 MiB for every part but the last


@dataclass
class IngestReport:
    flow_id: str
    segments: int
    skipped: int
    bytes: int
    seconds: float


CONTAINER = "video/mp2t"  # the segmenter writes MPEG-TS whatever the input's container


def flow_body(flow_id: str, source_id: str, info: ProbeResult, segment_seconds: float, label: str) -> dict[str, Any]:
    video = info.first("video")
    if video is None or not video.width or not video.height:
        raise ValueError("ingest needs a video stream with a known frame size")
    essence = dict(video.essence)
    if "frame_rate" not in essence:
        essence["vfr"] = True
    return {
        "id": flow_id,
        "source_id": source_id,
        "label": label,
        "format": VIDEO,
        "codec": video.mime or f"video/{video.codec}",
        "container": CONTAINER,
        "essence_parameters": essence,
        "segment_duration": {"numerator": int(segment_seconds * 1000), "denominator": 1000},
        "status": "ingesting",
    }


async def _put_flow(http: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    """PUT of a flow document as GET returned it (TAMS has no endpoint for status alone)."""
    body = dict(flow)
    if body.get("profile_id"):  # technical fields come from the profile and may not be sent
        body = {k: v for k, v in body.items() if k not in TECHNICAL_FIELDS}
    response = await http.put(f"/flows/{flow['id']}", json=body)
    if response.status_code >= 300:
        raise RuntimeError(f"updating flow {flow['id']} failed: {response.status_code} {response.text[:300]}")


async def start_flow(
    http: httpx.AsyncClient, flow_id: str, source_id: str | None, info: ProbeResult, segment_seconds: float, label: str
) -> None:
    """Creates the flow, or marks an existing one ``ingesting`` and adds the essence parameters the
    media states that it lacks (values already there, a user's, stay)."""
    existing = await http.get(f"/flows/{flow_id}")
    if existing.status_code == 404:
        body = flow_body(flow_id, source_id or str(uuid.uuid4()), info, segment_seconds, label)
        (await http.put(f"/flows/{flow_id}", json=body)).raise_for_status()
        return
    existing.raise_for_status()
    flow = existing.json()
    if flow.get("container") not in (None, CONTAINER):
        raise ValueError(f"flow {flow_id} has container {flow['container']}; ingest writes {CONTAINER} segments")
    video = info.first("video")
    if video is not None and flow.get("format") == VIDEO and not flow.get("profile_id"):
        flow["essence_parameters"] = fill_missing(flow.get("essence_parameters") or {}, video.essence)
    await _put_flow(http, {**flow, "status": "ingesting"})


async def set_status(http: httpx.AsyncClient, flow_id: str, status: str) -> None:
    current = await http.get(f"/flows/{flow_id}")
    current.raise_for_status()
    flow = current.json()
    if flow.get("status") != status:
        await _put_flow(http, {**flow, "status": status})


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.bytes, self.started = total, 0, 0, time.monotonic()

    def advance(self, count: int, size: int) -> None:
        self.done += count
        self.bytes += size
        self._draw()

    def finish(self) -> None:
        """The total was an estimate from the file's duration: the bar ends full, at the real count."""
        self.total = self.done
        self._draw()
        sys.stderr.write("\n")

    def _draw(self) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.bytes / max(time.monotonic() - self.started, 1e-6) / 1e6
        sys.stderr.write(
            f"\r[{'#' * filled}{' ' * (width - filled)}] {self.done}/{self.total} segments {rate:.1f} MB/s"
        )
        sys.stderr.flush()


async def _registered_ranges(http: httpx.AsyncClient, flow_id: str) -> set[str]:
    ranges: set[str] = set()
    url: str | None = f"/flows/{flow_id}/segments?limit=1000"
    while url:
        response = await http.get(url)
        response.raise_for_status()
        ranges.update(seg["timerange"] for seg in response.json())
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return ranges


@dataclass(frozen=True)
class UploadPlan:
    multipart_threshold: int = MULTIPART_THRESHOLD
    part_size: int = PART_SIZE


async def _upload(
    http: httpx.AsyncClient,
    flow_id: str,
    chunk: Chunk,
    target: dict[str, Any],
    limiter: asyncio.Semaphore,
    plan: UploadPlan,
) -> None:
    put = target["put_url"]
    if len(chunk.data) > plan.multipart_threshold:
        await _upload_parts(http, flow_id, chunk, target["object_id"], limiter, plan.part_size)
        return
    async with limiter:
        response = await http.put(
            put["url"], content=chunk.data, headers={"Content-Type": put["content-type"]}, timeout=120
        )
    if response.status_code >= 300:
        raise RuntimeError(f"upload of segment {chunk.index} failed: {response.status_code} {response.text[:200]}")


async def _upload_parts(
    http: httpx.AsyncClient, flow_id: str, chunk: Chunk, object_id: str, limiter: asyncio.Semaphore, part_size: int
) -> None:
    """A large object in parts: presigned part URLs, parallel PUTs, then completion."""
    count = -(-len(chunk.data) // part_size)
    base = f"/flows/{flow_id}/storage/{quote(object_id, safe='')}/multipart"
    started = await http.post(base, json={"parts": count})
    started.raise_for_status()
    plan = started.json()

    async def put_part(part: dict[str, Any]) -> tuple[int, str]:
        number = part["part_number"]
        data = chunk.data[(number - 1) * part_size : number * part_size]
        async with limiter:
            response = await http.put(part["url"], content=data, timeout=120)
        if response.status_code >= 300:
            raise RuntimeError(f"upload of part {number} failed: {response.status_code} {response.text[:200]}")
        return number, response.headers["etag"]

    parts = await asyncio.gather(*(put_part(p) for p in plan["parts"]))
    done = await http.post(
        f"{base}/{plan['upload_id']}", json={"parts": [{"part_number": n, "etag": e} for n, e in sorted(parts)]}
    )
    if done.status_code != 200:
        raise RuntimeError(f"completing the upload of segment {chunk.index} failed: {done.text[:200]}")


async def ingest(
    base_url: str,
    path: Path,
    flow_id: str,
    source_id: str | None = None,
    segment_seconds: float = 2,
    concurrency: int = 4,
    headers: dict[str, str] | None = None,
    quiet: bool = False,
    plan: UploadPlan | None = None,
) -> IngestReport:
    plan = plan or UploadPlan()
    started = time.monotonic()
    info = await asyncio.to_thread(probe, path)
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers or {}, timeout=60) as http:
        await start_flow(http, flow_id, source_id, info, segment_seconds, path.name)
        try:
            registered, skipped, size = await _send(
                http, flow_id, path, info, segment_seconds, concurrency, quiet, plan
            )
        except BaseException:
            # tidy up as the spec asks of clients: the flow expects more content, none is coming now
            with contextlib.suppress(Exception):
                await asyncio.wait_for(set_status(http, flow_id, "awaiting_content"), 10)
            raise
        await set_status(http, flow_id, "closed_complete")
    return IngestReport(flow_id, registered, skipped, size, time.monotonic() - started)


async def _send(
    http: httpx.AsyncClient,
    flow_id: str,
    path: Path,
    info: ProbeResult,
    segment_seconds: float,
    concurrency: int,
    quiet: bool,
    plan: UploadPlan,
) -> tuple[int, int, int]:
    """Uploads and registers every segment not registered yet: (registered, skipped, bytes)."""
    done = await _registered_ranges(http, flow_id)
    chunks: Iterator[Chunk] = cut(path, segment_seconds)
    estimate = max(1, int(info.duration_ns / (segment_seconds * 1e9)) + 1)
    progress = None if quiet else Progress(estimate)
    limiter = asyncio.Semaphore(concurrency)
    registered = skipped = size = 0
    while True:
        batch = await asyncio.to_thread(_take, chunks, BATCH)
        if not batch:
            break
        todo = [c for c in batch if str(c.timerange) not in done]
        skipped += len(batch) - len(todo)
        if todo:
            allocation = await http.post(f"/flows/{flow_id}/storage", json={"limit": len(todo)})
            allocation.raise_for_status()
            targets = allocation.json()["media_objects"]
            await asyncio.gather(
                *(_upload(http, flow_id, c, t, limiter, plan) for c, t in zip(todo, targets, strict=True))
            )
            segments = [_segment(c, t["object_id"]) for c, t in zip(todo, targets, strict=True)]
            response = await http.post(f"/flows/{flow_id}/segments", json=segments)
            if response.status_code != 201:
                raise RuntimeError(f"registering segments failed: {response.status_code} {response.text[:500]}")
            registered += len(todo)
            size += sum(len(c.data) for c in todo)
        if progress:
            progress.advance(len(batch), sum(len(c.data) for c in todo))
    if progress:
        progress.finish()
    return registered, skipped, size


def _segment(chunk: Chunk, object_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object_id": object_id,
        "timerange": str(chunk.timerange),
        "key_frame_count": chunk.key_frame_count,
    }
    if chunk.ts_offset:
        body["ts_offset"] = str(Timestamp(chunk.ts_offset))
    return body


def _take(chunks: Iterator[Chunk], count: int) -> list[Chunk]:
    batch: list[Chunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == count:
            break
    return batch
