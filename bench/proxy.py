"""Goal 3: the Range proxy against a direct GET from the same S3 server, and RSS while proxying 1 GiB.

    python -m bench.proxy [--figures] [--quick]

A moto S3 server and the gateway (one uvicorn worker) run on 127.0.0.1; whole-object downloads use
curl (C, so the client costs little CPU), 1 MiB ranges an httpx client on one keep-alive
connection (the same client for both). Both paths GET the same presigned URL form (moto refuses an
unsigned GET of a private bucket), and each curl opens its own connection. Proxy and direct rounds
alternate (direct, proxied, then proxied, direct), and each figure is the best round of each, so a
burst of load from elsewhere on a shared machine spoils both or neither.

For the whole object it also prints where the CPU goes: seconds of CPU per GiB moved of moto, the
gateway and the client (curl, its start-up included), summed over every round of each path, from
``/proc/<pid>/stat`` and the reaped children's rusage.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.bytes import MIB, GatewayProcess, peak_rss_while, ranges_speed, s3_servers, upload_object
from bench.report import Figure, goal_main

TICKS = os.sysconf("SC_CLK_TCK")
GIB = 1024 * MIB
TIMES = "%{time_connect} %{time_starttransfer} %{time_total}"


def alternate(direct: Callable[[], float], proxied: Callable[[], float], rounds: int) -> tuple[float, float]:
    """Best of ``rounds`` alternating measurements of each (direct first, then proxied)."""
    best_direct = best_proxied = 0.0
    for _ in range(rounds):
        best_direct = max(best_direct, direct())
        best_proxied = max(best_proxied, proxied())
    return best_direct, best_proxied


def process_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a live process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped children only: the curls
    return usage.ru_utime + usage.ru_stime


@dataclass
class Transfers:
    """One path's downloads: speeds (MiB/s) and CPU seconds per process, summed over its rounds."""

    speeds: list[float] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)  # s from curl's request to the first byte
    rest: list[float] = field(default_factory=list)  # s from there to the last byte
    moved: int = 0
    cpu: dict[str, float] = field(default_factory=lambda: {"moto": 0.0, "gateway": 0.0, "client": 0.0})
    gateway_user: float = 0.0  # of cpu["gateway"]: Python and C libraries; the rest is the kernel's

    def per_gib(self, name: str) -> float:
        return self.cpu[name] / (self.moved / GIB)

    def total_per_gib(self) -> float:
        return sum(self.cpu.values()) / (self.moved / GIB)


def download(url: str, into: Transfers, pids: dict[str, int]) -> None:
    """One curl download of ``url`` (``-w`` reports bytes over the transfer time, not curl's start-up)."""
    before = {name: process_cpu(pid) for name, pid in pids.items()}
    client = children_cpu()
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download} %{size_download} %{http_code} " + TIMES, url],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.split()
    assert out[2] == "200", f"{url} answered {out[2]}"
    into.cpu["client"] += children_cpu() - client
    for name, pid in pids.items():
        user, system = process_cpu(pid)
        into.cpu[name] += user + system - sum(before[name])
        if name == "gateway":
            into.gateway_user += user - before[name][0]
    into.speeds.append(float(out[0]) / MIB)
    into.moved += int(out[1])
    connected, first, last = map(float, out[3:])
    into.first_byte.append(first - connected)
    into.rest.append(last - first)


def whole_objects(direct_url: str, proxy_url: str, pids: dict[str, int], rounds: int) -> tuple[Transfers, Transfers]:
    direct, proxied = Transfers(), Transfers()
    for i in range(rounds):  # ABBA: neither path always runs second
        order = ((direct_url, direct), (proxy_url, proxied))
        for url, into in order if i % 2 == 0 else order[::-1]:
            download(url, into, pids)
    return direct, proxied


def cpu_table(direct: Transfers, proxied: Transfers) -> str:
    rows = [f"{'CPU s per GiB moved':24} {'direct':>8} {'proxied':>8}"]
    for name in ("moto", "gateway", "client"):
        rows.append(f"{name:24} {direct.per_gib(name):8.3f} {proxied.per_gib(name):8.3f}")
    user = [side.gateway_user / (side.moved / GIB) for side in (direct, proxied)]
    rows.insert(3, f"{'  of which user':24} {user[0]:8.3f} {user[1]:8.3f}")
    rows.append(f"{'all three':24} {direct.total_per_gib():8.3f} {proxied.total_per_gib():8.3f}")
    for label, of in (
        ("median MiB/s", "speeds"),
        ("median ms to first byte", "first_byte"),
        ("median ms after it", "rest"),
    ):
        scale = 1 if of == "speeds" else 1000
        medians = [scale * statistics.median(getattr(side, of)) for side in (direct, proxied)]
        rows.append(f"{label:24} {medians[0]:8.0f} {medians[1]:8.0f}")
    return "\n".join(rows)


def measure(quick: bool) -> list[Figure]:
    rounds = 10 if quick else 20
    with tempfile.TemporaryDirectory(prefix="tams-proxy-") as tmp:
        work = Path(tmp)
        with s3_servers(work) as (s3, gateway):
            size = 64 * MIB
            oid = upload_object(gateway, size)
            direct_url = httpx.get(f"{gateway.url}/objects/{oid}").json()["get_urls"][0]["url"]
            proxy_url = f"{gateway.url}/objects/{oid}/content?mode=proxy"
            assert s3.proc is not None and gateway.proc is not None
            pids = {"moto": s3.proc.pid, "gateway": gateway.proc.pid}
            direct, proxied = whole_objects(direct_url, proxy_url, pids, rounds)
            print(f"load average {os.getloadavg()[0]:.1f}; 64 MiB whole object, {rounds} rounds each:")
            print(cpu_table(direct, proxied), flush=True)
            count = 32 if quick else 64
            ranges_d, ranges_p = alternate(
                lambda: ranges_speed(direct_url, size, count), lambda: ranges_speed(proxy_url, size, count), rounds // 2
            )
            median_ratio = statistics.median(proxied.speeds) / statistics.median(direct.speeds)
            figures = [
                Figure(
                    "S3 proxy, 64 MiB object whole, vs direct GET",
                    max(proxied.speeds),
                    max(direct.speeds),
                    "MiB/s",
                    0.9,
                    details=f"best of {rounds} rounds each; medians {100 * median_ratio:.1f} %",
                ),
                Figure(
                    "CPU of moto + gateway + client per GiB, proxied vs direct",
                    proxied.total_per_gib(),
                    direct.total_per_gib(),
                    "s/GiB",
                    higher_is_better=False,
                    details=f"gateway {proxied.per_gib('gateway'):.3f} s/GiB",
                ),
                Figure("S3 proxy, 1 MiB ranges one after another, vs direct", ranges_p, ranges_d, "ranges/s", 0.9),
            ]
            if not quick:
                figures.append(rss_figure(gateway, upload_object(gateway, 1024 * MIB)))
            return figures


def rss_figure(gateway: GatewayProcess, oid: str) -> Figure:
    """Peak RSS while proxying a 1 GiB object, against the RSS just before (goal: flat, < 150 MB)."""
    big = Transfers()
    before, peak, _ = peak_rss_while(
        gateway, lambda: download(f"{gateway.url}/objects/{oid}/content?mode=proxy", big, {})
    )
    return Figure(
        "gateway peak RSS proxying 1 GiB, vs RSS before",
        peak,
        before,
        "MiB",
        1.1,
        higher_is_better=False,
        details=f"at {big.speeds[0]:.0f} MiB/s; {before:.0f} MiB before",
    )


def main() -> None:
    goal_main(__doc__, measure, "fewer rounds, no 1 GiB object")


if __name__ == "__main__":
    main()
