"""Where many objects' bytes are, looked up once per page: the location fields of segments and objects.

Both stores read a page's controlled instances and client URLs with one query each
(``ObjectOps.instances`` and ``urls_of``) and attach them to every ``Segment`` or
``ObjectRecord`` of the page the same way, with this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar

from catalog.store import Instance, Locations

if TYPE_CHECKING:  # the facade runs these workflows: imported for annotations only
    from catalog.facade import ObjectOps, Urls

C = TypeVar("C")


class LocationFields(TypedDict):
    """The location fields ``Segment`` and ``ObjectRecord`` share (passed as ``**fields``)."""

    uncontrolled_urls: Urls
    instances: tuple[Instance, ...]
    init_instances: tuple[Instance, ...]
    init_uncontrolled_urls: Urls


@dataclass(frozen=True, slots=True)
class Located:
    copies: dict[str, list[Instance]]
    urls: dict[str, Urls]

    @classmethod
    def lookup(cls, objects: ObjectOps[C], c: C, object_ids: Sequence[str | None]) -> Located:
        ids = [i for i in dict.fromkeys(object_ids) if i]
        return cls(objects.instances(c, ids), objects.urls_of(c, ids)) if ids else cls({}, {})

    def of(self, object_id: str) -> Locations:
        return Locations(tuple(self.copies.get(object_id, ())), self.urls.get(object_id, ()))

    def fields(self, object_id: str, init_object_id: str | None) -> LocationFields:
        media = self.of(object_id)
        init = self.of(init_object_id) if init_object_id else Locations((), ())
        return LocationFields(
            uncontrolled_urls=media.uncontrolled_urls,
            instances=media.instances,
            init_instances=init.instances,
            init_uncontrolled_urls=init.uncontrolled_urls,
        )

    @property
    def empty(self) -> bool:
        """No object of the page has a controlled instance or a client URL."""
        return not self.copies and not self.urls

    def tail(
        self, object_id: str, init_object_id: str | None
    ) -> tuple[Urls, tuple[Instance, ...], tuple[Instance, ...], Urls]:
        """The location fields in ``Segment``'s field order (after its stored fields)."""
        copies, urls = self.copies, self.urls
        media = tuple(copies.get(object_id, ()))
        if init_object_id is None:
            return urls.get(object_id, ()), media, (), ()
        return urls.get(object_id, ()), media, tuple(copies.get(init_object_id, ())), urls.get(init_object_id, ())

    def found(self) -> dict[str, Locations]:
        """Every object with a controlled instance or a client URL."""
        return {oid: self.of(oid) for oid in set(self.copies) | set(self.urls)}
