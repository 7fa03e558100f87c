"""Goal 3: the Range proxy against a direct GET from the same S3 server, and RSS while proxying 1 GiB.

    python -m bench.proxy [--figures] [--quick]

A moto S3 server and the gateway (one uvicorn worker) run on 127.0.0.1; whole-object downloads use
curl (C, so the client costs little CPU), 1 MiB ranges an httpx client on one keep-alive
connection (the same client for both). Proxy and direct rounds alternate, and each figure is the
best round of each, so a burst of load from elsewhere on a shared machine spoils both or neither.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from bench.bytes import MIB, GatewayProcess, curl_speed, peak_rss_while, ranges_speed, s3_gateway, upload_object
from bench.report import Figure, goal_main


def alternate(direct, proxied, rounds: int) -> tuple[float, float]:
    """Best of ``rounds`` alternating measurements of each (direct first, then proxied)."""
    best_direct = best_proxied = 0.0
    for _ in range(rounds):
        best_direct = max(best_direct, direct())
        best_proxied = max(best_proxied, proxied())
    return best_direct, best_proxied


def measure(quick: bool) -> list[Figure]:
    rounds = 3 if quick else 6
    with tempfile.TemporaryDirectory(prefix="tams-proxy-") as tmp:
        work = Path(tmp)
        with s3_gateway(work) as gateway:
            size = 64 * MIB
            oid = upload_object(gateway, size)
            direct_url = httpx.get(f"{gateway.url}/objects/{oid}").json()["get_urls"][0]["url"]
            proxy_url = f"{gateway.url}/objects/{oid}/content?mode=proxy"
            whole_d, whole_p = alternate(
                lambda: curl_speed(direct_url, repeat=1), lambda: curl_speed(proxy_url, repeat=1), rounds
            )
            count = 32 if quick else 64
            ranges_d, ranges_p = alternate(
                lambda: ranges_speed(direct_url, size, count), lambda: ranges_speed(proxy_url, size, count), rounds
            )
            figures = [
                Figure("S3 proxy, 64 MiB object whole, vs direct GET", whole_p, whole_d, "MiB/s", 0.9),
                Figure("S3 proxy, 1 MiB ranges one after another, vs direct", ranges_p, ranges_d, "ranges/s", 0.9),
            ]
            if not quick:
                figures.append(rss_figure(gateway, upload_object(gateway, 1024 * MIB)))
            return figures


def rss_figure(gateway: GatewayProcess, oid: str) -> Figure:
    """Peak RSS while proxying a 1 GiB object, against the RSS just before (goal: flat, < 150 MB)."""
    before, peak, speed = peak_rss_while(
        gateway, lambda: curl_speed(f"{gateway.url}/objects/{oid}/content?mode=proxy", repeat=1)
    )
    return Figure(
        "gateway peak RSS proxying 1 GiB, vs RSS before",
        peak,
        before,
        "MiB",
        1.1,
        higher_is_better=False,
        details=f"at {speed:.0f} MiB/s; {before:.0f} MiB before",
    )


def main() -> None:
    goal_main(__doc__, measure, "fewer rounds, no 1 GiB object")


if __name__ == "__main__":
    main()
