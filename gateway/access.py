"""Fine-grained permissions at the HTTP surface: ``catalog.access`` decides, this asks it per request.

``Guard`` (``app.state.access``, None when no policy is configured) answers what the caller may
do with a flow, source, webhook, object or storage backend. ``AccessMiddleware`` applies the
per-resource rule to every path under ``/flows/{id}``, ``/sources/{id}``, ``/service/webhooks/{id}``,
``/flow-delete-requests/{id}`` and ``/objects/{id}/content``: GET needs read, PUT/POST and property
DELETE need write, ``DELETE /flows/{id}`` and ``DELETE /flows/{id}/segments`` need delete. No
permission at all is 404 (the caller must not learn the resource exists); some but not enough, 403.
Rules that need the request body or a listing (creation, ``auth_classes`` changes, adoption,
filtered listings and get_urls) are applied by the routes through the helpers here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.access import DELETE, NONE, READ, TAG, WRITE, Identity, Policy, classes_of
from catalog.store import AccessFilter, Catalog, ObjectRecord
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


def check_grant(request: Request, old_tags: Mapping[str, Any] | None, new_tags: Mapping[str, Any] | None) -> None:
    """403 unless the caller may change ``auth_classes`` from the old tags' to the new tags'."""
    g = guard(request)
    if g is None:
        return
    old, new = classes_of(old_tags), classes_of(new_tags)
    if old != new and (reason := g.policy.may_reclassify(who(request), old, new)):
        raise HTTPError(403, reason)


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
            demand(perms, need, f"{kind} {entity_id}")
        except HTTPError as exc:
            return exc
        return None


# -- rules the routes apply (they need the body, or the resource's current tags) ------------------------
async def prepare_flow_put(request: Request, body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``PUT /flows/{id}`` rules; fills in the flow's ``auth_classes`` and returns the tags a new
    source gets (None when no policy is configured).

    An existing flow needs write (the middleware checked it) and keeps its classes unless the body
    changes them (``check_grant``); a new flow on an existing source needs write on that source and
    takes its classes by default; a new flow with a new source takes the classes the caller asks for
    if it may grant them all, else its groups' defaults."""
    g = guard(request)
    if g is None:
        return None
    identity = who(request)
    tags: dict[str, Any] = dict(body.get("tags") or {})
    existing, _ = await g.flow(identity, body["id"])
    source, source_perms = await g.source(identity, body["source_id"])
    if source is not None and (existing is None or existing["source_id"] != body["source_id"]):
        demand(source_perms, WRITE, f"source {body['source_id']}")
    if existing is not None:
        old = existing.get("tags") or {}
        if TAG not in tags and TAG in old:
            tags[TAG] = old[TAG]
        check_grant(request, old, tags)
    elif classes_of(tags):
        reason = g.policy.may_grant(identity, classes_of(tags))
        if reason:
            raise HTTPError(403, reason)
    elif source is not None and classes_of(source.get("tags")):
        tags[TAG] = sorted(classes_of(source.get("tags")))
    else:
        classes, reason = g.policy.creation_classes(identity, ())
        if reason:
            raise HTTPError(403, reason)
        if classes:
            tags[TAG] = list(classes)
    if TAG in tags:
        body["tags"] = tags
    return {TAG: tags[TAG]} if TAG in tags else {}


async def check_tag_change(request: Request, kind: str, owner_id: str, name: str, value: Any) -> None:
    """A PUT or DELETE of ``tags/auth_classes`` on a flow or source: write (checked) plus the grant rule."""
    g = guard(request)
    if g is None or name != TAG:
        return
    identity = who(request)
    doc, _ = await (g.flow(identity, owner_id) if kind == "flow" else g.source(identity, owner_id))
    if doc is None:
        return
    old = doc.get("tags") or {}
    new = {**old, TAG: value} if value is not None else {k: v for k, v in old.items() if k != TAG}
    check_grant(request, old, new)


async def refused_objects(request: Request, flow_id: str, object_ids: list[str]) -> dict[str, str]:
    """Objects this request may not register on ``flow_id`` (object id -> why): an object already
    registered elsewhere may only be reused by a caller that can read some flow referencing it."""
    g = guard(request)
    if g is None:
        return {}
    identity = who(request)
    if identity.admin:
        return {}
    refused = {}
    for object_id in dict.fromkeys(object_ids):
        found = await g.catalog.get_object(object_id, None, 2)
        if found is None or not found.record.referenced_by_flows:
            continue  # its first registration (or one allocated for this flow)
        if found.record.referenced_by_flows == [flow_id] and found.next_key is None:
            continue
        if READ not in await g.object(identity, object_id, READ):
            refused[object_id] = f"object {object_id} cannot be registered by {identity.name}"
    return refused


def webhook_owner(request: Request) -> dict[str, Any] | None:
    return owner_record(who(request)) if guard(request) else None


def public_webhook(hook: dict[str, Any]) -> dict[str, Any]:
    hook.pop(OWNER, None)
    return hook


async def object_visible(request: Request, object_id: str) -> bool:
    """Whether the caller can read some flow referencing the object (else it gets a 404)."""
    g = guard(request)
    return g is None or READ in await g.object(who(request), object_id, READ)


async def redact_object(request: Request, record: ObjectRecord) -> ObjectRecord:
    """The object as the caller may see it: ``first_referenced_by_flow`` only if it can read that flow."""
    g = guard(request)
    first = record.first_referenced_by_flow
    if g is None or first is None or READ in (await g.flow(who(request), first))[1]:
        return record
    return replace(record, first_referenced_by_flow=None)


async def check_object_write(request: Request, object_id: str, storage_id: str | None) -> None:
    """``/objects/{id}/instances``: write on the object (some flow referencing it) and on the backend."""
    g = guard(request)
    if g is None or who(request).admin:
        return
    demand(await g.object(who(request), object_id), WRITE, f"object {object_id}")
    if storage_id is not None:  # a client URL (no storage_id) lives on no backend
        check_backend_write(request, storage_id)


def _backend_id(g: Guard, storage_id: str | None) -> str | None:
    if storage_id is not None:
        return storage_id
    return g.storage.default.info.id if g.storage.default else None


def check_backend_write(request: Request, storage_id: str | None) -> None:
    """Write on the storage backend asked for (or the default one); an unknown id is the route's 400."""
    g = guard(request)
    if g is None or who(request).admin:
        return
    backend_id = _backend_id(g, storage_id)
    if backend_id is None or g.storage.get(backend_id) is None:
        return
    demand(g.backend(who(request), backend_id), WRITE, f"storage backend {backend_id}")


def visible_backends(request: Request) -> frozenset[str] | None:
    """Backends the caller has any permission on (``/service/storage-backends``); None: all."""
    g = guard(request)
    if g is None or who(request).admin:
        return None
    return frozenset(sid for sid in g.storage.stores if g.backend(who(request), sid))


async def prepare_webhook(request: Request, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """A webhook create or replace: read on every flow and source its filters name, the grant rule on
    its ``auth_classes`` (new ones get the caller's defaults), and the caller recorded as its owner."""
    g = guard(request)
    if g is None:
        return
    identity = who(request)
    doc.pop(OWNER, None)
    for field_name, kind in (
        ("flow_ids", "flow"),
        ("flow_collected_by_ids", "flow"),
        ("source_ids", "source"),
        ("source_collected_by_ids", "source"),
    ):
        for entity_id in doc.get(field_name) or ():
            _, perms = await (g.flow(identity, entity_id) if kind == "flow" else g.source(identity, entity_id))
            demand(perms, READ, f"{kind} {entity_id}")
    tags: dict[str, Any] = dict(doc.get("tags") or {})
    if existing is not None:
        old = existing.get("tags") or {}
        if TAG not in tags and TAG in old:
            tags[TAG] = old[TAG]
        check_grant(request, old, tags)
    else:
        classes, reason = g.policy.creation_classes(identity, classes_of(tags))
        if reason:
            raise HTTPError(403, reason)
        if classes:
            tags[TAG] = list(classes)
    if tags:
        doc["tags"] = tags
    doc[OWNER] = owner_record(identity)


def _reads_every_backend(request: Request) -> bool:
    g = guard(request)
    readable = readable_backends(request)
    return g is None or readable is None or readable >= set(g.storage.stores)


def playlist_uris(request: Request, mode: str | None, default: str) -> str | None:
    """A caller who may not read every backend gets gateway URIs (whose reads are checked) in
    playlists, never presigned backend URLs; playlists are cached across callers."""
    if (mode or default) == "presigned" and not _reads_every_backend(request):
        return "proxy"
    return mode


def delivery_mode(request: Request, mode: str) -> str:
    """The same for the delivery endpoints: no redirect to a backend the caller may not read."""
    return "proxy" if mode == "redirect" and not _reads_every_backend(request) else mode
