"""What a player showed, checked against what a content's flow says: frame count, first and last
presentation time, and where the timeline may restart (only at the content's edit points)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

TS_WRAP = Fraction(2**33, 90000)  # MPEG-TS timestamps are 33-bit 90 kHz: players may see them modulo this


@dataclass(frozen=True)
class Expected:
    """The video timeline a player must show: ``frames`` frames at ``fps`` from flow time ``start``,
    with the media timeline allowed to restart only at ``edits`` (flow times of edit points)."""

    frames: int
    fps: int
    start: Fraction
    edits: tuple[Fraction, ...] = ()

    @property
    def frame(self) -> Fraction:
        return Fraction(1, self.fps)

    @property
    def duration(self) -> Fraction:
        return self.frames * self.frame

    @property
    def end(self) -> Fraction:
        return self.start + self.duration

    def edit_frames(self) -> set[int]:
        """Frame indices at which an edit point starts."""
        return {round((edit - self.start) * self.fps) for edit in self.edits}


def _same_time(a: Fraction, b: Fraction, tick: Fraction) -> bool:
    """Equal within one tick of the player's clock, modulo the TS wrap (33-bit PTS)."""
    delta = (a - b) % TS_WRAP
    return min(delta, TS_WRAP - delta) <= tick


def runs(pts: list[Fraction], frame: Fraction, tick: Fraction) -> list[int]:
    """Frame indices where the timeline does not step by exactly one frame (a restart)."""
    return [i for i in range(1, len(pts)) if not _same_time(pts[i] - pts[i - 1], frame, tick)]


def check(pts: list[Fraction], expected: Expected, tick: Fraction, who: str, relative: bool = False) -> None:
    """Asserts the sequence of video presentation times a player output (in output order).

    One continuous run must start at the flow's start; a timeline that restarts (media times after
    an #EXT-X-DISCONTINUITY, which HLS allows) may do so only at edit points, with the right number
    of frames between them. Either way the frame count is exact and no time repeats. ``relative``: the
    player shows its own running time (GStreamer's adaptive demuxers), so only the span is checked."""
    assert pts, f"{who}: no video frames at all"
    assert len(pts) == expected.frames, (
        f"{who}: {len(pts)} video frames, the flow has {expected.frames} "
        f"({float(expected.duration)} s at {expected.fps} fps); first {float(pts[0])}, last {float(pts[-1])}"
    )
    assert len(set(pts)) == len(pts), f"{who}: {len(pts) - len(set(pts))} frames repeat a presentation time"
    restarts = runs(pts, expected.frame, tick)
    allowed = expected.edit_frames()
    wrong = [i for i in restarts if i not in allowed]
    assert not wrong, (
        f"{who}: the timeline jumps at frame(s) {wrong[:5]} (flow times "
        f"{[float(expected.start + i * expected.frame) for i in wrong[:5]]}), not at an edit point "
        f"(edits at {[float(e) for e in expected.edits]}): e.g. {float(pts[wrong[0] - 1])} -> "
        f"{float(pts[wrong[0]])}"
    )
    if not restarts and relative:
        assert _same_time(pts[-1] - pts[0], expected.duration - expected.frame, tick), (
            f"{who}: frames span {float(pts[-1] - pts[0])} s, the flow's {float(expected.duration - expected.frame)} s"
        )
    elif not restarts:  # one continuous timeline: it must be the flow's own
        assert _same_time(pts[0], expected.start, tick), (
            f"{who}: first frame at {float(pts[0])} s, the flow starts at {float(expected.start)} s"
        )
        assert _same_time(pts[-1], expected.end - expected.frame, tick), (
            f"{who}: last frame at {float(pts[-1])} s, the flow's last frame is at "
            f"{float(expected.end - expected.frame)} s"
        )
