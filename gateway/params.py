"""Parsing of query parameters and path ids; every bad value is a 400 that names it."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl

from catalog.store import TagFilter
from catalog.timing import TimeFormatError, TimeRange
from catalog.vocabulary import INT_MAX, MIME_RE, UUID_RE
from gateway.errors import HTTPError


def query_dict(query_string: bytes) -> dict[str, str]:
    """A request's query parameters as Starlette's ``request.query_params`` reads them (the last value
    of a repeated name), as a plain dict: a hot route's absent parameters then cost no KeyError each,
    and no multi-dict is built."""
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def path_uuid(value: str, what: str) -> str:
    """A malformed id in a path names no resource: 404, as for an unknown one."""
    if not UUID_RE.match(value):
        raise HTTPError(404, f"{what} {value!r} is not a valid id, so it does not exist")
    return value


def get_uuid(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not UUID_RE.match(value):
        raise HTTPError(400, f"query parameter {name}={value!r} is not a valid lower-case UUID")
    return value


def get_uuid_list(params: Mapping[str, str], name: str) -> list[str] | None:
    """Comma-separated UUIDs; an empty value is an empty list (meaningful for collected_by_ids)."""
    value = params.get(name)
    if value is None:
        return None
    items = [item for item in value.split(",") if item] if value else []
    for item in items:
        if not UUID_RE.match(item):
            raise HTTPError(400, f"query parameter {name} contains {item!r}, which is not a valid UUID")
    return items


def get_list(params: Mapping[str, str], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    return [item for item in value.split(",") if item] if value else []


def get_bool(params: Mapping[str, str], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise HTTPError(400, f"query parameter {name}={value!r} must be true or false")


_INT = re.compile(r"-?[0-9]{1,19}")  # ASCII digits (int() also takes "²"), few enough for int64


def parse_int(text: str, minimum: int = -INT_MAX) -> int | None:
    """``text`` as an integer in [minimum, 2^63 - 1], or None: what a store can bind and compare."""
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if minimum <= value <= INT_MAX else None


def get_int(params: Mapping[str, str], name: str, minimum: int = 0) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    number = parse_int(value, minimum)
    if number is None:
        shown = value if len(value) <= 40 else value[:32] + "..."
        raise HTTPError(400, f"query parameter {name}={shown!r} must be an integer from {minimum} to 2^63 - 1")
    return number


def get_choice(
    params: Mapping[str, str], name: str, choices: Collection[str], default: str | None = None
) -> str | None:
    value = params.get(name)
    if value is None:
        return default
    if value not in choices:
        raise HTTPError(400, f"query parameter {name}={value!r} must be one of {', '.join(choices)}")
    return value


def get_mime(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not MIME_RE.match(value):
        raise HTTPError(400, f"query parameter {name}={value!r} is not a MIME type")
    return value


def get_timerange(params: Mapping[str, str], name: str = "timerange") -> TimeRange | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return TimeRange.parse(value)
    except TimeFormatError as exc:
        raise HTTPError(400, f"query parameter {name}: {exc}") from None


def get_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    limit = get_int(params, "limit", minimum=1)
    return default if limit is None else min(limit, maximum)


def get_tag_filter(params: Mapping[str, str], prefix: str = "tag") -> TagFilter:
    """``{prefix}.NAME=v1,v2`` and ``{prefix}_exists.NAME=true|false``."""
    values: dict[str, list[str]] = {}
    exists: dict[str, bool] = {}
    for key in params:
        if key.startswith(prefix + "."):
            values[key[len(prefix) + 1 :]] = params[key].split(",")
        elif key.startswith(prefix + "_exists."):
            exists[key[len(prefix) + 8 :]] = bool(get_bool(params, key))
    return TagFilter(values, exists)
