"""Domain errors raised by catalog stores; the gateway maps each to one HTTP status."""


class CatalogError(Exception):
    """Base class; ``str(error)`` is a human summary safe to show to clients."""


class NotFound(CatalogError):
    """The named resource does not exist (HTTP 404)."""


class Invalid(CatalogError):
    """The request conflicts with the catalog's rules or state (HTTP 400; the spec has no 409)."""


class ReadOnly(CatalogError):
    """A write to a read-only flow (HTTP 403)."""


class BadPageKey(Invalid):
    """A paging key that this store did not issue or that no longer fits the query."""


class Unavailable(CatalogError):
    """The catalog's database cannot be reached or is overloaded right now (HTTP 503, retry later)."""


class Full(CatalogError):
    """The disk holding the catalog is full (HTTP 507); deletes still go through to free space."""
