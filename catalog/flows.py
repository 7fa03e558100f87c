"""The document workflows every store shares: profile create, flow put, property and tag sets, flow delete,
and object allocation (which checks the flow and the ids the same way).

Written once over a store's primitives (``catalog.facade``) and run inside one of its write
transactions, so both stores apply the same rules, emit the same events and fail the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from catalog import rules
from catalog.errors import Invalid, NotFound
from catalog.store import Allocation, PutResult

if TYPE_CHECKING:  # the facade runs these workflows: imported for annotations only
    from catalog.facade import FlowState, Store

C = TypeVar("C")


def missing_flows(s: Store[C], c: C, ids: Sequence[str], self_id: str) -> list[str]:
    """Which of ``ids`` (a flow_collection's members, the flow itself aside) do not exist."""
    wanted = [i for i in dict.fromkeys(ids) if i != self_id]
    if not wanted:
        return []
    found = s.documents.existing_flows(c, wanted)
    return [i for i in wanted if i not in found]


def _flow(s: Store[C], c: C, flow_id: str) -> FlowState:
    current = s.documents.flow_state(c, flow_id)
    if current is None:
        raise NotFound(f"flow {flow_id} does not exist")
    return current


def _flow_event(s: Store[C], c: C, event_type: str, flow_id: str) -> None:
    flow = s.documents.get_flow(c, flow_id)
    if flow is not None:
        s.events.emit(c, event_type, {"flow": flow}, flow_id, flow["source_id"])


def _source_event(s: Store[C], c: C, event_type: str, source_id: str) -> None:
    source = s.documents.get_source(c, source_id)
    if source is not None:
        s.events.emit(c, event_type, {"source": source}, None, source_id)


def drop_source_if_unused(s: Store[C], c: C, source_id: str) -> None:
    """Sources exist through their flows: the last flow of a source takes it with it."""
    if not s.documents.source_in_use(c, source_id):
        s.documents.delete_source(c, source_id)
        s.events.emit(c, "sources/deleted", {"source_id": source_id}, None, source_id)


def allocate(s: Store[C], c: C, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int) -> None:
    """Records unregistered objects with their key on one backend; any existing id refuses all."""
    s.objects.writable_flow(c, flow_id)
    ids = [a.object_id for a in allocations]
    if len(set(ids)) != len(ids):
        raise Invalid("object_ids must be unique")
    existing = s.objects.existing_objects(c, ids)
    if existing:
        raise Invalid(f"objects already exist: {', '.join(existing[:10])}")
    s.objects.insert_allocations(c, flow_id, allocations, deadline_ns, time.time_ns())


def create_profile(s: Store[C], c: C, doc: dict[str, Any]) -> dict[str, Any]:
    if s.documents.get_profile(c, doc["id"]) is not None:
        raise Invalid(f"profile {doc['id']} already exists; profiles are immutable")
    now = time.time_ns()
    doc = {**doc, "created": rules.iso_from_ns(now)}
    s.documents.insert_profile(c, doc, now)
    return doc


def put_flow(
    s: Store[C], c: C, body: dict[str, Any], principal: str | None, source_tags: Mapping[str, Any] | None = None
) -> PutResult:
    now = time.time_ns()
    current = s.documents.flow_state(c, body["id"])
    existing = current.doc if current else None
    profile = s.documents.get_profile(c, body["profile_id"]) if body.get("profile_id") else None
    source = s.documents.source_doc(c, body["source_id"])
    collection_ids = [item["id"] for item in body.get("flow_collection") or []]
    doc = rules.flow_from_put(
        body,
        existing,
        bool(current and current.read_only),
        profile,
        source["format"] if source else None,
        missing_flows(s, c, collection_ids, body["id"]),
        principal,
        now,
    )
    if source is None:
        new = rules.new_source(doc["source_id"], doc["format"], principal, now)
        new["tags"].update(source_tags or {})
        s.documents.save_source(c, new, now)
        _source_event(s, c, "sources/created", doc["source_id"])
    s.documents.save_flow(c, doc, now)
    _flow_event(s, c, "flows/created" if existing is None else "flows/updated", doc["id"])
    if existing is not None and existing["source_id"] != doc["source_id"]:
        drop_source_if_unused(s, c, existing["source_id"])
    return PutResult(
        created=existing is None, flow=s.documents.get_flow(c, doc["id"]) or doc, source_created=source is None
    )


def set_flow_field(s: Store[C], c: C, flow_id: str, name: str, value: Any, tag: bool = False) -> None:
    """Sets (value None: removes) one property or tag of a flow, enforcing read_only and profiles."""
    current = _flow(s, c, flow_id)
    doc = current.doc
    wanted = [item["id"] for item in value or []] if name == "flow_collection" and not tag else []
    now = time.time_ns()
    rules.set_flow_field(doc, current.read_only, name, value, tag, missing_flows(s, c, wanted, flow_id), now)
    s.documents.save_flow(c, doc, now)
    _flow_event(s, c, "flows/updated", flow_id)


def set_source_field(s: Store[C], c: C, source_id: str, name: str, value: Any, tag: bool = False) -> None:
    """Sets (or with value None removes) label/description, or a tag when ``tag`` is true."""
    doc = s.documents.source_doc(c, source_id)
    if doc is None:
        raise NotFound(f"source {source_id} does not exist")
    rules.set_or_remove(doc, name, value, tag, f"source {source_id}")
    now = time.time_ns()
    doc["updated"] = rules.iso_from_ns(now)
    s.documents.save_source(c, doc, now)
    _source_event(s, c, "sources/updated", source_id)


def delete_flow_document(s: Store[C], c: C, flow_id: str) -> str:
    """Removes the flow row, its tags and collections; returns its source id. Segments go separately."""
    current = _flow(s, c, flow_id)
    doc = current.doc
    if current.read_only:
        rules.check_flow_field_write("delete", doc, True)
    s.documents.delete_flow_row(c, flow_id)
    s.events.emit(c, "flows/deleted", {"flow_id": flow_id}, flow_id, doc["source_id"])
    # the flow also leaves every collection that named it
    for parent_id in s.documents.collections_naming(c, flow_id):
        parent = s.documents.flow_state(c, parent_id)
        if parent is not None:
            members = parent.doc.get("flow_collection", [])
            parent.doc["flow_collection"] = [i for i in members if i["id"] != flow_id]
            s.documents.save_flow(c, parent.doc, time.time_ns())
    drop_source_if_unused(s, c, doc["source_id"])
    return str(doc["source_id"])
