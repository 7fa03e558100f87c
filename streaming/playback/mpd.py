"""MPEG-DASH MPDs (ISO/IEC 23009-1) for fMP4 flows: pure rendering, no I/O.

Segments are listed explicitly (``SegmentList`` + ``SegmentTimeline``) because their URLs may be
presigned. Times use a 90 kHz timescale, so TAI times stay well inside JavaScript's exact integers;
``presentationTimeOffset`` makes a VOD presentation start at zero. Live MPDs are ``dynamic`` with
the UTC wall clock tied to the TAI timeline through the leap-second table.
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


def _ticks(ns: int) -> int:
    return round(Fraction(ns * TIMESCALE, NS_PER_SECOND))


def _duration(ns: int) -> str:
    whole, frac = divmod(ns, NS_PER_SECOND)
    return f"PT{whole}.{frac:09d}S".replace(".000000000S", "S")


@dataclass(frozen=True)
class DashSegment:
    start_ns: int
    end_ns: int
    uri: str


@dataclass(frozen=True)
class Representation:
    id: str
    content_type: str  # "video" or "audio"
    mime_type: str
    bandwidth: int
    segments: Sequence[DashSegment]
    init_uri: str | None = None
    codecs: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    sample_rate: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _representation(rep: Representation, origin_ns: int) -> list[str]:
    attrs = {"id": rep.id, "bandwidth": str(rep.bandwidth)}
    for name, value in (("codecs", rep.codecs), ("width", rep.width), ("height", rep.height),
                        ("frameRate", rep.frame_rate), ("audioSamplingRate", rep.sample_rate)):
        if value is not None:
            attrs[name] = str(value)
    lines = ["      <Representation " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + ">"]
    lines.append(f'        <SegmentList timescale="{TIMESCALE}" presentationTimeOffset="{_ticks(origin_ns)}">')
    if rep.init_uri:
        lines.append(f"          <Initialization sourceURL={quoteattr(rep.init_uri)}/>")
    lines.append("          <SegmentTimeline>")
    previous_end: int | None = None
    for seg in rep.segments:
        start, length = _ticks(seg.start_ns), _ticks(seg.end_ns) - _ticks(seg.start_ns)
        t = f' t="{start}"' if previous_end != start else ""  # t only where the timeline jumps
        lines.append(f'            <S{t} d="{length}"/>')
        previous_end = start + length
    lines.append("          </SegmentTimeline>")
    lines.extend(f"          <SegmentURL media={quoteattr(seg.uri)}/>" for seg in rep.segments)
    lines += ["        </SegmentList>", "      </Representation>"]
    return lines


def mpd(representations: Sequence[Representation], *, live: bool, now_tai_ns: int,
        min_update_s: int = 2, buffer_depth_s: int = 30) -> str:
    """An MPD with one adaptation set per content type (video, audio)."""
    segments = [s for rep in representations for s in rep.segments]
    first = min((s.start_ns for s in segments), default=0)
    last = max((s.end_ns for s in segments), default=0)
    origin = 0 if live else first  # live: media time is TAI time, tied to UTC below
    head = ['<?xml version="1.0" encoding="UTF-8"?>']
    mpd_attrs = {"xmlns": "urn:mpeg:dash:schema:mpd:2011", "profiles": "urn:mpeg:dash:profile:isoff-live:2011",
                 "minBufferTime": "PT2S"}
    if live:
        mpd_attrs.update(type="dynamic", availabilityStartTime=_availability_start(now_tai_ns),
                         publishTime=utc_iso(now_tai_ns), minimumUpdatePeriod=f"PT{min_update_s}S",
                         timeShiftBufferDepth=f"PT{buffer_depth_s}S")
    else:
        mpd_attrs.update(type="static", mediaPresentationDuration=_duration(last - first))
    head.append("<MPD " + " ".join(f"{k}={quoteattr(v)}" for k, v in mpd_attrs.items()) + ">")
    body = ['  <Period id="0" start="PT0S">']
    for kind in ("video", "audio"):
        reps = [r for r in representations if r.content_type == kind]
        if not reps:
            continue
        body.append(f'    <AdaptationSet contentType="{kind}" mimeType={quoteattr(reps[0].mime_type)} '
                    'segmentAlignment="true" startWithSAP="1">')
        for rep in reps:
            body.extend(_representation(rep, origin))
        body.append("    </AdaptationSet>")
    body += ["  </Period>", "</MPD>"]
    return "\n".join(head + body) + "\n"


def _availability_start(now_tai_ns: int) -> str:
    """Media time is TAI time, and a player maps it to wall clock (UTC): so the availability start is
    the Unix epoch moved back by today's TAI − UTC (37 s: 1969-12-31T23:59:23Z)."""
    offset_s = (now_tai_ns - tai_to_utc_ns(now_tai_ns)) // NS_PER_SECOND
    stamp = datetime(1970, 1, 1, tzinfo=UTC) - timedelta(seconds=offset_s)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}Z"
