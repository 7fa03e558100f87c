"""Fine-grained permissions: who may read, write or delete which source, flow, webhook or backend.

Pure rules, no HTTP and no I/O. Resources carry a list-valued tag ``auth_classes``; a policy maps
the caller's groups to permissions per class. Permissions on a resource are the union of what its
classes allow the caller's groups, less what any of them denies (a deny wins over an allow). The
admin scope bypasses everything; with no policy configured nothing here is consulted.

Policy (JSON)::

    {
        "groups": {"news": {"news": ["read", "write", "delete"]}, "sport_ro": {"sport": ["read"]}},
        "deny": {"news": {"embargoed": ["read", "write", "delete"]}},
        "defaults": {"news": ["news"]},
        "unclassified": [],
        "unclassified_backends": ["read", "write", "delete"],
    }

The group ``*`` stands for every caller. ``defaults`` are the classes a new flow (and its new
source) gets when the caller gives none; ``unclassified`` is what everyone may do with a source,
flow or webhook that has no ``auth_classes`` tag (nothing, by default: only admins see it), and
``unclassified_backends`` the same for storage backends (everything, by default).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.store import AccessFilter

READ, WRITE, DELETE = "read", "write", "delete"
PERMISSIONS = frozenset({READ, WRITE, DELETE})
NONE: frozenset[str] = frozenset()
EVERYONE = "*"
TAG = "auth_classes"

Grants = Mapping[str, Mapping[str, frozenset[str]]]  # group -> class -> permissions


class PolicyError(ValueError):
    """The policy file is not a valid policy (the message says where)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller as the policy sees it."""

    name: str
    groups: frozenset[str] = NONE
    admin: bool = False


def classes_of(tags: Mapping[str, Any] | None) -> frozenset[str]:
    """A document's ``auth_classes`` (a scalar tag counts as one class)."""
    value = (tags or {}).get(TAG)
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return NONE


def _perms(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise PolicyError(f"{where}: expected a list of permissions")
    unknown = set(value) - PERMISSIONS
    if unknown:
        raise PolicyError(f"{where}: unknown permissions {sorted(unknown)} (read, write, delete)")
    return frozenset(value)


def _grants(value: Any, where: str) -> dict[str, dict[str, frozenset[str]]]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected an object of group -> {{class: [permissions]}}")
    out: dict[str, dict[str, frozenset[str]]] = {}
    for group, classes in value.items():
        if not isinstance(classes, dict):
            raise PolicyError(f"{where}.{group}: expected an object of class -> [permissions]")
        out[group] = {c: _perms(p, f"{where}.{group}.{c}") for c, p in classes.items()}
    return out


def _class_lists(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
    ):
        raise PolicyError(f"{where}: expected an object of group -> [classes]")
    return {group: tuple(classes) for group, classes in value.items()}


@dataclass(frozen=True)
class Policy:
    allow: Grants = field(default_factory=dict)
    deny: Grants = field(default_factory=dict)
    defaults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unclassified: frozenset[str] = NONE
    unclassified_backends: frozenset[str] = PERMISSIONS

    @classmethod
    def from_json(cls, data: Any) -> Policy:
        if not isinstance(data, dict):
            raise PolicyError("the policy must be a JSON object")
        unknown = set(data) - {"groups", "deny", "defaults", "unclassified", "unclassified_backends"}
        if unknown:
            raise PolicyError(f"unknown policy keys {sorted(unknown)}")
        return cls(
            allow=_grants(data.get("groups", {}), "groups"),
            deny=_grants(data.get("deny", {}), "deny"),
            defaults=_class_lists(data.get("defaults", {}), "defaults"),
            unclassified=_perms(data.get("unclassified", []), "unclassified"),
            unclassified_backends=_perms(
                data.get("unclassified_backends", sorted(PERMISSIONS)), "unclassified_backends"
            ),
        )

    # -- per resource ----------------------------------------------------------------------------
    def _groups(self, who: Identity) -> Iterable[str]:
        return (*who.groups, EVERYONE)

    def _per_class(self, grants: Grants, who: Identity, cls: str) -> frozenset[str]:
        found: set[str] = set()
        for group in self._groups(who):
            found |= grants.get(group, {}).get(cls, NONE)
        return frozenset(found)

    def permissions(self, who: Identity, classes: Collection[str], backend: bool = False) -> frozenset[str]:
        """What ``who`` may do with a resource of these classes."""
        if who.admin:
            return PERMISSIONS
        if not classes:
            return self.unclassified_backends if backend else self.unclassified
        allowed: set[str] = set()
        denied: set[str] = set()
        for cls in classes:
            allowed |= self._per_class(self.allow, who, cls)
            denied |= self._per_class(self.deny, who, cls)
        return frozenset(allowed - denied)

    def of_tags(self, who: Identity, tags: Mapping[str, Any] | None, backend: bool = False) -> frozenset[str]:
        return self.permissions(who, classes_of(tags), backend)

    # -- listings ----------------------------------------------------------------------------------
    def filter_for(self, who: Identity, permission: str = READ) -> AccessFilter | None:
        """The catalog filter selecting what ``who`` holds ``permission`` on; None: no filtering."""
        if who.admin:
            return None
        named = {c for g in self._groups(who) for c in self.allow.get(g, {})}
        named |= {c for g in self._groups(who) for c in self.deny.get(g, {})}
        classes = frozenset(c for c in named if permission in self._per_class(self.allow, who, c))
        denied = frozenset(c for c in named if permission in self._per_class(self.deny, who, c))
        return AccessFilter(classes - denied, denied, permission in self.unclassified, TAG)

    # -- changing auth_classes -------------------------------------------------------------------
    def holds(self, who: Identity, cls: str) -> bool:
        """Whether ``who`` may hand class ``cls`` out: it reads and writes what carries it."""
        return {READ, WRITE} <= self.permissions(who, (cls,))

    def may_grant(self, who: Identity, classes: Collection[str]) -> str | None:
        """Why ``who`` may not put these classes on a resource (None: it may)."""
        not_held = sorted(c for c in classes if not who.admin and not self.holds(who, c))
        return f"{who.name} may not grant auth_classes {', '.join(not_held)}" if not_held else None

    def may_reclassify(self, who: Identity, old: Collection[str], new: Collection[str]) -> str | None:
        """Why ``who`` may not change a resource's classes from ``old`` to ``new`` (None: it may).

        The caller must hold every class it adds, and may not end up with more than it had."""
        if who.admin:
            return None
        reason = self.may_grant(who, set(new) - set(old))
        if reason:
            return reason
        gained = self.permissions(who, new) - self.permissions(who, old)
        if gained:
            return f"that change would give {who.name} more ({', '.join(sorted(gained))}) than it has"
        return None

    def creation_classes(self, who: Identity, requested: Collection[str]) -> tuple[tuple[str, ...], str | None]:
        """The classes of a new flow and source: the caller's own choice if it may grant all of
        them, else (when it gave none) its groups' defaults; the second item says why not."""
        if requested:
            return tuple(sorted(requested)), self.may_grant(who, requested)
        chosen = sorted({c for g in self._groups(who) for c in self.defaults.get(g, ())})
        if not chosen and not who.admin:
            return (), f"{who.name} has no default auth_classes: give tags.auth_classes"
        return tuple(chosen), None
