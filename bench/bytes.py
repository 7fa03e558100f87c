"""Byte-path figures: proxy vs direct S3, gateway memory while proxying 1 GB, local disk vs nginx, ingest.

Run with ``python -m bench.bytes`` (``make bench`` runs it). Everything runs on 127.0.0.1: a moto S3
server, the gateway (one uvicorn worker) and, when Debian's nginx is installed, an nginx serving
the same file as the local-disk store. Downloads use curl (C, so the client costs little CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import GatewayProcess, S3Server, free_port  # noqa: E402
from media import make_ts  # noqa: E402

MIB = 1024 * 1024
T = TypeVar("T")


def curl_speed(url: str, headers: list[str] | None = None, repeat: int = 3) -> float:
    """Best of ``repeat`` downloads, in MiB/s."""
    best = 0.0
    for _ in range(repeat):
        args = ["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download} %{http_code}", url]
        for header in headers or []:
            args[1:1] = ["-H", header]
        speed, code = subprocess.run(args, capture_output=True, text=True, timeout=300).stdout.split()
        assert code in ("200", "206"), f"{url} answered {code}"
        best = max(best, float(speed) / MIB)
    return best


def ranges_speed(url: str, size: int, count: int = 64) -> float:
    """1 MiB ranges at spread offsets, one after another: MiB/s."""
    started = time.perf_counter()
    with httpx.Client(timeout=60) as http:
        for i in range(count):
            start = (i * 7919 * MIB) % (size - MIB)
            response = http.get(url, headers={"Range": f"bytes={start}-{start + MIB - 1}"})
            assert response.status_code == 206 and len(response.content) == MIB
    return count / (time.perf_counter() - started)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def upload_object(gateway: GatewayProcess, size: int) -> str:
    """Allocates and uploads ``size`` random bytes as a registered object; returns its id."""
    with httpx.Client(base_url=gateway.url, timeout=300) as http:
        flow_id = str(uuid.uuid4())
        http.put(
            f"/flows/{flow_id}",
            json={
                "id": flow_id,
                "source_id": str(uuid.uuid4()),
                "format": "urn:x-nmos:format:video",
                "codec": "video/h264",
                "container": "video/mp2t",
                "essence_parameters": {"frame_width": 1, "frame_height": 1, "frame_rate": {"numerator": 25}},
            },
        )
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        with tempfile.NamedTemporaryFile() as blob:
            block = os.urandom(MIB)
            for _ in range(size // MIB):
                blob.write(block)
            blob.flush()
            subprocess.run(
                [
                    "curl",
                    "-s",
                    "-f",
                    "-H",
                    f"Content-Type: {obj['put_url']['content-type']}",
                    "-T",
                    blob.name,
                    "-o",
                    "/dev/null",
                    obj["put_url"]["url"],
                ],
                check=True,
                timeout=600,
            )
        response = http.post(
            f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}
        )
        assert response.status_code == 201, response.text
        return obj["object_id"]


def peak_rss_while(gateway: GatewayProcess, work: Callable[[], T]) -> tuple[float, float, T]:
    """The gateway's RSS (MiB) just before ``work``, its peak while ``work`` runs, and what it returned."""
    pid = gateway.proc.pid  # type: ignore[union-attr]  # started, so proc is set
    before = rss_mib(pid)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mib(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return before, max(samples, default=before), result


@contextlib.contextmanager
def s3_gateway(work: Path) -> Iterator[GatewayProcess]:
    """A moto S3 server on 127.0.0.1 and a gateway process whose default backend is a bucket on it."""
    with s3_servers(work) as (_, gateway):
        yield gateway


@contextlib.contextmanager
def s3_servers(work: Path) -> Iterator[tuple[S3Server, GatewayProcess]]:
    """``s3_gateway``, with the S3 server too (bench.proxy reads its CPU time)."""
    s3 = S3Server()
    s3.start()
    s3.create_bucket("bench")
    config = {
        "backends": [
            {
                "type": "s3",
                "id": str(uuid.uuid4()),
                "label": "s3",
                "bucket": "bench",
                "endpoint_url": s3.url,
                "access_key": "k",
                "secret_key": "s",
                "default": True,
            }
        ]
    }
    (work / "s3.json").write_text(json.dumps(config))
    gateway = GatewayProcess(work / "s3-data", env={"TAMS_STORAGE_CONFIG": str(work / "s3.json")})
    gateway.start()
    try:
        yield s3, gateway
    finally:
        gateway.stop()
        s3.stop()


def s3_figures(work: Path) -> list[tuple[str, str, str]]:
    rows = []
    with s3_gateway(work) as gateway:
        size = 64 * MIB
        oid = upload_object(gateway, size)
        direct_url = httpx.get(f"{gateway.url}/objects/{oid}").json()["get_urls"][0]["url"]
        proxy_url = f"{gateway.url}/objects/{oid}/content?mode=proxy"
        direct, proxied = curl_speed(direct_url), curl_speed(proxy_url)
        rows.append(
            (
                "S3 64 MiB object, whole: proxy vs direct",
                f"{proxied:.0f} vs {direct:.0f} MiB/s",
                f"{100 * proxied / direct:.0f} % (goal >= 90 %)",
            )
        )
        direct_r, proxied_r = ranges_speed(direct_url, size), ranges_speed(proxy_url, size)
        rows.append(
            (
                "S3 1 MiB ranges: proxy vs direct",
                f"{proxied_r:.0f} vs {direct_r:.0f} ranges/s",
                f"{100 * proxied_r / direct_r:.0f} % (goal >= 90 %)",
            )
        )
        big = upload_object(gateway, 1024 * MIB)
        before, peak, speed = peak_rss_while(
            gateway, lambda: curl_speed(f"{gateway.url}/objects/{big}/content?mode=proxy", repeat=1)
        )
        rows.append(
            (
                "gateway RSS while proxying 1 GiB",
                f"{before:.0f} MiB before, peak {peak:.0f} MiB",
                f"at {speed:.0f} MiB/s (goal < 150 MB, flat)",
            )
        )
    return rows


NGINX_CONF = """{user}daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/nginx-error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; server {{ listen 127.0.0.1:{port}; root {root}; }} }}
"""


def local_figures(work: Path) -> list[tuple[str, str, str]]:
    gateway = GatewayProcess(work / "local-data", env={"TAMS_REQUIRE_ALLOCATION": "true"})
    gateway.start()
    rows = []
    nginx_proc = None
    try:
        size = 64 * MIB
        oid = upload_object(gateway, size)
        url = httpx.get(f"{gateway.url}/objects/{oid}").json()["get_urls"][0]["url"]
        ours = curl_speed(url)
        ours_r = ranges_speed(url, size)
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx is None:
            rows.append(("local disk vs nginx", "nginx not installed (apt-get install nginx)", "not measured"))
            return rows
        root = work / "local-data" / "objects"
        port = free_port()
        user = "user root; " if os.geteuid() == 0 else ""  # workers must read the private temp dir
        (work / "nginx.conf").write_text(NGINX_CONF.format(user=user, work=work, port=port, root=root))
        nginx_proc = subprocess.Popen(
            [nginx, "-c", str(work / "nginx.conf"), "-p", str(work)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        key = url.split("/_store/", 1)[1].split("/", 1)[1].split("?")[0]
        nginx_url = f"http://127.0.0.1:{port}/{key}"
        theirs, theirs_r = curl_speed(nginx_url), ranges_speed(nginx_url, size)
        rows.append(
            (
                "local disk 64 MiB whole: gateway vs nginx",
                f"{ours:.0f} vs {theirs:.0f} MiB/s",
                f"{100 * ours / theirs:.0f} % (goal >= 70 %)",
            )
        )
        rows.append(
            (
                "local disk 1 MiB ranges: gateway vs nginx",
                f"{ours_r:.0f} vs {theirs_r:.0f} ranges/s",
                f"{100 * ours_r / theirs_r:.0f} % (goal >= 70 %)",
            )
        )
        clip = make_ts(work / "clip.ts", seconds=60, fps=25, gop=25, width=640, height=360)
        from gateway.ingest import ingest

        flow_id = str(uuid.uuid4())
        report = asyncio.run(ingest(gateway.url, clip, flow_id, quiet=True))
        rows.append(
            (
                "ingest of a 60 s 640x360 H.264/AAC clip (2 s segments)",
                f"{report.segments} segments in {report.seconds:.2f} s",
                f"{report.bytes / MIB / report.seconds:.1f} MiB/s, {60 / report.seconds:.0f}x real time",
            )
        )
        rows.append(timerange_file_row(gateway.url, flow_id))
    finally:
        if nginx_proc is not None:
            nginx_proc.terminate()
        gateway.stop()
    return rows


def timerange_file_row(base: str, flow_id: str, repeat: int = 5) -> tuple[str, str, str]:
    """The whole flow as one file vs fetching the same objects one by one from their URLs."""
    urls = [s["get_urls"][0]["url"] for s in httpx.get(f"{base}/flows/{flow_id}/segments?limit=1000").json()]
    size = 0
    best_direct = best_file = 0.0
    with httpx.Client(timeout=60) as http:
        for _ in range(repeat):
            started = time.perf_counter()
            size = sum(len(http.get(url).content) for url in urls)
            best_direct = max(best_direct, size / MIB / (time.perf_counter() - started))
            started = time.perf_counter()
            assert len(http.get(f"{base}/flows/{flow_id}/media.ts").content) == size
            best_file = max(best_file, size / MIB / (time.perf_counter() - started))
    return (
        f"timerange as one file ({len(urls)} objects, {size / MIB:.1f} MiB) vs the objects one by one",
        f"{best_file:.0f} vs {best_direct:.0f} MiB/s",
        f"{100 * best_file / best_direct:.0f} %",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = s3_figures(work) + local_figures(work)
    width = max(len(r[0]) for r in rows)
    for name, measured, note in rows:
        print(f"{name:{width}}  {measured:36}  {note}")


if __name__ == "__main__":
    main()
