"""Building an object's ``get_urls`` for one response, with the filters in docs/STREAMING.md (Reading: get_urls).

URLs are made per response and never stored. Controlled instances (bytes on our storage
backends) become freshly presigned URLs; uncontrolled instances (URLs registered by clients) are
listed as they are. URLs that a filter would drop are never signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.rules import tags_match
from catalog.store import Instance, TagFilter
from streaming.storage.interface import BackendInfo
from streaming.storage.registry import Storage


@dataclass(frozen=True, slots=True)
class UrlFilter:
    accept_get_urls: Sequence[str] | None = None  # labels; [] means "no URLs at all"
    accept_storage_ids: Sequence[str] | None = None  # [] means no filtering
    presigned: bool | None = None
    verbose_storage: bool = False
    backend_tags: TagFilter = field(default_factory=TagFilter)
    readable_storage_ids: frozenset[str] | None = None  # backends the caller may read (None: all)

    def wants_none(self) -> bool:
        return self.accept_get_urls is not None and not self.accept_get_urls


def _backend_accepted(info: BackendInfo, flt: UrlFilter) -> bool:
    if flt.accept_get_urls is not None and info.label not in flt.accept_get_urls:
        return False
    if flt.accept_storage_ids and info.id not in flt.accept_storage_ids:
        return False
    if flt.readable_storage_ids is not None and info.id not in flt.readable_storage_ids:
        return False
    return tags_match(info.tags, flt.backend_tags)


def build_get_urls(
    storage: Storage,
    instances: Sequence[Instance],
    uncontrolled: Sequence[tuple[str, str]],
    flt: UrlFilter,
    expires_in: int,
) -> list[dict]:
    """Controlled instances first (presigned), then client-registered URLs."""
    if flt.wants_none():
        return []
    result: list[dict] = []
    if flt.presigned is not False:
        for instance in instances:
            store = storage.get(instance.storage_id)
            if store is None or not _backend_accepted(store.info, flt):
                continue
            item = {"url": store.get_url(instance.key, expires_in), "presigned": True, "label": store.info.label}
            if flt.verbose_storage:
                item.update(controlled=True, storage_id=store.info.id)
                item.update(
                    {k: v for k, v in store.info.describe().items() if k not in ("id", "label", "default_storage")}
                )
            result.append(item)
    result.extend(uncontrolled_urls(uncontrolled, flt))
    return result


def page_get_urls(
    storage: Storage,
    objects: Sequence[tuple[Sequence[Instance], Sequence[tuple[str, str]]]],
    flt: UrlFilter,
    expires_in: int,
) -> list[list[dict]]:
    """``build_get_urls`` for each (instances, client URLs) of a page, the same lists, made in bulk:
    each backend is checked against the filter once per page, and its URLs are signed together
    (``ObjectStore.get_urls``: the shared part of the signature is computed once)."""
    results: list[list[dict]] = [[] for _ in objects]
    if flt.wants_none():
        return results
    if flt.presigned is not False:
        accepted: dict[str, Any] = {}  # storage id -> (store, base entry), None when not accepted
        pending: dict[str, tuple[list[str], list[dict]]] = {}  # storage id -> keys, their entries
        for index, (instances, _) in enumerate(objects):
            for instance in instances:
                backend = accepted.get(instance.storage_id, False)
                if backend is False:
                    store = storage.get(instance.storage_id)
                    backend = accepted[instance.storage_id] = (
                        (store, _controlled_entry(store.info, flt))
                        if store is not None and _backend_accepted(store.info, flt)
                        else None
                    )
                if backend is None:
                    continue
                item = dict(backend[1])
                keys, items = pending.setdefault(instance.storage_id, ([], []))
                keys.append(instance.key)
                items.append(item)
                results[index].append(item)
        for storage_id, (keys, items) in pending.items():
            for item, url in zip(items, accepted[storage_id][0].get_urls(keys, expires_in), strict=True):
                item["url"] = url
    for index, (_, uncontrolled) in enumerate(objects):
        if uncontrolled:
            results[index].extend(uncontrolled_urls(uncontrolled, flt))
    return results


def _controlled_entry(info: BackendInfo, flt: UrlFilter) -> dict:
    """A controlled get_urls entry without its URL, keys in ``build_get_urls``' order."""
    item: dict = {"url": "", "presigned": True, "label": info.label}
    if flt.verbose_storage:
        item.update(controlled=True, storage_id=info.id)
        item.update({k: v for k, v in info.describe().items() if k not in ("id", "label", "default_storage")})
    return item


def uncontrolled_urls(urls: Sequence[tuple[str, str]], flt: UrlFilter) -> list[dict]:
    """get_urls entries for client-registered URLs: never presigned, on no storage backend."""
    if flt.wants_none() or flt.accept_storage_ids or flt.presigned is True:
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
