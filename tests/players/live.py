"""(f) a live flow appended to while it plays: one fresh flow per test, fed by a background thread.

The media (1 s MPEG-TS segments) is cut and uploaded once; each live flow registers those objects
(object reuse), a few at once, then one a second, with ``status: ingesting`` while it grows and
``closed_complete`` when the feed ends, as an encoder would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import httpx

from catalog.timing import TimeRange
from streaming.ingest.segmenter import cut

from .content import FPS, new_id, put_flow, register, seconds, upload, video_body
from .timeline import Expected

LIVE_SECONDS = 8
FIRST = 3  # segments registered before the player starts
PERIOD = 1.0  # seconds between later registrations


@dataclass
class LiveMedia:
    segments: list[dict]  # object_id + timerange, in order, already uploaded
    expected: Expected
    essence: dict  # what the first registration derived from the media: a live encoder knows its codec


def live_media(http: httpx.Client, work: Path, make_ts: Callable) -> LiveMedia:
    path = make_ts(work / "live.ts", seconds=LIVE_SECONDS)
    holder = new_id()
    put_flow(http, video_body(holder, new_id()))
    chunks = list(cut(path, 1))
    ids = upload(http, holder, [c.data for c in chunks])
    segments = [{"object_id": oid, "timerange": str(c.timerange)} for oid, c in zip(ids, chunks, strict=True)]
    register(http, holder, segments)  # an object's first segment goes in the flow it was allocated for
    start = seconds(TimeRange.parse(segments[0]["timerange"]).start or 0)
    essence = http.get(f"/flows/{holder}").json()["essence_parameters"]
    return LiveMedia(segments, Expected(LIVE_SECONDS * FPS, FPS, start), essence)


class LiveFlow:
    """A flow that grows while a player reads it; ``start()`` feeds it, ``stop()`` waits for the feed."""

    def __init__(self, base_url: str, media: LiveMedia) -> None:
        self.base_url, self.media = base_url, media
        self.flow_id, self.source_id = new_id(), new_id()
        self.body = {
            **video_body(self.flow_id, self.source_id),
            "essence_parameters": media.essence,
            "status": "ingesting",
        }
        self.registered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self.error: BaseException | None = None
        with httpx.Client(base_url=base_url) as http:
            put_flow(http, self.body)
            register(http, self.flow_id, media.segments[:FIRST])
        self.registered = FIRST

    @property
    def later_start(self) -> Fraction:
        """Flow time of the first segment registered after the player started."""
        return seconds(TimeRange.parse(self.media.segments[FIRST]["timerange"]).start or 0)

    def start(self) -> None:
        self._thread.start()

    def _feed(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url) as http:
                for seg in self.media.segments[FIRST:]:
                    if self._stop.wait(PERIOD):
                        return
                    register(http, self.flow_id, [seg])
                    self.registered += 1
                self._stop.wait(PERIOD)
                put_flow(http, {**self.body, "status": "closed_complete"})
        except BaseException as exc:  # reported by stop(): a failed feed must fail the test
            self.error = exc

    def join(self, abort: bool = False) -> None:
        """Waits for the feed to finish (``abort``: stops it first); a failed feed fails the test."""
        if abort:
            self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        if self.error:
            raise AssertionError(f"the live feed failed: {self.error}")
