"""Webhook delivery rate: a backlog of events to a loopback receiver, and segment deletion rate.

Run with ``python -m bench.events`` (``make bench`` runs it).
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import GatewayProcess, video_flow  # noqa: E402
from test_webhooks import Receiver  # noqa: E402

EVENTS = 5000


def main() -> None:
    with TemporaryDirectory() as tmp:
        gateway = GatewayProcess(Path(tmp) / "data", env={"TAMS_WEBHOOKS_ALLOW_PRIVATE": "true"})
        gateway.start()
        receiver = Receiver()
        try:
            with httpx.Client(base_url=gateway.url, timeout=60) as http:
                body = {"url": receiver.url, "events": ["flows/segments_added"], "status": "disabled"}
                hook = http.post("/service/webhooks", json=body).json()
                flow_id = str(uuid.uuid4())
                http.put(f"/flows/{flow_id}", json=video_flow(flow_id, str(uuid.uuid4())))
                for n in range(EVENTS):  # one event per registration request
                    http.post(
                        f"/flows/{flow_id}/segments",
                        json={"object_id": str(uuid.uuid4()), "timerange": f"[{n}:0_{n + 1}:0)"},
                    )
                started = time.perf_counter()
                http.put(f"/service/webhooks/{hook['id']}", json={**body, "id": hook["id"], "status": "created"})
                receiver.wait(EVENTS, seconds=300)
                rate = EVENTS / (time.perf_counter() - started)
                print(f"webhook delivery of a {EVENTS:,}-event backlog to a loopback receiver: {rate:,.0f} events/s")
                for batch in range(95):
                    segments = [
                        {"object_id": str(uuid.uuid4()), "timerange": f"[{n}:0_{n + 1}:0)"}
                        for n in range(EVENTS + batch * 1000, EVENTS + batch * 1000 + 1000)
                    ]
                    http.post(f"/flows/{flow_id}/segments", json=segments)
                started = time.perf_counter()
                location = http.delete(f"/flows/{flow_id}").headers["Location"]
                while http.get(location).json()["status"] != "done":
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                print(f"flow deletion: 100,000 segments in {elapsed:.2f} s ({100_000 / elapsed:,.0f} segments/s)")
        finally:
            receiver.server.shutdown()
            gateway.stop()


if __name__ == "__main__":
    main()
