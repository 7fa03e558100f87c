"""Service info, profiles, sources and flows in VAST DB: plain functions of one transaction.

Documents are JSON with their filter columns beside them. Equality filters are pushed down; tag
filters, collection filters and the ordering of a listing are done here on the (small) candidate
set, because VAST has no joins, no ORDER BY and cannot push ``tag_exists=false`` down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ibis import _

from catalog import rules
from catalog.facade import FlowState
from catalog.paging import page_sorted
from catalog.store import AccessFilter, FlowQuery, FlowStats, SourceQuery
from catalog.timing import TimeRange
from catalog.vast import access as pushed
from catalog.vast.connection import Tx
from catalog.vast.rows import delete_where, dump, insert, load, one, select, update_where, upsert, where_in
from catalog.vast.schema import TABLES

SortKey = Callable[[dict[str, Any]], tuple[Any, ...]]
SORTS: dict[str, tuple[SortKey, bool]] = {
    # sort_by -> (unique sort key of a row, newest first by default)
    "created": (lambda r: (r["created_ns"], r["id"]), True),
    "updated": (lambda r: (r.get("updated_ns") or 0, r["id"]), True),
    "metadata_updated": (lambda r: (r.get("metadata_updated_ns") or 0, r["id"]), True),
    "label": (lambda r: (r["label"] is None, r["label"] or "", r["id"]), False),
}


def _and(*terms: Any) -> Any:
    """AND of the given per-column conditions (None terms skipped); None when there are none."""
    result = None
    for term in terms:
        if term is not None:
            result = term if result is None else result & term
    return result


def equal_filters(pairs: Sequence[tuple[str, Any]]) -> Any:
    return _and(*(getattr(_, column) == value for column, value in pairs if value is not None))


# -- service and profiles ------------------------------------------------------------------------
def get_service(tx: Tx) -> dict[str, str]:
    return {row["key"]: row["value"] for row in select(tx, "service")}


def update_service(tx: Tx, changes: Mapping[str, str]) -> None:
    for key, value in changes.items():
        upsert(tx, "service", _.key == key, {"key": key, "value": value})


def list_profiles(
    tx: Tx, format_: str | None, codec: str | None, label: str | None, page: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    found = select(
        tx, "profiles", equal_filters([("format", format_), ("codec", codec), ("label", label)]), ["id", "doc"]
    )
    docs, next_key = page_sorted(
        [((r["id"],), r["doc"]) for r in found], kind="profiles", arity=1, descending=False, page=page, limit=limit
    )
    return [load(d) for d in docs], next_key


def get_profile(tx: Tx, profile_id: str) -> dict[str, Any] | None:
    row = one(tx, "profiles", _.id == profile_id, ["doc"])
    return load(row["doc"]) if row else None


def insert_profile(tx: Tx, doc: dict[str, Any], now_ns: int) -> None:
    meta = doc["flow_metadata"]
    insert(
        tx,
        "profiles",
        [
            {
                "id": doc["id"],
                "label": doc.get("label"),
                "format": meta["format"],
                "codec": meta.get("codec"),
                "created_ns": now_ns,
                "doc": dump(doc),
            }
        ],
    )


# -- collections -------------------------------------------------------------------------------------
def parents_of(tx: Tx, flow_ids: Sequence[str]) -> dict[str, list[str]]:
    """The flows whose flow_collection names each flow (its ``collected_by``), sorted."""
    found: dict[str, set[str]] = {}
    for row in where_in(tx, "flow_collections", "child_id", flow_ids, ["child_id", "parent_id"]):
        found.setdefault(row["child_id"], set()).add(row["parent_id"])
    return {child: sorted(parents) for child, parents in found.items()}


def _source_of(tx: Tx, flow_ids: Sequence[str]) -> dict[str, str]:
    return {r["id"]: r["source_id"] for r in where_in(tx, "flows", "id", flow_ids, ["id", "source_id"])}


def _source_relations(tx: Tx, source: dict[str, Any]) -> dict[str, Any]:
    """Adds the inferred source_collection and collected_by (from the flows' collections)."""
    own = sorted(r["id"] for r in select(tx, "flows", _.source_id == source["id"], ["id"]))
    if not own:
        return source
    members = where_in(tx, "flow_collections", "parent_id", own, ["parent_id", "position", "child_id", "role"])
    members.sort(key=lambda r: (r["parent_id"], r["position"]))
    parents = parents_of(tx, own)
    sources = _source_of(tx, [m["child_id"] for m in members] + [p for ps in parents.values() for p in ps])
    collection: list[dict[str, str]] = []
    seen: set[tuple[str, str | None]] = set()
    for member in members:
        source_id = sources.get(member["child_id"])
        key = (source_id, member["role"]) if source_id is not None else None
        if key is not None and key not in seen:
            seen.add(key)
            collection.append({"id": key[0], "role": key[1]} if key[1] else {"id": key[0]})
    collected_by = sorted({sources[p] for ps in parents.values() for p in ps if p in sources})
    if collection:
        source["source_collection"] = collection
    if collected_by:
        source["collected_by"] = collected_by
    return source


# -- sources ---------------------------------------------------------------------------------------
def list_sources(
    tx: Tx, query: SourceQuery, page: str | None, limit: int, access: AccessFilter | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    pairs = [("label", query.label), ("format", query.format)]
    found = select(tx, "sources", _and(equal_filters(pairs), pushed.predicate(access)))
    found = [r for r in found if rules.admitted(load(r["doc"]).get("tags"), query.tags, access)]
    if query.collected_by_ids is not None:
        wanted = set(query.collected_by_ids)
        kept = []
        for row in found:
            parents = set(_source_relations(tx, {"id": row["id"]}).get("collected_by", []))
            if (parents & wanted) if wanted else not parents:
                kept.append(row)
        found = kept
    key, newest_first = SORTS[query.sort_by]
    rows, next_key = page_sorted(
        [(key(r), r) for r in found],
        kind=f"sources:{query.sort_by}",
        arity=_arity(query.sort_by),
        descending=newest_first != query.reverse,
        page=page,
        limit=limit,
    )
    return [_source_relations(tx, load(r["doc"])) for r in rows], next_key


def _arity(sort_by: str) -> int:
    return 3 if sort_by == "label" else 2


def get_source(tx: Tx, source_id: str) -> dict[str, Any] | None:
    row = one(tx, "sources", _.id == source_id, ["doc"])
    return _source_relations(tx, load(row["doc"])) if row else None


def save_source(tx: Tx, doc: dict[str, Any], now_ns: int) -> None:
    upsert(
        tx,
        "sources",
        _.id == doc["id"],
        {
            "id": doc["id"],
            "format": doc["format"],
            "label": doc.get("label"),
            "created_ns": now_ns,
            "updated_ns": now_ns,
            "doc": dump(doc),
            "auth_classes": pushed.column_value(doc.get("tags")),
        },
        keep=("created_ns", "format"),
    )


# -- flows -------------------------------------------------------------------------------------------
def stats_of(row: Mapping[str, Any]) -> FlowStats:
    count = row["seg_count"] or 0
    envelope = (
        TimeRange.make(row["seg_lo_min"], row["seg_end_max"], True, bool(row["seg_end_incl"]))
        if count
        else TimeRange.never()
    )
    updated = row["segments_updated_ns"]
    return FlowStats(
        count,
        envelope,
        row["seg_maxdur"] or 0,
        rules.iso_from_ns(updated) if updated else None,
        row["seg_added_total"] or 0,
    )


def _render_flows(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    parents = parents_of(tx, [r["id"] for r in rows])
    out = []
    for row in rows:
        doc = load(row["doc"])
        if row["id"] in parents:
            doc["collected_by"] = parents[row["id"]]
        if row["segments_updated_ns"]:
            doc["segments_updated"] = rules.iso_from_ns(row["segments_updated_ns"])
        out.append(doc)
    return out


def list_flows(
    tx: Tx, query: FlowQuery, page: str | None, limit: int, access: AccessFilter | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    pairs = [
        (c, getattr(query, c))
        for c in (
            "source_id",
            "format",
            "codec",
            "label",
            "profile_id",
            "status",
            "frame_width",
            "frame_height",
            "init_segments",
        )
    ]
    terms = [equal_filters(pairs), pushed.predicate(access)]
    tr = query.timerange
    if tr is not None:
        if tr.is_empty():
            terms.append(_.seg_count == 0)
        else:
            terms.append(_.seg_count > 0)
            if tr.hi is not None:
                terms.append(_.seg_lo_min <= tr.hi)
            if tr.lo is not None:
                terms.append(_.seg_hi_max >= tr.lo)
    # candidates carry only what filtering and ordering need; the page's documents are read after
    tagged = bool(query.tags.values or query.tags.exists) or access is not None
    columns = ["id", "created_ns", "metadata_updated_ns", "label"] + (["doc"] if tagged else [])
    found = [
        r
        for r in select(tx, "flows", _and(*terms), columns)
        if not tagged or rules.admitted(load(r["doc"]).get("tags"), query.tags, access)
    ]
    if query.collected_by_ids is not None:
        parents = parents_of(tx, [r["id"] for r in found])
        wanted = set(query.collected_by_ids)
        found = [r for r in found if (set(parents.get(r["id"], ())) & wanted if wanted else r["id"] not in parents)]
    key, newest_first = SORTS[query.sort_by]
    rows, next_key = page_sorted(
        [(key(r), r) for r in found],
        kind=f"flows:{query.sort_by}",
        arity=_arity(query.sort_by),
        descending=newest_first != query.reverse,
        page=page,
        limit=limit,
    )
    full = {r["id"]: r for r in where_in(tx, "flows", "id", [r["id"] for r in rows])}
    return _render_flows(tx, [full[r["id"]] for r in rows if r["id"] in full]), next_key


# every flow column but the JSON document (up to 126 KB): what segment and statistics work reads
FLOW_STATE = [name for name in TABLES["flows"].names if name != "doc"]


def flow_row(tx: Tx, flow_id: str, with_doc: bool = True) -> dict[str, Any] | None:
    return one(tx, "flows", _.id == flow_id, None if with_doc else FLOW_STATE)


def get_flow(tx: Tx, flow_id: str) -> dict[str, Any] | None:
    row = flow_row(tx, flow_id)
    return _render_flows(tx, [row])[0] if row else None


def flow_stats(tx: Tx, flow_id: str) -> FlowStats | None:
    row = flow_row(tx, flow_id, with_doc=False)
    return stats_of(row) if row else None


def save_flow(tx: Tx, doc: dict[str, Any], now_ns: int) -> None:
    essence = doc.get("essence_parameters") or {}
    columns = {
        "id": doc["id"],
        "source_id": doc["source_id"],
        "format": doc["format"],
        "codec": doc.get("codec"),
        "label": doc.get("label"),
        "container": doc.get("container"),
        "profile_id": doc.get("profile_id"),
        "status": doc.get("status"),
        "frame_width": essence.get("frame_width"),
        "frame_height": essence.get("frame_height"),
        "init_segments": bool(essence.get("init_segments")),
        "read_only": bool(doc.get("read_only")),
        "metadata_updated_ns": now_ns,
        "doc": dump(doc),
        "auth_classes": pushed.column_value(doc.get("tags")),
    }
    if not update_where(tx, "flows", _.id == doc["id"], columns):
        insert(tx, "flows", [{**columns, "created_ns": now_ns, "seg_count": 0, "seg_maxdur": 0, "seg_added_total": 0}])
    delete_where(tx, "flow_collections", _.parent_id == doc["id"])
    insert(
        tx,
        "flow_collections",
        [
            {"parent_id": doc["id"], "position": i, "child_id": item["id"], "role": item.get("role")}
            for i, item in enumerate(doc.get("flow_collection") or [])
        ],
    )


# -- primitives of the shared workflows (catalog.flows) ------------------------------------------------
def flow_state(tx: Tx, flow_id: str) -> FlowState | None:
    row = flow_row(tx, flow_id)
    return FlowState(load(row["doc"]), bool(row["read_only"]), row["seg_count"] or 0) if row else None


def source_doc(tx: Tx, source_id: str) -> dict[str, Any] | None:
    row = one(tx, "sources", _.id == source_id, ["doc"])
    return load(row["doc"]) if row else None


def existing_flows(tx: Tx, flow_ids: Sequence[str]) -> set[str]:
    return {r["id"] for r in where_in(tx, "flows", "id", flow_ids, ["id"])}


def source_in_use(tx: Tx, source_id: str) -> bool:
    return one(tx, "flows", _.source_id == source_id, ["id"]) is not None


def delete_source(tx: Tx, source_id: str) -> None:
    delete_where(tx, "sources", _.id == source_id)


def delete_flow_row(tx: Tx, flow_id: str) -> None:
    delete_where(tx, "flows", _.id == flow_id)
    delete_where(tx, "flow_collections", _.parent_id == flow_id)


def collections_naming(tx: Tx, flow_id: str) -> list[str]:
    return sorted({r["parent_id"] for r in select(tx, "flow_collections", _.child_id == flow_id, ["parent_id"])})
