"""Audio at a cut (streaming.playback.cut): the AAC frames starting inside the window, and silence
where the object holds no audio up to the window's edge (a muxer leaves an object's first frames at
the end of the object before it), so an edit's audio covers its whole duration."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import pytest
from media import make_ts

from catalog.timing import NS_PER_SECOND
from streaming.ingest.segmenter import cut as segment
from streaming.playback.cut import Window, cut, ns, open_source
from streaming.playback.remux import remux_one


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return list(segment(make_ts(tmp_path_factory.mktemp("cut") / "in.ts", seconds=6)))


def _audio(data: bytes, window: Window) -> tuple[list[tuple[int, int]], Fraction]:
    with open_source(data) as source:
        (audio,) = [t for t in cut(source, window) if t.kind == "audio"]
        return [(ns(p.pts, audio.time_base), ns(p.pts + p.duration, audio.time_base)) for p in audio.packets], Fraction(
            1024, audio.sample_rate
        )


@pytest.mark.parametrize("part", ["whole", "first half"])
def test_audio_cut_at_an_edit_covers_the_window_without_overlap(objects, part):
    chunk = objects[1]
    start = chunk.timerange.start - chunk.ts_offset
    end = chunk.timerange.end - chunk.ts_offset if part == "whole" else start + NS_PER_SECOND
    with av.open(io.BytesIO(chunk.data)) as source:  # the object alone starts its audio late
        first_audio = min(p.pts * p.time_base for p in source.demux(audio=0) if p.pts is not None)
    assert first_audio * NS_PER_SECOND - start > NS_PER_SECOND // 40
    frames, frame = _audio(chunk.data, Window(start, end, 0, audio_start=True, audio_end=True))
    frame_ns = frame * NS_PER_SECOND
    assert all(a[1] == b[0] for a, b in zip(frames, frames[1:], strict=False))  # back to back
    assert 0 <= frames[0][0] - start < frame_ns and abs(end - frames[-1][1]) < frame_ns


def test_the_silence_decodes_with_the_rest(objects):
    chunk = objects[1]
    start = chunk.timerange.start - chunk.ts_offset
    body = remux_one(chunk.data, None, Window(start, start + NS_PER_SECOND, 0, True, True), "ts")
    with av.open(io.BytesIO(body)) as remuxed:
        decoded = list(remuxed.decode(audio=0))
    assert abs(len(decoded) - 1 / Fraction(1024, decoded[0].sample_rate)) < 1  # a second's frames, +-1
