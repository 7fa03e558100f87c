"""On-the-fly transmux and clip export figures: ``python -m bench.transmux`` (``make bench`` runs it).

Media: 60 s of 960x540 25 fps H.264 at ~4 Mbit/s (moving noise, so the bytes are those of real
pictures) + AAC, made with PyAV (2 s GOPs), ingested into a gateway
process (one uvicorn worker, local-disk store, SQLite) as 2 s MPEG-TS segments. Each row prints
the figure, its value, a reference measured in the same run and the ratio:

* TS -> fMP4 remux of whole segments and of cut segments (a cut inside a GOP re-encodes the
  frames of that GOP inside the window), segments/s on one thread, vs only demuxing them;
* time to the first byte of a remuxed segment (cold: every object remuxed for the first time;
  warm: from the cache) vs the same object proxied as it is (``/objects/{id}/content?mode=proxy``);
* clip export: ``media.mp4`` of the whole flow and a cut ``media.ts``, MB/s and x realtime, vs
  ``media.ts`` of whole segments (the objects back to back, no remux).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import GatewayProcess  # noqa: E402

from gateway.ingest import ingest  # noqa: E402
from streaming.ingest.segmenter import cut as segment_file  # noqa: E402
from streaming.playback.cut import Window, open_source  # noqa: E402
from streaming.playback.remux import remux_one  # noqa: E402

SECONDS = 60
S = 1_000_000_000


def make_media(path: Path, seconds: int = SECONDS, fps: int = 25, width: int = 960, height: int = 540) -> Path:
    noise = os.urandom(width * height * 2)
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 4_000_000
        video.codec_context.gop_size = 2 * fps
        video.codec_context.options = {"preset": "ultrafast", "keyint_min": str(2 * fps), "sc_threshold": "0"}
        sound = out.add_stream("aac", rate=48000)
        sound.bit_rate = 128_000
        samples_done = 0
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for n, plane in enumerate(frame.planes):
                start = (i * 7919 + n * 104729) % (len(noise) - plane.buffer_size)
                plane.update(noise[start : start + plane.buffer_size])
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
            while samples_done * fps < (i + 1) * 48000:
                audio = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
                for plane in audio.planes:
                    plane.update(bytes(plane.buffer_size))
                audio.sample_rate, audio.time_base, audio.pts = 48000, Fraction(1, 48000), samples_done
                samples_done += 1024
                for packet in sound.encode(audio):
                    out.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode():
                out.mux(packet)
    return path


def per_second(work, items) -> float:
    started = time.perf_counter()
    for item in items:
        work(item)
    return len(items) / (time.perf_counter() - started)


def demux_only(data: bytes) -> None:
    with open_source(data) as source:
        for _ in source.demux():
            pass


def first_byte(url: str, http: httpx.Client) -> float:
    started = time.perf_counter()
    with http.stream("GET", url) as response:
        assert response.status_code == 200, response.read()
        elapsed = 0.0
        for _ in response.iter_raw():
            elapsed = elapsed or time.perf_counter() - started
    return elapsed


def download(url: str, http: httpx.Client) -> tuple[int, float]:
    started = time.perf_counter()
    response = http.get(url, timeout=600)
    assert response.status_code == 200, response.text
    return len(response.content), time.perf_counter() - started


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = make_media(work / "clip.ts")
        chunks = list(segment_file(clip, 2))
        objects = [c.data for c in chunks]
        whole = per_second(lambda d: remux_one(d, None, Window(), "m4s"), objects)
        demux = per_second(demux_only, objects)
        rows.append(
            (
                "TS -> fMP4 remux, whole 2 s segments (one thread)",
                f"{whole:.0f} segments/s",
                f"demux only: {demux:.0f} segments/s",
                f"{whole / demux:.2f}",
            )
        )

        def cut_one(chunk) -> None:  # 0.5 s in and 0.5 s before the end: two GOPs re-encoded in part
            start = chunk.timerange.start + S // 2
            remux_one(chunk.data, None, Window(start, chunk.timerange.end - S // 2), "m4s")

        cut = per_second(cut_one, chunks)
        rows.append(
            (
                "remux of cut segments (1 s of 2 s kept, re-encoded at the cuts)",
                f"{cut:.1f} segments/s",
                f"whole segments: {whole:.0f} segments/s",
                f"{cut / whole:.2f}",
            )
        )

        gateway = GatewayProcess(work / "data")
        gateway.start()
        try:
            flow = "5f1f4d8e-7c0b-4d5e-9a6b-2b8c1d3e4f50"
            asyncio.run(ingest(gateway.url, clip, flow, quiet=True))
            with httpx.Client(base_url=gateway.url, timeout=120) as http:
                segments = http.get(f"/flows/{flow}/segments", params={"limit": 1000}).json()
                direct = [first_byte(f"/objects/{s['object_id']}/content?mode=proxy", http) for s in segments]
                remux = [f"/flows/{flow}/remux/{s['object_id']}.m4s?timerange={s['timerange']}" for s in segments]
                cold = [first_byte(url, http) for url in remux]
                warm = [first_byte(url, http) for url in remux]
                base = statistics.median(direct)
                for name, times in (("cold", cold), ("warm (cached)", warm)):
                    value = statistics.median(times)
                    rows.append(
                        (
                            f"time to first byte, remuxed segment, {name} (median)",
                            f"{value * 1000:.1f} ms",
                            f"object proxied: {base * 1000:.1f} ms",
                            f"{value / base:.1f}",
                        )
                    )
                size, plain = download(f"/flows/{flow}/media.ts", http)
                plain_rate = size / plain / 1e6
                for name, url, seconds in (
                    ("clip export media.mp4, whole flow (made)", f"/flows/{flow}/media.mp4", SECONDS),
                    ("clip export media.ts, cut [5:0_55:0)", f"/flows/{flow}/media.ts?timerange=[5:0_55:0)", 50),
                ):
                    got, elapsed = download(url, http)
                    rate = got / elapsed / 1e6
                    rows.append(
                        (
                            name,
                            f"{rate:.1f} MB/s, {seconds / elapsed:.0f}x realtime",
                            f"media.ts of whole segments: {plain_rate:.0f} MB/s",
                            f"{rate / plain_rate:.2f}",
                        )
                    )
                got, elapsed = download(f"/flows/{flow}/media.mp4", http)  # made above: the kept file
                rate = got / elapsed / 1e6
                rows.append(
                    (
                        "clip export media.mp4 again (the kept file, a seek's Range too)",
                        f"{rate:.1f} MB/s, {SECONDS / elapsed:.0f}x realtime",
                        f"media.ts of whole segments: {plain_rate:.0f} MB/s",
                        f"{rate / plain_rate:.2f}",
                    )
                )
        finally:
            gateway.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':{width}}  {'value':32}  {'reference (same run)':40}  ratio")
    for name, value, reference, ratio in rows:
        print(f"{name:{width}}  {value:32}  {reference:40}  {ratio}")


if __name__ == "__main__":
    main()
