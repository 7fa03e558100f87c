"""Fine-grained permissions at the HTTP surface: ``catalog.access`` decides, this asks it per request.

``Guard`` (``app.state.access``, None when no policy is configured) answers what the caller may
do with a flow, source, webhook, object or storage backend. ``AccessMiddleware`` applies the
per-resource rule to every path under ``/flows/{id}``, ``/sources/{id}``, ``/service/webhooks/{id}``,
``/flow-delete-requests/{id}`` and ``/objects/{id}/content``: GET needs read, PUT/POST and property
DELETE need write, ``DELETE /flows/{id}`` and ``DELETE /flows/{id}/segments`` need delete. No
permission at all is 404 (the caller must not learn the resource exists); some but not enough, 403.
Listings and get_urls are filtered with ``listing_filter`` and ``readable_backends``; the rules
that need a request body or several resources are in ``gateway.permissions``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.access import DELETE, NONE, READ, WRITE, Identity, Policy, classes_of
from catalog.store import AccessFilter, Catalog
from gateway.auth import ADMIN, Principal
from gateway.errors import HTTPError
from streaming.storage.registry import Storage

OWNER = "gateway_owner"  # the webhook field holding its creator's identity (never shown to clients)
_PATHS = (
    ("flow", re.compile(r"^/flows/([^/]+)(/.*)?$")),
    ("source", re.compile(r"^/sources/([^/]+)(/.*)?$")),
    ("webhook", re.compile(r"^/service/webhooks/([^/]+)()$")),
    ("deletion", re.compile(r"^/flow-delete-requests/([^/]+)()$")),
    ("object", re.compile(r"^/objects/(.+?)(/content(?:\.[^/]+)?)$")),
)
# as each route names a resource it cannot find: a refusal reads exactly like a missing resource
_NAMES = {
    "flow": "flow {}",
    "source": "source {}",
    "webhook": "webhook {}",
    "deletion": "flow delete request {}",
    "object": "object {!r}",
}
CACHE_S = 5.0  # how long a flow's or source's classes are trusted for event delivery


def load_policy(path: Path | None) -> Policy | None:
    if path is None:
        return None
    try:
        return Policy.from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ValueError(f"TAMS_AUTHZ_POLICY_FILE={path}: {exc}") from None


def identity_of(principal: Principal | None) -> Identity:
    """The caller; no principal at all (a public path) is nobody, never an admin."""
    if principal is None:
        return Identity("anonymous")
    return Identity(principal.name, principal.groups, ADMIN in principal.scopes)


def who(request: Request) -> Identity:
    return identity_of(request.scope.get("state", {}).get("principal"))


def owner_record(identity: Identity) -> dict[str, Any]:
    return {"name": identity.name, "groups": sorted(identity.groups), "admin": identity.admin}


def owner_identity(hook: Mapping[str, Any]) -> Identity:
    """A webhook's owner; a webhook from before the policy (no owner) is treated as an admin's."""
    record = hook.get(OWNER)
    if not isinstance(record, dict):
        return Identity("webhook", NONE, True)
    return Identity(str(record.get("name")), frozenset(record.get("groups") or ()), bool(record.get("admin")))


def demand(perms: frozenset[str], need: str, what: str) -> None:
    """404 when there is no permission at all (existence stays secret), 403 when ``need`` is missing."""
    if not perms:
        raise HTTPError(404, f"{what} does not exist")
    if need not in perms:
        raise HTTPError(403, f"no {need} permission on {what}")


class Guard:
    """The policy bound to this gateway's catalog and storage backends."""

    def __init__(self, policy: Policy, catalog: Catalog, storage: Storage) -> None:
        self.policy = policy
        self.catalog = catalog
        self.storage = storage
        self._classes: dict[tuple[str, str], tuple[float, frozenset[str] | None]] = {}

    def listing(self, identity: Identity) -> AccessFilter | None:
        return self.policy.filter_for(identity, READ)

    async def flow(self, identity: Identity, flow_id: str) -> tuple[dict[str, Any] | None, frozenset[str]]:
        doc = await self.catalog.get_flow(flow_id)
        return doc, self.policy.of_tags(identity, doc.get("tags")) if doc else NONE

    async def source(self, identity: Identity, source_id: str) -> tuple[dict[str, Any] | None, frozenset[str]]:
        doc = await self.catalog.get_source(source_id)
        return doc, self.policy.of_tags(identity, doc.get("tags")) if doc else NONE

    async def webhook(self, identity: Identity, webhook_id: str) -> frozenset[str]:
        doc = await self.catalog.get_webhook(webhook_id)
        return self.policy.of_tags(identity, doc.get("tags")) if doc else NONE

    async def deletion(self, identity: Identity, request_id: str) -> frozenset[str]:
        doc = await self.catalog.get_deletion(request_id)
        if doc is None:
            return NONE
        return (await self.flow(identity, doc["flow_id"]))[1]  # a flow already gone: 404 but for admins

    async def object(self, identity: Identity, object_id: str, need: str = WRITE) -> frozenset[str]:
        """What the caller may do with an object: the union over the readable flows referencing it
        (with ``need`` read, one query: any readable reference is enough)."""
        found = await self.catalog.get_object(
            object_id, None, 1 if need == READ else 1000, None, self.listing(identity)
        )
        if found is None or not found.record.referenced_by_flows:
            return NONE
        if need == READ:
            return frozenset({READ})
        perms: set[str] = set()
        for flow_id in found.record.referenced_by_flows:
            perms |= (await self.flow(identity, flow_id))[1]
        return frozenset(perms)

    def backend(self, identity: Identity, storage_id: str) -> frozenset[str]:
        store = self.storage.get(storage_id)
        return self.policy.of_tags(identity, store.info.tags, backend=True) if store else NONE

    def readable_backends(self, identity: Identity) -> frozenset[str] | None:
        if identity.admin:
            return None
        return frozenset(sid for sid in self.storage.stores if READ in self.backend(identity, sid))

    # -- events --------------------------------------------------------------------------------------
    async def _cached_classes(self, kind: str, entity_id: str) -> frozenset[str] | None:
        """A flow's or source's classes, trusted for CACHE_S; None once it is gone and forgotten."""
        now = time.monotonic()
        hit = self._classes.get((kind, entity_id))
        if hit and hit[0] > now:
            return hit[1]
        doc = await (self.catalog.get_flow(entity_id) if kind == "flow" else self.catalog.get_source(entity_id))
        classes = classes_of(doc.get("tags")) if doc else (hit[1] if hit else None)
        if len(self._classes) > 10_000:
            self._classes.clear()
        self._classes[(kind, entity_id)] = (now + CACHE_S, classes)
        return classes

    async def may_see_event(self, identity: Identity, flow_id: str | None, source_id: str | None) -> bool:
        """Read on the event's flow (else its source); an entity never seen and gone is not readable."""
        if identity.admin:
            return True
        kind, entity = ("flow", flow_id) if flow_id else ("source", source_id)
        if entity is None:
            return False
        classes = await self._cached_classes(kind, entity)
        return classes is not None and READ in self.policy.permissions(identity, classes)

    async def may_deliver(
        self, hook: dict[str, Any], event_type: str, flow_id: str | None, source_id: str | None
    ) -> bool:
        """``Dispatcher``'s per-event check: the webhook's owner must read what the event is about.

        It also limits the event's get_urls to the backends the owner may read (``transform``
        reads ``_readable_storage_ids`` from the hook record it is given next)."""
        owner = owner_identity(hook)
        hook["_readable_storage_ids"] = self.readable_backends(owner)
        return await self.may_see_event(owner, flow_id, source_id)


def guard(request: Request) -> Guard | None:
    found: Guard | None = getattr(request.app.state, "access", None)
    return found


def listing_filter(request: Request) -> AccessFilter | None:
    g = guard(request)
    return g.listing(who(request)) if g else None


def readable_backends(request: Request) -> frozenset[str] | None:
    g = guard(request)
    return g.readable_backends(who(request)) if g else None


def required(method: str, kind: str, rest: str) -> str:
    if kind == "deletion":  # a flow delete request is seen by whoever may delete from its flow
        return DELETE
    if method in ("GET", "HEAD"):
        return READ
    if method == "DELETE" and kind == "flow" and rest in ("", "/segments"):
        return DELETE
    return WRITE


class AccessMiddleware:
    """The per-resource rule for every path naming one flow, source, webhook, deletion request or object."""

    def __init__(self, app: ASGIApp, guard: Guard | None) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is None or scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        identity = identity_of(scope.get("state", {}).get("principal"))
        if not identity.admin:
            for kind, pattern in _PATHS:
                match = pattern.match(scope["path"])
                if match:
                    problem = await self._check(identity, kind, match[1], match[2] or "", scope["method"])
                    if problem is not None:
                        await problem.response()(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)

    async def _check(self, identity: Identity, kind: str, entity_id: str, rest: str, method: str) -> HTTPError | None:
        g = self.guard
        assert g is not None
        need = required(method, kind, rest)
        if kind == "flow":
            doc, perms = await g.flow(identity, entity_id)
            if doc is None:
                return None  # the route answers 404, or creates the flow (its rules are in the route)
        elif kind == "source":
            doc, perms = await g.source(identity, entity_id)
            if doc is None:
                return None
        elif kind == "webhook":
            perms = await g.webhook(identity, entity_id)
        elif kind == "deletion":
            perms = await g.deletion(identity, entity_id)
        else:
            perms = await g.object(identity, entity_id, need)
        try:
            demand(perms, need, _NAMES[kind].format(entity_id))
        except HTTPError as exc:
            return exc
        return None
