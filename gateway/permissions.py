"""The permission rules the routes apply themselves: they need the request body, or several resources.

Creating a flow or webhook (classes and defaults), changing ``auth_classes``, registering objects
(no adoption), object instances and storage allocation (backend write), and keeping backend URLs
from callers who may not read the backend. All are no-ops when no policy is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request

from catalog.access import READ, TAG, WRITE, classes_of
from catalog.store import ObjectRecord
from gateway.access import OWNER, Guard, demand, guard, owner_record, readable_backends, who
from gateway.errors import HTTPError


def check_grant(request: Request, old_tags: Mapping[str, Any] | None, new_tags: Mapping[str, Any] | None) -> None:
    """403 unless the caller may change ``auth_classes`` from the old tags' to the new tags'."""
    g = guard(request)
    if g is None:
        return
    old, new = classes_of(old_tags), classes_of(new_tags)
    if old != new and (reason := g.policy.may_reclassify(who(request), old, new)):
        raise HTTPError(403, reason)


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
    await check_collection(request, [i for i in body.get("flow_collection") or [] if i.get("id") != body["id"]])
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


def playlist_uris(request: Request, mode: str | None) -> str | None:
    """A caller who may not read every backend gets gateway URIs (whose reads are checked) in
    playlists, never presigned backend URLs; playlists are cached across callers."""
    if (mode or request.app.state.playlists.settings.uri_mode) == "presigned" and not _reads_every_backend(request):
        return "proxy"
    return mode


def delivery_mode(request: Request, mode: str) -> str:
    """The same for the delivery endpoints: no redirect to a backend the caller may not read."""
    return "proxy" if mode == "redirect" and not _reads_every_backend(request) else mode


async def check_collection(request: Request, items: Any) -> None:
    """A ``flow_collection`` may only name flows the caller can read; others are reported exactly
    like flows that do not exist (the catalog's message), so a collection is no existence probe."""
    g = guard(request)
    if g is None or who(request).admin or not isinstance(items, list):
        return
    hidden = []
    for item in items:
        member = item.get("id") if isinstance(item, dict) else None
        if isinstance(member, str) and READ not in (await g.flow(who(request), member))[1]:
            hidden.append(member)
    if hidden:
        raise HTTPError(400, f"flow_collection names unknown flows: {', '.join(dict.fromkeys(hidden))}")
