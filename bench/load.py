"""HTTP load: 100-segment timerange pages from one uvicorn worker, and bulk registration over HTTP.

Starts ``tams-gateway serve`` (one worker) on 127.0.0.1 on the benchmark catalog, drives it with
``wrk`` when installed (Debian package ``wrk``) or with an asyncio httpx client otherwise, prints
a table and stops the server. Bounded: about a minute in all.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.dataset import BIG_FLOW, SEGMENT_SECONDS, SEGMENTS, ensure_dataset, flow_doc, segment_batch

ROOT = Path(__file__).resolve().parents[1]
DURATION_S = 20
CONNECTIONS = 32

WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  local start = math.random(0, %(max_start)d)
  return wrk.format("GET", string.format("/flows/%(flow)s/segments?limit=100&timerange=[%%d:0_%%d:0)",
                    start, start + 200))
end
"""


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    # registration here measures the catalog path: objects are named, not uploaded (see bench/bytes.py)
    env = {**os.environ, "TAMS_LOG_LEVEL": "warning", "NO_PROXY": "127.0.0.1", "TAMS_REQUIRE_ALLOCATION": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gateway did not start")


def with_wrk(url: str) -> tuple[float, str]:
    max_start = (SEGMENTS - 100) * SEGMENT_SECONDS
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"max_start": max_start, "flow": BIG_FLOW})
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--latency", "-s", script.name, url],
                         capture_output=True, text=True, timeout=DURATION_S + 30).stdout
    os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return rate, "wrk -t1 -c32"


async def with_httpx(url: str) -> tuple[float, str]:
    rng = random.Random(1)
    done = 0
    deadline = time.monotonic() + DURATION_S

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            start = rng.randrange(0, (SEGMENTS - 100) * SEGMENT_SECONDS)
            response = await client.get(f"/flows/{BIG_FLOW}/segments",
                                        params={"limit": 100, "timerange": f"[{start}:0_{start + 200}:0)"})
            assert response.status_code == 200
            done += 1

    started = time.monotonic()
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
    return done / (time.monotonic() - started), "python httpx client (shares the CPU with the server)"


def bulk_over_http(url: str) -> float:
    flow_id = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=60) as client:
        client.put(f"/flows/{flow_id}", json=flow_doc(flow_id) | {"id": flow_id})
        started = time.perf_counter()
        for b in range(100):
            response = client.post(f"/flows/{flow_id}/segments", json=segment_batch(b * 1000, 1000))
            assert response.status_code == 201, response.text
        elapsed = time.perf_counter() - started
        client.delete(f"/flows/{flow_id}")
    return 100_000 / elapsed


def main() -> None:
    data_dir = asyncio.run(ensure_dataset())
    with socket_port() as port:
        pass
    proc = start_server(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        rate, tool = with_wrk(url) if shutil.which("wrk") else asyncio.run(with_httpx(url))
        bulk = bulk_over_http(url)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    print(f"{'figure':58} {'measured':>14}  goal")
    print(f"{'100-segment page of a 1M-segment flow, one uvicorn worker':58} {rate:>10,.0f} r/s  >= 1,000 ({tool})")
    print(f"{'bulk registration over HTTP, 1,000-segment POSTs':58} {bulk:>10,.0f} s/s  >= 5,000")


class socket_port:  # noqa: N801 - used as a tiny context manager
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


if __name__ == "__main__":
    main()
