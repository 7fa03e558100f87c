"""MPEG-DASH MPDs (ISO/IEC 23009-1) of fMP4 segments: pure rendering, no I/O.

Segments are listed explicitly (``SegmentList`` + ``SegmentTimeline``) because their URLs may be
presigned. Times use a 90 kHz timescale, so TAI times stay well inside JavaScript's exact integers.
Each break in the media timeline starts a new Period (one set of boundaries for all the MPD's
representations); within a Period, ``S@t`` are the timestamps in the segments' bytes and
``presentationTimeOffset`` ties them to the Period's start. Those two are unsigned: when some would
be negative (a flow starting just before 0, AAC priming), all of them move up by the same amount,
so every representation stays aligned with the others. A VOD presentation starts at zero; live MPDs
are ``dynamic`` with the UTC wall clock tied to the TAI timeline through the leap-second table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from xml.sax.saxutils import quoteattr

from catalog.timing import NS_PER_SECOND
from streaming.playback.leapseconds import tai_to_utc_ns, utc_iso

TIMESCALE = 90_000
MIME = {"video": "video/mp4", "audio": "audio/mp4"}


def _ticks(ns: int) -> int:
    return round(Fraction(ns * TIMESCALE, NS_PER_SECOND))


def _duration(ns: int) -> str:
    whole, frac = divmod(ns, NS_PER_SECOND)
    return f"PT{whole}.{frac:09d}S".replace(".000000000S", "S")


@dataclass(frozen=True)
class DashSegment:
    start_ns: int  # on the flow's timeline
    end_ns: int
    uri: str
    media_ns: int | None = None  # the timestamp its bytes start at (None: start_ns)
    init_uri: str | None = None
    discontinuity: bool = False  # the media timeline breaks before it: a new Period


@dataclass(frozen=True)
class Representation:
    id: str
    content_type: str  # "video" or "audio"
    bandwidth: int
    segments: Sequence[DashSegment]
    codecs: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    sample_rate: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _periods(representations: Sequence[Representation]) -> list[int]:
    """Period starts on the flow timeline: the first segment, and every break of any representation."""
    starts = {s.start_ns for rep in representations for s in rep.segments if s.discontinuity}
    firsts = [rep.segments[0].start_ns for rep in representations if rep.segments]
    return sorted(starts | ({min(firsts)} if firsts else set()))


def _split(rep: Representation, bounds: Sequence[int]) -> list[list[DashSegment]]:
    """The representation's segments per Period (by where each starts)."""
    parts: list[list[DashSegment]] = [[] for _ in bounds]
    index = 0
    for seg in rep.segments:
        while index + 1 < len(bounds) and seg.start_ns >= bounds[index + 1]:
            index += 1
        parts[index].append(seg)
    return parts


@dataclass
class _Timing:
    """One representation's timing in one Period, in ticks, before the non-negative shift."""

    offset: int  # presentationTimeOffset
    starts: list[int]  # S@t of each segment (media time)
    lengths: list[int]


def _timing(segments: Sequence[DashSegment], period_ns: int) -> _Timing:
    first = segments[0]
    # media time minus flow time is constant within a Period: PTO is the media time at its start
    shift = (first.start_ns if first.media_ns is None else first.media_ns) - first.start_ns
    starts, lengths = [], []
    for seg in segments:
        media = seg.start_ns if seg.media_ns is None else seg.media_ns
        start = _ticks(media)
        starts.append(start)
        lengths.append(_ticks(media + seg.end_ns - seg.start_ns) - start)
    return _Timing(_ticks(period_ns + shift), starts, lengths)


def _representation(rep: Representation, segments: Sequence[DashSegment], timing: _Timing, lift: int) -> list[str]:
    attrs = {"id": rep.id, "bandwidth": str(rep.bandwidth)}
    for name, value in (
        ("codecs", rep.codecs),
        ("width", rep.width),
        ("height", rep.height),
        ("frameRate", rep.frame_rate),
        ("audioSamplingRate", rep.sample_rate),
    ):
        if value is not None:
            attrs[name] = str(value)
    lines = ["      <Representation " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + ">"]
    lines.append(f'        <SegmentList timescale="{TIMESCALE}" presentationTimeOffset="{timing.offset + lift}">')
    if segments[0].init_uri:
        lines.append(f"          <Initialization sourceURL={quoteattr(segments[0].init_uri)}/>")
    lines.append("          <SegmentTimeline>")
    previous_end: int | None = None
    for start, length in zip(timing.starts, timing.lengths, strict=True):
        t = f' t="{start + lift}"' if previous_end != start else ""  # t only where the timeline jumps
        lines.append(f'            <S{t} d="{length}"/>')
        previous_end = start + length
    lines.append("          </SegmentTimeline>")
    lines.extend(f"          <SegmentURL media={quoteattr(seg.uri)}/>" for seg in segments)
    lines += ["        </SegmentList>", "      </Representation>"]
    return lines


def mpd(
    representations: Sequence[Representation],
    *,
    live: bool,
    now_tai_ns: int,
    min_update_s: int = 2,
    buffer_depth_s: int = 30,
    clock_offset_s: int = 0,
) -> str:
    """An MPD with one adaptation set per content type (video, audio) in each Period.

    ``clock_offset_s``: live, how many seconds the media time runs behind the TAI wall clock (0 for
    a live encoder's flow, stamped with TAI now; ``dash.clock_offset``)."""
    segments = [s for rep in representations for s in rep.segments]
    first = min((s.start_ns for s in segments), default=0)
    last = max((s.end_ns for s in segments), default=0)
    origin = 0 if live else first  # live: media time is TAI time, tied to UTC below
    head = ['<?xml version="1.0" encoding="UTF-8"?>']
    mpd_attrs = {
        "xmlns": "urn:mpeg:dash:schema:mpd:2011",
        "profiles": "urn:mpeg:dash:profile:isoff-live:2011",
        "minBufferTime": "PT2S",
    }
    if live:
        mpd_attrs.update(
            type="dynamic",
            availabilityStartTime=_availability_start(now_tai_ns, clock_offset_s),
            publishTime=utc_iso(now_tai_ns),
            minimumUpdatePeriod=f"PT{min_update_s}S",
            timeShiftBufferDepth=f"PT{buffer_depth_s}S",
        )
    else:
        mpd_attrs.update(type="static", mediaPresentationDuration=_duration(last - first))
    head.append("<MPD " + " ".join(f"{k}={quoteattr(v)}" for k, v in mpd_attrs.items()) + ">")
    bounds = _periods(representations) or [first]
    parts = {rep.id: _split(rep, bounds) for rep in representations}
    timings = {
        (rep.id, p): _timing(segs, bounds[p]) for rep in representations for p, segs in enumerate(parts[rep.id]) if segs
    }
    lowest = min((min(t.offset, *t.starts) for t in timings.values()), default=0)
    lift = max(0, -lowest)  # the same for every representation and Period: they stay aligned
    body: list[str] = []
    for p, bound in enumerate(bounds):
        body.append(f'  <Period id="{bound}" start="{_duration(bound - origin)}">')
        for kind in ("video", "audio"):
            reps = [r for r in representations if r.content_type == kind and parts[r.id][p]]
            if not reps:
                continue
            body.append(
                f'    <AdaptationSet contentType="{kind}" mimeType="{MIME[kind]}" '
                'segmentAlignment="true" startWithSAP="1">'
            )
            for rep in reps:
                body.extend(_representation(rep, parts[rep.id][p], timings[(rep.id, p)], lift))
            body.append("    </AdaptationSet>")
        body.append("  </Period>")
    body.append("</MPD>")
    return "\n".join(head + body) + "\n"


def _availability_start(now_tai_ns: int, clock_offset_s: int = 0) -> str:
    """Media time is TAI time, and a player maps it to wall clock (UTC): so the availability start is
    the Unix epoch moved back by today's TAI − UTC (37 s: 1969-12-31T23:59:23Z), and on by the media
    clock's offset from the wall clock."""
    offset_s = (now_tai_ns - tai_to_utc_ns(now_tai_ns)) // NS_PER_SECOND
    stamp = datetime(1970, 1, 1, tzinfo=UTC) - timedelta(seconds=offset_s - clock_offset_s)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}Z"
