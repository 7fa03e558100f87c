"""Catalog rules shared by every store: pure functions of documents, no I/O.

Stores call these inside their write transaction, so a rule and the state it checks are atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from catalog.errors import Invalid, NotFound, ReadOnly
from catalog.store import AccessFilter, TagFilter

# Fields a Profile supplies to a Flow created from it (flow-technical.json plus format/essence).
TECHNICAL_FIELDS = (
    "format",
    "codec",
    "container",
    "essence_parameters",
    "avg_bit_rate",
    "segment_duration",
    "container_mapping",
)  # catalog.models refuses them beside a profile_id
# Fields only the service manages; ignored when a client sends them.
SERVER_FIELDS = ("created", "metadata_updated", "segments_updated", "collected_by", "timerange")


def iso_from_ns(ns: int) -> str:
    """RFC 3339 UTC date-time for a wall-clock time in nanoseconds."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos // 1000:06d}Z"


def flow_from_put(
    body: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    existing_read_only: bool,
    profile: Mapping[str, Any] | None,
    source_format: str | None,
    missing_collection_ids: list[str],
    principal: str | None,
    now_ns: int,
) -> dict[str, Any]:
    """The document to store for ``PUT /flows/{id}``; raises Invalid or ReadOnly."""
    if existing is not None and existing_read_only:
        raise ReadOnly(f"flow {body['id']} is read-only; set read_only to false first")
    doc = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    profile_id = doc.get("profile_id")
    if profile_id:
        if profile is None:
            raise Invalid(f"profile_id {profile_id} names no profile")
        doc.update({k: v for k, v in profile["flow_metadata"].items() if k in TECHNICAL_FIELDS})
    else:
        doc.pop("profile_id", None)
    if existing is not None and existing.get("format") != doc["format"]:
        raise Invalid(f"flow {doc['id']} has format {existing.get('format')}; a flow's format cannot change")
    if source_format is not None and source_format != doc["format"]:
        raise Invalid(f"source {doc['source_id']} has format {source_format}, which conflicts with {doc['format']}")
    if missing_collection_ids:
        raise Invalid(f"flow_collection names unknown flows: {', '.join(missing_collection_ids)}")
    now = iso_from_ns(now_ns)
    doc["created"] = existing["created"] if existing else now
    doc["metadata_updated"] = now
    doc.setdefault("tags", {})
    if existing and existing.get("created_by"):
        doc["created_by"] = existing["created_by"]
    elif principal and "created_by" not in doc:
        doc["created_by"] = principal
    if principal:
        doc["updated_by"] = principal
    doc["metadata_version"] = new_metadata_version(existing, doc.get("metadata_version"))
    return doc


def new_metadata_version(existing: Mapping[str, Any] | None, requested: str | None) -> str:
    """A client's new metadata_version is kept; otherwise every metadata change gets a fresh one."""
    if requested and (existing is None or existing.get("metadata_version") != requested):
        return requested
    return str(uuid.uuid4())


def new_source(source_id: str, format_: str, principal: str | None, now_ns: int) -> dict[str, Any]:
    now = iso_from_ns(now_ns)
    doc: dict[str, Any] = {"id": source_id, "format": format_, "created": now, "updated": now, "tags": {}}
    if principal:
        doc["created_by"] = doc["updated_by"] = principal
    return doc


def set_flow_field(
    doc: dict[str, Any],
    read_only: bool,
    name: str,
    value: Any,
    tag: bool,
    missing_collection_ids: list[str],
    now_ns: int,
) -> None:
    """One property (value None: removal) or tag of a flow, enforcing read_only, profiles and
    collections (``missing_collection_ids``: flows a new flow_collection names that do not exist)."""
    check_flow_field_write("tags" if tag else name, doc, read_only)
    if missing_collection_ids:
        raise Invalid(f"flow_collection names unknown flows: {', '.join(missing_collection_ids)}")
    set_or_remove(doc, name, value, tag, f"flow {doc['id']}")
    doc["metadata_updated"] = iso_from_ns(now_ns)
    doc["metadata_version"] = new_metadata_version(None, None)


def check_flow_field_write(name: str, flow: Mapping[str, Any], read_only: bool) -> None:
    """Rules for the per-property endpoints of a flow."""
    if read_only and name != "read_only":
        raise ReadOnly(f"flow {flow['id']} is read-only")
    if name == "avg_bit_rate" and flow.get("profile_id"):
        raise Invalid(
            f"flow {flow['id']} takes avg_bit_rate from profile {flow['profile_id']}; "
            'PUT the flow with profile_id "" to unlink it first'
        )


def tag_rows(tags: Mapping[str, str | list[str]]) -> list[tuple[str, int, str]]:
    """(name, seq, value) rows for a tag dict; seq -1 marks a scalar string value."""
    rows: list[tuple[str, int, str]] = []
    for name, value in tags.items():
        if isinstance(value, str):
            rows.append((name, -1, value))
        else:
            rows.extend((name, i, item) for i, item in enumerate(value))
    return rows


def set_or_remove(doc: dict[str, Any], name: str, value: Any, tag: bool, what: str) -> None:
    """Sets a property (or tag) of a document; value None removes it. A missing tag is NotFound."""
    container = doc.setdefault("tags", {}) if tag else doc
    if value is None:
        if tag and name not in container:
            raise NotFound(f"{what} has no tag {name!r}")
        container.pop(name, None)
    else:
        container[name] = value


def tags_match(have_tags: Mapping[str, Any] | None, tags: TagFilter) -> bool:
    """The TAMS tag filters on one set of tags (a document's, a storage backend's):
    ``tag.NAME=v1,v2`` and ``tag_exists.NAME=bool``.

    A value filter matches a scalar tag equal to one of the values, or an array tag holding one.
    """
    have_tags = have_tags or {}
    for name, wanted in tags.values.items():
        have = have_tags.get(name)
        items = [have] if isinstance(have, str) else (have or [])
        if not any(item in wanted for item in items):
            return False
    return all((name in have_tags) == present for name, present in tags.exists.items())


def admitted(have_tags: Mapping[str, Any] | None, tags: TagFilter, access: AccessFilter | None) -> bool:
    """A listing's tag filters and its access filter on one document's tags (stores that filter in memory)."""
    return tags_match(have_tags, tags) and (access is None or access.admits(have_tags))
