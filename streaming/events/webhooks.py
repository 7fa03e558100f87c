"""Webhook delivery from the outbox: at least once, in order, with backoff, and never lost on a crash.

One task per active webhook reads the events after its last delivered sequence number in batches,
applies its filters (evaluated at send time against the current catalog) and the optional per-event
permission check, adds get_urls to segments as the webhook asks, and pipelines the POSTs, one per
event, on one keep-alive connection (``streaming.events.pipeline``: several in flight, arriving in
order). Progress is recorded after each batch (and up to a failure), so a restart resumes where
delivery stopped, repeating at most one batch (at least once, never lost). After ``max_failures``
consecutive failures the webhook goes to ``error`` with the reason and stops until a client
re-enables it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp.abc import AbstractResolver

from catalog.store import Documents, Notifications, Segments, TagFilter
from catalog.vocabulary import FLOW_EVENTS, SEGMENTS_ADDED, WEBHOOK_ACTIVE
from streaming.events.pipeline import Pipeline
from streaming.events.targets import VettedResolver, check_target, key_header_problem, url_problem
from streaming.objects.media import MediaService
from streaming.storage.get_urls import UrlFilter, build_get_urls

__all__ = ["Dispatcher", "MayDeliver", "WebhookSettings", "check_target", "transform", "wanted"]

log = logging.getLogger("tams.webhooks")


@dataclass(frozen=True)
class WebhookSettings:
    allow_private: bool = False  # SSRF guard: refuse loopback, private and link-local targets unless allowed
    timeout_s: float = 5.0
    max_failures: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    poll_s: float = 0.2
    batch: int = 200
    retention_s: int = 86_400  # events are kept this long for /events resumption (and disabled webhooks)


# (hook record, event_type, flow_id, source_id) → may this webhook's owner see this event now?
MayDeliver = Callable[[dict[str, Any], str, str | None, str | None], Awaitable[bool]]


class Dispatcher:
    def __init__(
        self,
        catalog: Notifications,
        media: MediaService,
        settings: WebhookSettings,
        may_deliver: MayDeliver | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.catalog = catalog
        self.media = media
        self.settings = settings
        self.may_deliver = may_deliver  # per-event permission check (fine-grained auth), after the filters
        # names resolve once per connection and only vetted addresses are connected to (SSRF, rebinding)
        self.resolver = VettedResolver(resolver, settings.allow_private)
        self.tasks: dict[str, asyncio.Task] = {}
        self._supervisor: asyncio.Task | None = None

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def close(self) -> None:
        tasks = [t for t in (self._supervisor, *self.tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _supervise(self) -> None:
        """Keeps one delivery task per active webhook (created or started), and prunes old events."""
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + 60
                with contextlib.suppress(Exception):
                    await self.catalog.prune_events(time.time_ns() - self.settings.retention_s * 1_000_000_000)
            try:
                page = await self.catalog.list_webhooks(TagFilter(), False, None, 10_000)
                active = {w["id"] for w in page.items if w["status"] in WEBHOOK_ACTIVE}
                for webhook_id in active - self.tasks.keys():
                    self.tasks[webhook_id] = asyncio.create_task(self._deliver(webhook_id))
                for webhook_id in list(self.tasks):
                    if webhook_id not in active or self.tasks[webhook_id].done():
                        self.tasks.pop(webhook_id).cancel()
            except Exception:
                log.exception("webhook supervisor failed; retrying")
            await asyncio.sleep(self.settings.poll_s)

    async def _deliver(self, webhook_id: str) -> None:
        failures = 0
        pipe: Pipeline | None = None
        try:
            while True:
                hook = await self.catalog.get_webhook(webhook_id, secret=True)
                if hook is None or hook["status"] not in WEBHOOK_ACTIVE:
                    return
                if hook["status"] == "created":
                    await self.catalog.webhook_delivered(webhook_id, hook["last_seq"], "started")
                events = await self.catalog.events_after(hook["last_seq"], self.settings.batch)
                if not events:
                    await asyncio.sleep(self.settings.poll_s)
                    continue
                seqs, bodies = await self._prepare(hook, events)
                done, problem = 0, None
                if bodies:
                    problem = url_problem(hook["url"], self.settings.allow_private)  # names: vetted at connect
                    if problem is None:
                        pipe = self._pipeline(hook, pipe)
                        done, problem = await pipe.send(bodies)
                if problem is None:
                    failures = 0
                    await self.catalog.webhook_delivered(webhook_id, events[-1][0])
                    continue
                failures = 1 if done else failures + 1
                progress = seqs[done] - 1  # everything before the event that failed was delivered
                if failures >= self.settings.max_failures:
                    error = {
                        "type": "DeliveryFailed",
                        "summary": problem,
                        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    }
                    await self.catalog.webhook_delivered(webhook_id, progress, "error", error)
                    log.warning("webhook %s disabled after %d failures: %s", webhook_id, failures, problem)
                    return
                await self.catalog.webhook_delivered(webhook_id, progress)
                delay = min(self.settings.max_backoff_s, self.settings.backoff_s * 2 ** (failures - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: no thundering herd
        finally:
            if pipe is not None:
                pipe.close()

    async def _prepare(self, hook: dict[str, Any], events: list[Any]) -> tuple[list[int], list[bytes]]:
        """The batch's events this webhook takes, as (sequence numbers, JSON bodies)."""
        ids = [seg["object_id"] for e in events if e[1] == SEGMENTS_ADDED for seg in e[4]["segments"]]
        hook["_locations"] = await self.catalog.object_locations(ids) if ids else {}
        seqs: list[int] = []
        bodies: list[bytes] = []
        for seq, event_type, flow_id, source_id, body, created_ns in events:
            if not await wanted(self.catalog, hook, event_type, flow_id, source_id):
                continue
            if self.may_deliver is not None and not await self.may_deliver(hook, event_type, flow_id, source_id):
                continue
            seconds, nanos = divmod(created_ns, 1_000_000_000)
            stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
            event = await transform(self.catalog, self.media, hook, event_type, body)
            seqs.append(seq)
            bodies.append(orjson.dumps({"event_timestamp": stamp, "event_type": event_type, "event": event}))
        return seqs, bodies

    def _pipeline(self, hook: dict[str, Any], current: Pipeline | None) -> Pipeline:
        """The connection to the webhook's receiver: kept while its URL and headers stay the same."""
        headers = {"Content-Type": "application/json", "User-Agent": "tams-gateway"}
        name = hook.get("api_key_name")
        # a framing header stored before such names were refused is left out, not sent
        if name and hook.get("api_key_value") and key_header_problem(name) is None:
            headers[name] = hook["api_key_value"]
        if current is not None and current.url == hook["url"] and current.headers == headers:
            return current
        if current is not None:
            current.close()
        return Pipeline(hook["url"], headers, self.resolver, self.settings.timeout_s)


async def wanted(
    catalog: Documents, hook: dict[str, Any], event_type: str, flow_id: str | None, source_id: str | None
) -> bool:
    """The webhook's event types and filters (AND-ed; an unset filter has no effect)."""
    if event_type not in hook.get("events", []):
        return False
    is_flow_event = event_type in FLOW_EVENTS
    if is_flow_event and "flow_ids" in hook and flow_id not in hook["flow_ids"]:
        return False
    if "source_ids" in hook and source_id not in hook["source_ids"]:
        return False
    if is_flow_event and "flow_collected_by_ids" in hook:
        flow = await catalog.get_flow(flow_id) if flow_id else None
        parents = set((flow or {}).get("collected_by", []))
        want = set(hook["flow_collected_by_ids"])
        if (want and not parents & want) or (not want and parents):
            return False
    if "source_collected_by_ids" in hook:
        source = await catalog.get_source(source_id) if source_id else None
        parents = set((source or {}).get("collected_by", []))
        want = set(hook["source_collected_by_ids"])
        if (want and not parents & want) or (not want and parents):
            return False
    return True


async def transform(
    catalog: Segments, media: MediaService, hook: dict[str, Any], event_type: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Segments get get_urls (fresh, filtered as the webhook asks); object_timerange only on request."""
    if event_type != SEGMENTS_ADDED:
        return body
    flt = UrlFilter(
        accept_get_urls=hook.get("accept_get_urls"),
        accept_storage_ids=hook.get("accept_storage_ids"),
        presigned=hook.get("presigned"),
        verbose_storage=bool(hook.get("verbose_storage")),
        readable_storage_ids=hook.get("_readable_storage_ids"),  # set by fine-grained permissions
    )
    segments = []
    for seg in body["segments"]:
        out = {k: v for k, v in seg.items() if k not in ("object_timerange", "init_object_id")}
        if hook.get("include_object_timerange") and "object_timerange" in seg:
            out["object_timerange"] = seg["object_timerange"]
        known = hook.get("_locations")
        if known is not None:  # prefetched for a batch of events
            instances, uncontrolled = known.get(seg["object_id"], ((), ()))
        else:
            found = await catalog.get_object(seg["object_id"], None, 1)
            instances = found[0].instances if found else ()
            uncontrolled = found[0].uncontrolled_urls if found else ()
        out["get_urls"] = build_get_urls(media.storage, instances, uncontrolled, flt, media.settings.presign_expiry_s)
        if seg.get("init_object_id"):
            out["init_object"] = {"object_id": seg["init_object_id"]}
        segments.append(out)
    return {**body, "segments": segments}
