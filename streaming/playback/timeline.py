"""The media timeline a player sees, segment by segment: where it breaks, and which bytes it gets.

A segment's bytes come either as its object, stored (``direct``), or cut and remuxed by the gateway
(``/flows/{id}/remux/{object}.{ext}?timerange=``). Direct bytes carry the object's own timestamps,
remuxed bytes carry flow time, so a segment is remuxed whenever its own times are not flow time:
- it uses only part of its object (``object_timerange`` wider than ``timerange - ts_offset``, or
  ``sample_offset``/``sample_count``);
- it has a ``ts_offset`` (an edit by reference: a reused object, a jump between sources), except a
  whole number of 33-bit MPEG-TS wraps, which a TS reader sees as the same time;
- the player needs another container (DASH and ``?container=fmp4`` get fMP4 from MPEG-TS).
Ordinary flows (``ts_offset`` 0, whole objects) keep their objects' URLs: no remux at all. An edit
then plays as one continuous timeline in every player, including those (ffmpeg) that do not restart
their clock at ``#EXT-X-DISCONTINUITY``.

The timeline breaks (HLS ``#EXT-X-DISCONTINUITY``, DASH a new Period) before a segment that:
- leaves a gap after the previous one on the flow's timeline;
- has another ``ts_offset`` (an edit point: another encoding starts, RFC 8216 §4.3.2.3's SHOULD),
  unless both it and the previous segment are remuxed (below);
- starts at a timestamp other than where the previous one's bytes ended (direct bytes whose own
  times do not continue the previous segment's: a TS wrap, or a switch between direct bytes under
  a wrap offset and remuxed ones);
- needs another initialisation segment.

Between two remuxed segments that touch in flow time an edit point is no break: the player reads
one muxer's output throughout (the same tracks and PIDs, fMP4 fragments under the same remux init),
with timestamps that run on, so none of the MUSTs of §4.3.2.3 applies, and the players read an
in-band change of encoding (a new SPS) as they do within one stream. Marking it anyway is what
VLC 3 cannot play: at a discontinuity it restarts its demuxer, which never gets the ``#EXT-X-MAP``
init again (it keeps the playlist's first MAP and sends it once), and in MPEG-TS the restart resets
its clock, which sometimes gets a block before the next PCR. DASH plays such an edit as one Period.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from urllib.parse import quote

from catalog.store import SegmentLocation
from catalog.timing import NS_PER_SECOND, TimeRange

REMUX_INIT = "\0remux"  # init key of remuxed fMP4 fragments: the flow's remux/init.mp4
ISO_CONTAINERS = ("video/mp4", "audio/mp4", "video/iso.segment", "audio/iso.segment")
NATIVE_REMUX = {"video/mp2t": "ts", "audio/aac": "aac"}  # a partial segment stays in the flow's container
TS_WRAP_TICKS = 2**33  # MPEG-TS timestamps: 33 bits of 90 kHz ticks
TS_CLOCK = 90_000


def object_span(loc: SegmentLocation) -> tuple[int, int]:
    """Inclusive bounds of the segment's object on the object's own timeline."""
    offset = loc.ts_offset or 0
    if loc.object_timerange is not None and (offset or loc.object_timerange != loc.timerange):
        bounds = _bounds(loc.object_timerange)
        if bounds is not None:
            return bounds
    return loc.lo - offset, loc.hi - offset


@lru_cache(maxsize=4096)
def _bounds(text: str) -> tuple[int, int] | None:
    span = TimeRange.parse(text)
    return (span.lo, span.hi) if span.lo is not None and span.hi is not None else None


def is_partial(loc: SegmentLocation) -> bool:
    """True when the segment plays only part of its object."""
    if loc.sample_count is not None or loc.sample_offset:
        return True
    if loc.object_timerange is None or (loc.object_timerange == loc.timerange and not loc.ts_offset):
        return False  # the common case, decided without parsing
    lo, hi = object_span(loc)
    offset = loc.ts_offset or 0
    return lo < loc.lo - offset or hi > loc.hi - offset


def delivery(loc: SegmentLocation, container: str | None, fmp4: bool) -> str | None:
    """The remux extension this segment is served with, or None for its object as stored.

    ``fmp4``: the player needs fMP4 fragments (DASH, HLS ``?container=fmp4``)."""
    if fmp4 and (container not in ISO_CONTAINERS or not loc.init_object_id):
        return "m4s"  # fragments of an fMP4 flow come with their init object; anything else is remuxed
    if is_partial(loc) or not _own_time_is_flow_time(loc.ts_offset, container):
        return "m4s" if fmp4 else NATIVE_REMUX.get(container or "", "m4s")
    return None


def deliveries(locations: Sequence[SegmentLocation], container: str | None, fmp4: bool) -> list[str | None]:
    """``delivery`` of each segment; the common case (a whole object at flow time, not fMP4) is
    decided inline, without two calls per segment of a day-long playlist."""
    if fmp4:
        return [delivery(loc, container, fmp4) for loc in locations]
    return [
        None
        if loc.sample_count is None
        and not loc.sample_offset
        and not loc.ts_offset
        and (loc.object_timerange is None or loc.object_timerange == loc.timerange)
        else delivery(loc, container, fmp4)
        for loc in locations
    ]


def _own_time_is_flow_time(offset: int | None, container: str | None) -> bool:
    """A player reading the object sees flow time: no offset, or (MPEG-TS) whole 33-bit wraps."""
    if not offset:
        return True
    if container != "video/mp2t":
        return False
    # to the nearest tick: ts_offset is whole ns, and a wrap (95443.7176888... s) is not
    return round(Fraction(offset * TS_CLOCK, NS_PER_SECOND)) % TS_WRAP_TICKS == 0


def init_key(loc: SegmentLocation, ext: str | None) -> str | None:
    """The initialisation segment the bytes need: the object's own, the remux one, or none."""
    if ext == "m4s":
        return REMUX_INIT
    return None if ext else loc.init_object_id


def seen(loc: SegmentLocation, ext: str | None) -> tuple[int, int]:
    """Timestamps the player finds in the bytes: [start, end) ns."""
    if ext is not None:
        return loc.lo, loc.hi + 1  # remuxed: flow time
    lo, hi = object_span(loc)
    return lo, hi + 1


def breaks(prev: SegmentLocation, prev_ext: str | None, cur: SegmentLocation, cur_ext: str | None) -> bool:
    """Whether the timeline is discontinuous between two consecutive segments."""
    return discontinuities((prev, cur), (prev_ext, cur_ext))[1]


def discontinuities(locations: Sequence[SegmentLocation], exts: Sequence[str | None]) -> list[bool]:
    """Per segment, whether the timeline breaks before it (never before the first).

    One pass with the common case (whole objects under one offset) decided inline: a day of
    segments is 43,200 iterations."""
    flags = [False] * len(locations)
    prev_hi = prev_offset = prev_end = 0
    prev_init: str | None = None
    for i, (loc, ext) in enumerate(zip(locations, exts, strict=True)):
        offset = loc.ts_offset or 0
        if ext is not None:  # remuxed: flow time
            init, start, end = (REMUX_INIT if ext == "m4s" else None), loc.lo, loc.hi + 1
        elif loc.object_timerange is None or (not offset and loc.object_timerange == loc.timerange):
            init, start, end = loc.init_object_id, loc.lo - offset, loc.hi + 1 - offset
        else:
            init, (start, end) = loc.init_object_id, seen(loc, None)
        if i:
            flags[i] = (
                loc.lo != prev_hi + 1
                or init != prev_init
                or start != prev_end
                # an edit point, except between remuxed bytes (see the module's docstring)
                or (offset != prev_offset and (ext is None or ext != exts[i - 1]))
            )
        prev_hi, prev_offset, prev_init, prev_end = loc.hi, offset, init, end
    return flags


def segment_timerange(loc: SegmentLocation) -> str:
    return loc.timerange or str(TimeRange.from_inclusive(loc.lo, loc.hi))


def remux_uri(base_url: str, flow_id: str, loc: SegmentLocation, ext: str) -> str:
    """``/flows/{flow}/remux/{object}.{ext}?timerange=<the segment's timerange>``."""
    timerange = quote(segment_timerange(loc), safe=":_")
    return f"{base_url}/flows/{flow_id}/remux/{quote(loc.object_id, safe='')}.{ext}?timerange={timerange}"


def remux_init_uri(base_url: str, flow_id: str) -> str:
    return f"{base_url}/flows/{flow_id}/remux/init.mp4"
