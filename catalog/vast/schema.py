"""The VAST DB catalog's tables as Arrow schemas, and the DDL that creates or migrates them at start.

The model (docs/VAST.md, "How the store uses VAST") mirrors the SQLite store's columns. VAST has no
keys, joins or secondary indexes, so:
- ``segments`` is sorted by (flow_id, ts_lo): an Elysium sorted table on VAST 5.3+, else a regular
  table with a semi-sorted projection on those columns; a second projection sorts by object_id;
- documents (flows, sources, ...) are JSON in ``doc`` with the columns we filter on beside it;
- ``counters`` holds the outbox sequence: every event-writing transaction updates that one row,
  so concurrent writers (even on several replicas) conflict and retry instead of reusing numbers.
"""

from __future__ import annotations

import pyarrow as pa

S, I64, B = pa.utf8(), pa.int64(), pa.bool_()


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(columns))


TABLES: dict[str, pa.Schema] = {
    "service": _schema(("key", S), ("value", S)),
    "counters": _schema(("name", S), ("value", I64)),
    "profiles": _schema(("id", S), ("label", S), ("format", S), ("codec", S), ("created_ns", I64), ("doc", S)),
    "sources": _schema(
        ("id", S),
        ("format", S),
        ("label", S),
        ("created_ns", I64),
        ("updated_ns", I64),
        ("doc", S),
        ("auth_classes", S),  # "|a|b|", for pushed-down access filters (catalog/vast/access.py)
    ),
    "flows": _schema(
        ("id", S),
        ("source_id", S),
        ("format", S),
        ("codec", S),
        ("label", S),
        ("container", S),
        ("profile_id", S),
        ("status", S),
        ("frame_width", I64),
        ("frame_height", I64),
        ("init_segments", B),
        ("read_only", B),
        ("created_ns", I64),
        ("metadata_updated_ns", I64),
        ("doc", S),
        # segment statistics, written in the same transaction as every segment change
        ("seg_count", I64),
        ("seg_lo_min", I64),
        ("seg_hi_max", I64),
        ("seg_end_max", I64),
        ("seg_end_incl", B),
        ("seg_maxdur", I64),
        ("segments_updated_ns", I64),
        ("seg_added_total", I64),
        ("auth_classes", S),
    ),
    "flow_collections": _schema(("parent_id", S), ("position", I64), ("child_id", S), ("role", S)),
    "segments": _schema(
        ("flow_id", S),
        ("ts_lo", I64),
        ("ts_hi", I64),
        ("timerange", S),
        ("object_id", S),
        ("ts_offset", I64),
        ("last_duration", I64),
        ("sample_offset", I64),
        ("sample_count", I64),
        ("object_timerange", S),
        ("key_frame_count", I64),
        ("init_object_id", S),
        ("created_ns", I64),
    ),
    "objects": _schema(
        ("id", S),
        ("first_flow_id", S),
        ("timerange", S),
        ("key_frame_count", I64),
        ("init_object_id", S),
        ("is_init", B),
        ("registered", B),
        ("allocated_flow_id", S),
        ("alloc_deadline_ns", I64),
        ("content_type", S),
        ("size", I64),
        ("created_ns", I64),
        ("sha256", S),  # of the uploaded bytes, recorded at registration (internal: never in the API)
    ),
    "object_urls": _schema(("object_id", S), ("label", S), ("url", S), ("position", I64)),
    "object_instances": _schema(("object_id", S), ("storage_id", S), ("key", S), ("created_ns", I64)),
    "events": _schema(("seq", I64), ("type", S), ("flow_id", S), ("source_id", S), ("body", S), ("created_ns", I64)),
    "webhooks": _schema(
        ("id", S),
        ("url", S),
        ("doc", S),
        ("status", S),
        ("error", S),
        ("last_seq", I64),
        ("created_ns", I64),
        ("auth_classes", S),
    ),
    "delete_requests": _schema(
        ("id", S), ("flow_id", S), ("status", S), ("doc", S), ("created_ns", I64), ("updated_ns", I64)
    ),
}

# Elysium sorting key (VAST 5.3+); on older servers the same order comes from a projection.
SORTING_KEYS: dict[str, list[str]] = {"segments": ["flow_id", "ts_lo"]}

# (table, projection, sorted columns, unsorted columns)
PROJECTIONS: list[tuple[str, str, list[str], list[str]]] = [
    ("segments", "seg_by_object", ["object_id"], ["flow_id", "ts_lo", "ts_hi"]),
    ("objects", "obj_by_init", ["init_object_id"], ["id"]),
    ("object_instances", "inst_by_object", ["object_id"], ["storage_id", "key", "created_ns"]),
]
LEGACY_PROJECTIONS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "segments",
        "seg_by_flow_time",
        ["flow_id", "ts_lo"],
        [c for c in TABLES["segments"].names if c not in ("flow_id", "ts_lo")],
    ),
]
