"""Deleting the flows a benchmark registered, and waiting until the gateway has really done so.

``DELETE /flows/{id}`` may answer 204 (deleted) or 202 with a flow delete request worked in the
background (TAMS ``/flow-delete-requests``). A benchmark waits for that work to end, so deletion
never runs in the background of the next measurement; a gateway without the endpoint answers
404/405 and there is nothing to wait for. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time

import httpx

ACTIVE = ("created", "started")


async def wait_for_deletions(client: httpx.AsyncClient, timeout: float = 300) -> int:
    """Waits until no flow delete request is pending; returns how many were pending at first."""
    deadline = time.monotonic() + timeout
    first: int | None = None
    while True:
        response = await client.get("/flow-delete-requests", params={"limit": 1000})
        if response.status_code in (404, 405):
            return 0
        response.raise_for_status()
        pending = [r for r in response.json() if r.get("status") in ACTIVE]
        first = len(pending) if first is None else first
        if not pending:
            return first
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} flow delete requests still pending after {timeout:.0f} s")
        await asyncio.sleep(0.25)


async def delete_flow(client: httpx.AsyncClient, flow_id: str, timeout: float = 300) -> None:
    """Deletes the flow and returns once it is gone (also when the gateway deletes in the background)."""
    response = await client.delete(f"/flows/{flow_id}", timeout=timeout)
    if response.status_code not in (200, 202, 204, 404):
        raise RuntimeError(f"DELETE /flows/{flow_id} answered {response.status_code}: {response.text[:300]}")
    if response.status_code == 202:
        await wait_for_deletions(client, timeout)
