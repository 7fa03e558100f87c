"""Each segment row's page fragment, stored (``segments.page_json``, migration 8).

A timerange page of simple segments (``catalog.segment_json``) is its rows' fragments joined, so
each row keeps its fragment: the page reads one column of an index range and renders nothing
(rendering 100 fragments in SQL at read time was two thirds of the page; docs/PERFORMANCE.md).
The column is NULL when the row is not simple (an init object, a client URL, more than one
controlled instance), so a NULL anywhere on a page sends it down the ``Segment`` path.

Registration stores the fragment rendered in Python (``segment_json.fragment``); the migration
and a change of an object's instances or URLs re-decide it in SQL (``STORED``, used by
``objects.refresh_locations``). Both give the same bytes (``tests/test_page_json_column.py``). A
segment's stored members never change after it is written, so only those changes can change it.
"""

from __future__ import annotations


def _timestamp_sql(column: str) -> str:
    """``str(Timestamp(column))`` in SQL: sign, whole seconds, ':', nanoseconds."""
    return (
        f"CASE WHEN {column} < 0 THEN '-' ELSE '' END || (abs({column}) / 1000000000) || ':' "
        f"|| (abs({column}) % 1000000000)"
    )


def _member_sql(name: str, column: str, text: str | None = None) -> str:
    value = text if text is not None else column
    return f"CASE WHEN {column} IS NULL THEN '' ELSE ',\"{name}\":' || {value} END"


FRAGMENT = " || ".join(
    (
        "'{\"object_id\":' || json_quote(object_id) || ',\"timerange\":' || json_quote(timerange)",
        _member_sql("ts_offset", "ts_offset", f"'\"' || {_timestamp_sql('ts_offset')} || '\"'"),
        _member_sql("last_duration", "last_duration", f"'\"' || {_timestamp_sql('last_duration')} || '\"'"),
        _member_sql("sample_offset", "sample_offset"),
        _member_sql("sample_count", "sample_count"),
        _member_sql("key_frame_count", "key_frame_count"),
    )
)
"""``segment_json.fragment`` of a ``segments`` row, rendered by SQLite: the JSON object opened, not closed."""

OBJECT_IS_SIMPLE = (
    "NOT EXISTS (SELECT 1 FROM object_urls u WHERE u.object_id = {object_id}) "
    "AND (SELECT count(*) FROM object_instances i WHERE i.object_id = {object_id}) <= 1"
)
"""An object a simple segment may name: no client URL, at most one controlled instance."""

STORED = (
    "CASE WHEN init_object_id IS NULL AND "
    + OBJECT_IS_SIMPLE.format(object_id="segments.object_id")
    + f" THEN CAST({FRAGMENT} AS BLOB) END"
)
"""What ``page_json`` holds for a ``segments`` row (in an UPDATE of that table)."""

FILL = f"UPDATE segments SET page_json = {STORED}"
