"""The access filter (``AccessFilter``) as a VAST predicate on the ``auth_classes`` column.

Sources, flows and webhooks keep their classes beside the document as ``|a|b|`` ("" for none), so
a listing pushes "holds one of these classes" down as an OR of substring matches on that one
column. The pushed-down part selects a superset (it cannot express "none of the denied classes",
VAST refuses a negated ``contains``, and rows written before the column existed hold null): the
exact ``AccessFilter.admits`` on each candidate's tags decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ibis import _

from catalog.store import AccessFilter


def column_value(tags: Mapping[str, Any] | None, tag: str = "auth_classes") -> str:
    value = (tags or {}).get(tag)
    classes = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
    return "|" + "|".join(sorted(set(classes))) + "|" if classes else ""


def predicate(access: AccessFilter | None) -> Any:
    """The pushed-down superset of what ``access`` admits; None when there is no filter."""
    if access is None:
        return None
    term = _.auth_classes.isnull()  # rows from before the column: decided on their documents
    for cls in sorted(access.classes):
        term = term | _.auth_classes.contains(f"|{cls}|")
    if access.unclassified:
        term = term | (_.auth_classes == "")
    return term
