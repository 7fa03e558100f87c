"""Predicates as VAST DB can push them down: validated by the SDK's own serializer, evaluated by Arrow.

VAST accepts an AND of per-column conditions (each an OR of comparisons on one column); anything
else (cross-column OR, column-to-column comparison, arithmetic, ``~contains``) raises
``NotImplementedError`` in the SDK *before* any request is sent. ``validate`` runs exactly that
serializer, so the fake store refuses what a real cluster would refuse. It uses the SDK's private
``vastdb._internal`` module, which is why the SDK is pinned to one minor version; the test
``tests/test_vast_store.py`` fails loudly if that module moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr import operations as ops
from vastdb._internal import build_query_data_request
from vastdb.table_metadata import TableMetadata


def resolve(predicate: Any, metadata: TableMetadata) -> Any:
    """A deferred ``ibis._`` predicate bound to the table's columns (expressions pass through)."""
    if predicate is None:
        return None
    if hasattr(predicate, "resolve"):
        return predicate.resolve(metadata.ibis_table)
    return predicate


def validate(schema: pa.Schema, predicate: Any, columns: list[str]) -> None:
    """Serializes the query as the SDK would send it; raises NotImplementedError if VAST cannot push it down."""
    build_query_data_request(schema, predicate, columns)


def _flatten(op: Any, kind: type[Any]) -> Iterator[Any]:
    if isinstance(op, kind):
        for arg in op.args:
            yield from _flatten(arg, kind)
    else:
        yield op


def _column(op: Any) -> pc.Expression:
    return pc.field(op.name)


def _leaf(op: Any) -> pc.Expression:
    kind = type(op)
    if kind is ops.Not:
        return ~pc.field(op.arg.arg.name).is_null()
    if kind is ops.IsNull:
        return _column(op.arg).is_null()
    if kind is ops.Between:
        field = _column(op.arg)
        return (field >= op.lower_bound.value) & (field <= op.upper_bound.value)
    if kind is ops.InValues:
        return _column(op.value).isin([v.value for v in op.options])
    if kind is ops.StringContains:
        return pc.match_substring(_column(op.haystack), op.needle.value)
    if kind is ops.StartsWith:
        return pc.starts_with(_column(op.arg), op.start.value)
    field, value = _column(op.left), op.right.value
    comparisons = {
        ops.Equals: lambda: field == value,
        ops.NotEquals: lambda: field != value,
        ops.Greater: lambda: field > value,
        ops.GreaterEqual: lambda: field >= value,
        ops.Less: lambda: field < value,
        ops.LessEqual: lambda: field <= value,
    }
    return comparisons[kind]()


def to_arrow(predicate: Any) -> pc.Expression | None:
    """The Arrow filter for a predicate already accepted by ``validate`` (AND of per-column ORs)."""
    if predicate is None:
        return None
    result: pc.Expression | None = None
    for conjunct in _flatten(predicate.op(), ops.And):
        disjunction: pc.Expression | None = None
        for leaf in _flatten(conjunct, ops.Or):
            term = _leaf(leaf)
            disjunction = term if disjunction is None else disjunction | term
        result = disjunction if result is None else result & disjunction
    return result
