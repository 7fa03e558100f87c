"""HLS media playlists (RFC 8216) from a flow's segments: pure rendering, no I/O.

Durations are exact: a segment's ``#EXTINF`` is its timerange length in nanoseconds written as a
decimal number of seconds (``2``, ``0.04``, ``1.001``), never a float. Gaps between segments get
``#EXT-X-DISCONTINUITY``; every segment after one, and the first, gets ``#EXT-X-PROGRAM-DATE-TIME``
converted from TAI to UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from catalog.timing import NS_PER_SECOND
from streaming.playback.leapseconds import utc_iso


class PlaylistEntry(NamedTuple):
    start_ns: int  # inclusive start on the flow's timeline (TAI)
    end_ns: int  # exclusive end
    uri: str
    init_uri: str | None = None  # fMP4/CMAF: the init segment this media segment needs


def seconds_text(ns: int) -> str:
    """Exact decimal seconds: 2000000000 → "2", 40000000 → "0.04"."""
    whole, frac = divmod(ns, NS_PER_SECOND)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if frac else str(whole)


def target_duration(entries: Sequence[PlaylistEntry]) -> int:
    """The longest segment rounded up to whole seconds (RFC 8216 §4.3.3.1), at least 1."""
    longest = max((end - start for start, end, _, _ in entries), default=NS_PER_SECOND)
    return max(1, -(-longest // NS_PER_SECOND))


def media_playlist(entries: Sequence[PlaylistEntry], *, media_sequence: int, ended: bool,
                   target: int | None = None) -> str:
    """A media playlist. ``ended`` marks VOD (``#EXT-X-ENDLIST``); otherwise a live window.

    Entries are read by position, so plain 4-tuples do as well as ``PlaylistEntry`` (a day of
    segments builds faster without 43,200 named-tuple constructions)."""
    uses_map = any(init_uri for _, _, _, init_uri in entries)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{6 if uses_map else 3}",
        f"#EXT-X-TARGETDURATION:{target or target_duration(entries)}",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
    ]
    if ended:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    if not ended or entries:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    previous_end: int | None = None
    current_map: str | None = None
    extinf: dict[int, str] = {}  # most segments share a duration: format each once
    append = lines.append
    for start, end, uri, init_uri in entries:
        if previous_end != start:
            if previous_end is not None:
                append("#EXT-X-DISCONTINUITY")
            append(f"#EXT-X-PROGRAM-DATE-TIME:{utc_iso(start)}")
        if init_uri and init_uri != current_map:
            append(f'#EXT-X-MAP:URI="{init_uri}"')
            current_map = init_uri
        length = end - start
        tag = extinf.get(length)
        if tag is None:
            tag = extinf[length] = f"#EXTINF:{seconds_text(length)},"
        append(tag)
        append(uri)
        previous_end = end
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
