"""Building an object's ``get_urls`` for a response, with the filters of TAMS-NOTES §3.5.

URLs are made per response and never stored. Uncontrolled instances (URLs registered by clients)
are listed as they are; controlled instances on storage backends are added by the object-store
layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from catalog.store import TagFilter


@dataclass(frozen=True, slots=True)
class UrlFilter:
    accept_get_urls: Sequence[str] | None = None  # labels; [] means "no URLs at all"
    accept_storage_ids: Sequence[str] | None = None  # [] means no filtering
    presigned: bool | None = None
    verbose_storage: bool = False
    backend_tags: TagFilter = field(default_factory=TagFilter)

    def wants_none(self) -> bool:
        return self.accept_get_urls is not None and not self.accept_get_urls


def uncontrolled_urls(urls: Sequence[tuple[str, str]], flt: UrlFilter) -> list[dict]:
    """get_urls entries for client-registered URLs: never presigned, on no storage backend."""
    if flt.wants_none():
        return []
    if flt.accept_storage_ids:  # uncontrolled URLs have no storage_id
        return []
    if flt.presigned is True:
        return []
    if flt.backend_tags.values or flt.backend_tags.exists:  # no backend, so no backend tags
        return []
    result = []
    for url, label in urls:
        if flt.accept_get_urls is not None and label not in flt.accept_get_urls:
            continue
        item = {"url": url, "label": label, "presigned": False}
        if flt.verbose_storage:
            item["controlled"] = False
        result.append(item)
    return result
