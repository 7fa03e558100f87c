"""Per-property endpoints of sources and flows: label, description, tags, read_only, bit rates, collection.

Each property is one row in a table; the handlers are generated from it, so every property
behaves the same: GET returns the bare JSON value, PUT validates and sets it, DELETE removes it
(204 whether or not it was set; a missing tag is a 404). A property without a default (label,
description, bit rates) that is unset is a 404: the spec's 200 schema is a string or an integer,
never null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from gateway import params, permissions
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, read_json
from gateway.routes.common import catalog

Validator = Callable[[Any], Any]


def _owner(request: Request, kind: str) -> str:
    key = "sourceId" if kind == "source" else "flowId"
    return params.path_uuid(request.path_params[key], kind)


async def _load(request: Request, kind: str, owner_id: str) -> dict[str, Any]:
    doc = await (catalog(request).get_source(owner_id) if kind == "source" else catalog(request).get_flow(owner_id))
    if doc is None:
        raise HTTPError(404, f"{kind} {owner_id} does not exist")
    return doc


async def _set(request: Request, kind: str, owner_id: str, name: str, value: Any) -> None:
    store = catalog(request)
    if kind == "source":
        await store.set_source_field(owner_id, name, value)
    else:
        await store.set_flow_field(owner_id, name, value)


def property_routes(kind: str, prefix: str, fields: dict[str, tuple[Validator, Any, bool]]) -> list[Route]:
    """Routes for ``{prefix}/{name}``; fields map name -> (validator, value when unset, deletable)."""
    routes: list[Route] = []
    for name, (validate, unset, deletable) in fields.items():

        async def get(request: Request, name: str = name, unset: Any = unset) -> Response:
            owner_id = _owner(request, kind)
            value = (await _load(request, kind, owner_id)).get(name, unset)
            if value is None:
                raise HTTPError(404, f"{kind} {owner_id} has no {name}")
            return json_response(value)

        async def put(request: Request, name: str = name, validate: Validator = validate) -> Response:
            owner_id = _owner(request, kind)
            value = validate(await read_json(request))
            if name == "flow_collection":
                await permissions.check_collection(request, value)
            await _set(request, kind, owner_id, name, value)
            return empty()

        async def delete(request: Request, name: str = name) -> Response:
            await _set(request, kind, _owner(request, kind), name, None)
            return empty()

        routes.append(Route(f"{prefix}/{name}", get, methods=["GET", "HEAD"]))
        routes.append(Route(f"{prefix}/{name}", put, methods=["PUT"]))
        if deletable:
            routes.append(Route(f"{prefix}/{name}", delete, methods=["DELETE"]))
    return routes


def tag_routes(kind: str, prefix: str) -> list[Route]:
    async def get_all(request: Request) -> Response:
        doc = await _load(request, kind, _owner(request, kind))
        return json_response(doc.get("tags") or {})

    async def get_one(request: Request) -> Response:
        owner_id, name = _owner(request, kind), request.path_params["name"]
        tags = (await _load(request, kind, owner_id)).get("tags") or {}
        if name not in tags:
            raise HTTPError(404, f"{kind} {owner_id} has no tag {name!r}")
        return json_response(tags[name])

    async def put_one(request: Request) -> Response:
        owner_id, name = _owner(request, kind), request.path_params["name"]
        value = models.validate_tag_value(await read_json(request))
        await _set_tag(request, kind, owner_id, name, value)
        return empty()

    async def delete_one(request: Request) -> Response:
        await _set_tag(request, kind, _owner(request, kind), request.path_params["name"], None)
        return empty()

    return [
        Route(f"{prefix}/tags", get_all, methods=["GET", "HEAD"]),
        Route(f"{prefix}/tags/{{name}}", get_one, methods=["GET", "HEAD"]),
        Route(f"{prefix}/tags/{{name}}", put_one, methods=["PUT"]),
        Route(f"{prefix}/tags/{{name}}", delete_one, methods=["DELETE"]),
    ]


async def _set_tag(request: Request, kind: str, owner_id: str, name: str, value: Any) -> None:
    await permissions.check_tag_change(request, kind, owner_id, name, value)
    store = catalog(request)
    if kind == "source":
        await store.set_source_tag(owner_id, name, value)
    else:
        await store.set_flow_tag(owner_id, name, value)


source_routes = [
    *tag_routes("source", "/sources/{sourceId}"),
    *property_routes(
        "source",
        "/sources/{sourceId}",
        {
            "label": (models.validate_string, None, True),
            "description": (models.validate_string, None, True),
        },
    ),
]

flow_routes = [
    *tag_routes("flow", "/flows/{flowId}"),
    *property_routes(
        "flow",
        "/flows/{flowId}",
        {
            "label": (models.validate_string, None, True),
            "description": (models.validate_string, None, True),
            "read_only": (models.validate_bool, False, False),
            "max_bit_rate": (models.validate_bit_rate, None, True),
            "avg_bit_rate": (models.validate_bit_rate, None, True),
            "flow_collection": (models.validate_flow_collection, [], True),
        },
    ),
]
