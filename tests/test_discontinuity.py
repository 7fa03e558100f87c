"""The media timeline in playlists: discontinuities at edits, reuse, gaps and init changes; partial
segments through the remux endpoint; the live discontinuity sequence across refreshes.

An edit-by-reference flow is built on a real catalog (the app's SQLite file) from two flows' objects,
the way BBC's simple_edit.py does it: segments that reuse objects with a ts_offset.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import m3u8
import pytest
from conftest import new_id, video_flow

from catalog.store import SegmentLocation
from streaming.playback import timeline

S = 1_000_000_000


def register(client, flow_id: str, segments: list[dict]) -> None:
    response = client.post(f"/flows/{flow_id}/segments", json=segments)
    assert response.status_code == 201, response.text


@pytest.fixture
def edit(client):
    """Flows A (objects a0..a2 at 0-6 s) and B (b0, b1 at 100-104 s), and an edit E of them:

    [0,2) a0 | [2,4) a1 | [4,6) b0 @-96 s | [6,8) b1 @-96 s | [8,10) a0 again @+8 s | gap |
    [12,14) a1 @+10 s | [14,15) first half of b0 @-86 s | [15,16) second half of b0 @-86 s
    """
    a, b, e = new_id(), new_id(), new_id()
    source = new_id()
    for flow in (a, b):
        assert client.put(f"/flows/{flow}", json=video_flow(flow, new_id())).status_code == 201
    body = video_flow(e, source, status="closed_complete")
    body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 30, "flags": 0}
    assert client.put(f"/flows/{e}", json=body).status_code == 201
    a_objects, b_objects = [new_id() for _ in range(3)], [new_id() for _ in range(2)]
    register(client, a, [{"object_id": o, "timerange": f"[{2 * i}:0_{2 * i + 2}:0)"} for i, o in enumerate(a_objects)])
    register(
        client,
        b,
        [{"object_id": o, "timerange": f"[{100 + 2 * i}:0_{102 + 2 * i}:0)"} for i, o in enumerate(b_objects)],
    )
    a0, a1, _ = a_objects
    b0, b1 = b_objects
    register(
        client,
        e,
        [
            {"object_id": a0, "timerange": "[0:0_2:0)"},
            {"object_id": a1, "timerange": "[2:0_4:0)"},
            {"object_id": b0, "timerange": "[4:0_6:0)", "ts_offset": "-96:0"},
            {"object_id": b1, "timerange": "[6:0_8:0)", "ts_offset": "-96:0"},
            {"object_id": a0, "timerange": "[8:0_10:0)", "ts_offset": "8:0"},
            {"object_id": a1, "timerange": "[12:0_14:0)", "ts_offset": "10:0"},
            {"object_id": b0, "timerange": "[14:0_15:0)", "ts_offset": "-86:0"},
            {"object_id": b0, "timerange": "[15:0_16:0)", "ts_offset": "-86:0"},
        ],
    )
    return {"flow": e, "body": body, "objects": [a0, a1, b0, b1, a0, a1, b0, b0]}


# where the edit leaves its direct bytes (b0, remuxed in flow time under its ts_offset) and at the gap;
# between remuxed segments that touch (a0 again, the halves of b0) the remux's timestamps run on: no break
EXPECTED_BREAKS = [False, False, True, False, False, True, False, False]
# every segment remuxed (fMP4): the gap alone
EXPECTED_FMP4_BREAKS = [False, False, False, False, False, True, False, False]


def test_hls_marks_every_break_in_the_media_timeline(client, edit):
    response = client.get(f"/flows/{edit['flow']}/playlist.m3u8")
    assert response.status_code == 200
    playlist = m3u8.loads(response.text)
    assert playlist.is_endlist and len(playlist.segments) == 8  # closed_complete: the whole flow, VOD
    assert [s.discontinuity for s in playlist.segments] == EXPECTED_BREAKS
    # each segment after a break is dated again, so a player can place it
    assert all(
        s.program_date_time is not None for s, brk in zip(playlist.segments, EXPECTED_BREAKS, strict=True) if brk
    )
    assert [s.duration for s in playlist.segments] == [2, 2, 2, 2, 2, 2, 1, 1]
    # whole objects at their own times keep their object URIs; every segment under a ts_offset (reused
    # objects, the jump to B) and the two halves of b0 come from the remux endpoint, in flow time
    direct, remuxed = playlist.segments[:2], playlist.segments[2:]
    assert all("/remux/" not in s.uri for s in direct)
    timeranges = ["[4:0_6:0)", "[6:0_8:0)", "[8:0_10:0)", "[12:0_14:0)", "[14:0_15:0)", "[15:0_16:0)"]
    for seg, obj, timerange in zip(remuxed, edit["objects"][2:], timeranges, strict=True):
        url = urlsplit(seg.uri)
        assert url.path == f"/flows/{edit['flow']}/remux/{obj}.ts"
        assert parse_qs(url.query)["timerange"] == [timerange]


def test_fmp4_hls_and_dash_of_the_edit(client, edit):
    """Every segment remuxed to fMP4 (flow time), one init for all: the edit points run on, the gap breaks."""
    playlist = m3u8.loads(client.get(f"/flows/{edit['flow']}/playlist.m3u8?container=fmp4").text)
    assert [s.discontinuity for s in playlist.segments] == EXPECTED_FMP4_BREAKS
    assert all(urlsplit(s.uri).path.endswith(".m4s") for s in playlist.segments)
    assert {s.init_section.uri for s in playlist.segments} == {f"http://testserver/flows/{edit['flow']}/remux/init.mp4"}
    assert playlist.version >= 6


def test_live_discontinuity_sequence_follows_the_window(client, edit, settings):
    """Live windows of the last ``live_window`` (6) segments: the discontinuity sequence of the first
    segment is the breaks before it, and a segment keeps its discontinuity number across refreshes."""
    e = edit["flow"]
    client.put(f"/flows/{e}", json={**edit["body"], "status": "ingesting"})
    service = client.app.state.playlists
    # the first count reads the history in pages; windows of exactly live_window segments
    service.settings = replace(service.settings, page=2, live_span_s=0)

    def numbered(playlist: m3u8.M3U8) -> dict[str, tuple[int, int]]:
        """URI → (media sequence number, discontinuity sequence number) of each segment."""
        out, dsn = {}, playlist.discontinuity_sequence or 0
        for i, seg in enumerate(playlist.segments):
            dsn += 1 if seg.discontinuity and i else 0
            out[seg.uri] = (playlist.media_sequence + i, dsn)
        return out

    first = m3u8.loads(client.get(f"/flows/{e}/playlist.m3u8").text)
    assert not first.is_endlist and len(first.segments) == 6
    assert first.discontinuity_sequence == 1  # the break at b0 lies before the window (which starts at b0)
    # one more half of an object, continuing the last: the window slides by one
    register(client, e, [{"object_id": edit["objects"][3], "timerange": "[16:0_17:0)", "ts_offset": "-86:0"}])
    second = m3u8.loads(client.get(f"/flows/{e}/playlist.m3u8").text)
    assert second.media_sequence == first.media_sequence + 1
    before, after = numbered(first), numbered(second)
    shared = before.keys() & after.keys()
    assert len(shared) == 5 and all(before[uri] == after[uri] for uri in shared)
    assert second.segments[-1].discontinuity is False  # b1's [102, 103) continues b0's second half
    assert client.get(f"/flows/{e}/playlist.m3u8?type=vod").text.count("#EXT-X-DISCONTINUITY\n") == 2


def test_init_change_and_reuse_rules():
    def loc(
        lo_s: int, hi_s: int, obj: str, offset_s: int = 0, init: str | None = None, object_timerange: str | None = None
    ) -> SegmentLocation:
        timerange = f"[{lo_s}:0_{hi_s}:0)"
        return SegmentLocation(
            lo_s * S,
            hi_s * S - 1,
            obj,
            init,
            (),
            None,
            timerange,
            offset_s * S,
            object_timerange or f"[{lo_s - offset_s}:0_{hi_s - offset_s}:0)",
        )

    same_init = [loc(0, 2, "x", init="i1"), loc(2, 4, "y", init="i1")]
    new_init = [loc(0, 2, "x", init="i1"), loc(2, 4, "y", init="i2")]
    assert timeline.discontinuities(same_init, [None, None]) == [False, False]
    assert timeline.discontinuities(new_init, [None, None]) == [False, True]
    # an object whose own timeline does not continue the previous one's (its bytes say 50 s)
    jump = [loc(0, 2, "x"), loc(2, 4, "y", object_timerange="[50:0_52:0)")]
    assert timeline.discontinuities(jump, [None, None]) == [False, True]
    # partial use: object wider than the segment, or samples picked out
    assert timeline.is_partial(loc(0, 1, "x", object_timerange="[0:0_2:0)"))
    assert timeline.is_partial(loc(0, 2, "x")._replace(sample_offset=5))
    assert not timeline.is_partial(loc(0, 2, "x", 7))
    assert timeline.delivery(loc(0, 1, "x", object_timerange="[0:0_2:0)"), "video/mp2t", False) == "ts"
    assert timeline.delivery(loc(0, 1, "x", object_timerange="[0:0_2:0)"), "audio/aac", False) == "aac"
    assert timeline.delivery(loc(0, 2, "x", init="i"), "video/iso.segment", True) is None  # fMP4 as stored
    assert timeline.delivery(loc(0, 2, "x"), "video/mp2t", True) == "m4s"
    # media times that are not flow time come remuxed: any ts_offset but whole 33-bit TS wraps
    assert timeline.delivery(loc(0, 2, "x", 7), "video/mp2t", False) == "ts"
    assert timeline.delivery(loc(0, 2, "x", 7), "video/mp2t", True) == "m4s"
    assert timeline.delivery(loc(0, 2, "x", 7, init="i"), "video/iso.segment", False) == "m4s"
    wrap = loc(0, 2, "x")._replace(ts_offset=round(2**33 * S / 90000), object_timerange=None)  # to the ns
    assert timeline.delivery(wrap, "video/mp2t", False) is None
    assert timeline.delivery(wrap._replace(ts_offset=wrap.ts_offset + S), "video/mp2t", False) == "ts"
    # an object reused later in flow time: remuxed (timestamps run on); after direct bytes (the object's
    # own muxing) a break all the same, an edit point
    reuse = [loc(0, 2, "x"), loc(2, 4, "x", 2)]
    assert timeline.discontinuities(reuse, [timeline.delivery(r, "video/mp2t", False) for r in reuse]) == [
        False,
        True,
    ]
    # between remuxed segments that touch (one muxer's output, flow time) an edit point is no break, in
    # MPEG-TS and fMP4 alike; a gap between them still is one
    edits = [loc(0, 2, "x", 1), loc(2, 4, "y", -5), loc(4, 5, "x", 3), loc(6, 7, "x", 3)]
    for container, fmp4 in (("video/mp2t", False), ("video/mp2t", True), ("video/iso.segment", False)):
        exts = [timeline.delivery(r, container, fmp4) for r in edits]
        assert None not in exts
        assert timeline.discontinuities(edits, exts) == [False, False, False, True]
        pairs = [(edits[i - 1], exts[i - 1], edits[i], exts[i]) for i in range(1, len(edits))]
        assert [timeline.breaks(*pair) for pair in pairs] == [False, False, True]  # live counting's rule
    # a direct segment under a (wrap) offset followed by a remuxed one (flow time) breaks the timeline
    mixed = [loc(0, 2, "x", 10), loc(2, 3, "y", 10, object_timerange="[-8:0_-6:0)")]
    assert timeline.discontinuities(mixed, [None, "ts"]) == [False, True]
