"""HLS media playlists (RFC 8216) from a flow's segments: pure rendering, no I/O.

Durations are exact: a segment's ``#EXTINF`` is its timerange length in nanoseconds written as a
decimal number of seconds (``2``, ``0.04``, ``1.001``), never a float. A segment the caller marks
as a break in the media timeline (``timeline.py``; by default, one after a gap) gets
``#EXT-X-DISCONTINUITY``; it, the first segment (and in live playlists every segment) gets
``#EXT-X-PROGRAM-DATE-TIME`` converted from TAI to UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

from catalog.timing import NS_PER_SECOND
from streaming.playback.leapseconds import utc_iso


class PlaylistEntry(NamedTuple):
    start_ns: int  # inclusive start on the flow's timeline (TAI)
    end_ns: int  # exclusive end
    uri: str
    init_uri: str | None = None  # fMP4/CMAF: the init segment this media segment needs
    discontinuity: bool | None = None  # the timeline breaks before it (None: only after a gap)


# what the renderers accept: PlaylistEntry, or the plain 5- or 4-tuple it names
Entries = Sequence[tuple[int, int, str, str | None] | tuple[int, int, str, str | None, bool | None]]


def seconds_text(ns: int) -> str:
    """Exact decimal seconds: 2000000000 → "2", 40000000 → "0.04"."""
    whole, frac = divmod(ns, NS_PER_SECOND)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if frac else str(whole)


def target_duration(entries: Entries) -> int:
    """The longest segment rounded up to whole seconds (RFC 8216 §4.3.3.1), at least 1."""
    longest = max((entry[1] - entry[0] for entry in entries), default=NS_PER_SECOND)
    return max(1, -(-longest // NS_PER_SECOND))


def media_playlist(
    entries: Entries, *, media_sequence: int, ended: bool, target: int | None = None, discontinuity_sequence: int = 0
) -> str:
    """A media playlist. ``ended`` marks VOD (``#EXT-X-ENDLIST``); otherwise a live window, whose
    ``discontinuity_sequence`` counts the discontinuities before its first segment.

    Entries are read by position, so plain 5-tuples (or 4-tuples) do as well as ``PlaylistEntry``
    (a day of segments builds faster without 43,200 named-tuple constructions)."""
    padded = [(*e, None, None)[:5] for e in entries] if entries and len(entries[0]) < 5 else entries
    rows = cast(Sequence[PlaylistEntry], padded)  # every row has five fields now
    uses_map = any(entry[3] for entry in rows)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{6 if uses_map else 3}",
        f"#EXT-X-TARGETDURATION:{target or target_duration(rows)}",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
    ]
    if not ended or discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    if ended:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    if not ended or rows:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    previous_end: int | None = None
    current_map: str | None = None
    extinf: dict[int, str] = {}  # most segments share a duration: format each once
    append = lines.append
    for start, end, uri, init_uri, discontinuity in rows:
        if previous_end is None:
            append(f"#EXT-X-PROGRAM-DATE-TIME:{utc_iso(start)}")
        elif discontinuity or (discontinuity is None and previous_end != start):
            append("#EXT-X-DISCONTINUITY")
            append(f"#EXT-X-PROGRAM-DATE-TIME:{utc_iso(start)}")
        elif not ended:  # live: every segment dated, so a refreshing player can place each one
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


def vod_run(start: int, lengths: Sequence[int], uris: Sequence[str], init_uri: str | None, target: int) -> str:
    """``media_playlist(..., media_sequence=0, ended=True)`` of an unbroken run from ``start`` (each
    segment starts where the last ended, one init segment or none), byte for byte, from columns.
    Segments of one length (the usual day) are one join of the URIs with the ``#EXTINF`` line
    between them; mixed lengths interleave one ``#EXTINF`` string per distinct length with the URIs."""
    head = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{6 if init_uri else 3}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-PROGRAM-DATE-TIME:{utc_iso(start)}",
    ]
    if init_uri:
        head.append(f'#EXT-X-MAP:URI="{init_uri}"')
    tags = {length: f"#EXTINF:{seconds_text(length)}," for length in set(lengths)}
    if len(tags) == 1 and uris:
        tag = tags[lengths[0]]
        lines = list(uris)  # the header goes on the first URI, the end on the last: one copy of the text
        lines[0] = "\n".join((*head, tag, lines[0]))
        lines[-1] += "\n#EXT-X-ENDLIST\n"
        return f"\n{tag}\n".join(lines)
    body: list[str] = [""] * (2 * len(lengths))
    body[0::2] = map(tags.__getitem__, lengths)
    body[1::2] = uris
    head += body
    head.append("#EXT-X-ENDLIST")
    return "\n".join(head) + "\n"
