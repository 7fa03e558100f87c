"""Keyset-paged listings and tag filters in SQL, shared by sources, flows and profiles."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.paging import decode_key, encode_key
from catalog.segment_window import SegmentWindow
from catalog.store import AccessFilter, TagFilter

Row = tuple[Any, ...]  # a result row (connections keep the default tuple row factory)


@dataclass
class Where:
    """AND-ed SQL conditions with their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "1"


def placeholders(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def rows_for_ids(conn: sqlite3.Connection, sql: str, ids: Sequence[str], chunk: int = 500) -> list[Row]:
    """Runs ``sql`` (with one ``{ids}`` placeholder list) over the unique ``ids`` in bounded chunks."""
    unique = list(dict.fromkeys(ids))
    rows: list[Row] = []
    for start in range(0, len(unique), chunk):
        part = unique[start : start + chunk]
        rows.extend(conn.execute(sql.format(ids=placeholders(part)), part).fetchall())
    return rows


def add_tag_filters(where: Where, kind: str, id_column: str, tags: TagFilter) -> None:
    for name, values in tags.values.items():
        where.add(
            f"EXISTS (SELECT 1 FROM tags t WHERE t.kind=? AND t.entity_id={id_column} AND t.name=? "
            f"AND t.value IN ({placeholders(values)}))",
            kind,
            name,
            *values,
        )
    for name, present in tags.exists.items():
        where.add(
            f"{'' if present else 'NOT '}EXISTS (SELECT 1 FROM tags t WHERE t.kind=? "
            f"AND t.entity_id={id_column} AND t.name=?)",
            kind,
            name,
        )


def add_access_filter(where: Where, kind: str, id_column: str, access: AccessFilter | None) -> None:
    """``AccessFilter.admits`` as SQL on the tags table, so paging and counts stay exact."""
    if access is None:
        return
    tagged = f"SELECT 1 FROM tags t WHERE t.kind=? AND t.entity_id={id_column} AND t.name=?"
    allowed = list(access.classes)
    admits = f"EXISTS ({tagged} AND t.value IN ({placeholders(allowed)}))" if allowed else "0"
    params: list[str] = [kind, access.tag, *allowed] if allowed else []
    if access.unclassified:
        admits = f"({admits} OR NOT EXISTS ({tagged}))"
        params += [kind, access.tag]
    where.add(admits, *params)
    if access.denied:
        denied = list(access.denied)
        where.add(f"NOT EXISTS ({tagged} AND t.value IN ({placeholders(denied)}))", kind, access.tag, *denied)


def keyset_page(
    conn: sqlite3.Connection,
    *,
    kind: str,
    select: str,
    where: Where,
    sort_columns: Sequence[str],
    descending: bool,
    page: str | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """Runs ``select`` (which must end with FROM/JOIN clauses) ordered by ``sort_columns``.

    The sort columns must form a unique key (end with the id). Returns the rows (without the
    trailing sort values) and the next page key.
    """
    n = len(sort_columns)
    conditions = Where(list(where.clauses), list(where.params))
    if page is not None:
        after = decode_key(kind, page, n)
        op = "<" if descending else ">"
        conditions.add(f"({', '.join(sort_columns)}) {op} ({placeholders(after)})", *after)
    direction = " DESC" if descending else ""
    order = ", ".join(col + direction for col in sort_columns)
    sql = f"SELECT {', '.join(sort_columns)}, {select} WHERE {conditions.sql()} ORDER BY {order} LIMIT ?"
    rows = conn.execute(sql, (*conditions.params, limit + 1)).fetchall()
    next_key = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_key = encode_key(kind, *rows[-1][:n])
    return [row[n:] for row in rows], next_key


def add_window(where: Where, window: SegmentWindow) -> None:
    """The segment-window rule (``catalog.segment_window``) as SQL on the segments table."""
    for clause, bound in (
        ("ts_lo >= ?", window.lo_min),
        ("ts_lo <= ?", window.lo_max),
        ("ts_hi >= ?", window.hi_min),
        ("ts_hi <= ?", window.hi_max),
    ):
        if bound is not None:
            where.add(clause, bound)
