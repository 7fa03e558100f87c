"""The OpenAPI 3.1 document of this server, built once from its own routing table.

Every route the app serves appears with its methods and the summary line of its handler, so the
document cannot drift from the code. Request and response bodies follow the official TAMS 8.2
schemas, which the document links to rather than repeats.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.responses import json_response

TAMS_SPEC = "https://github.com/bbc/tams/blob/8.2/api/TimeAddressableMediaStore.yaml"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _operation(route: Route, method: str) -> dict[str, Any]:
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    module = route.endpoint.__module__.rsplit(".", 1)[-1]
    summary = doc[0] if doc else f"{method} {route.path}"
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.endpoint.__name__}_{abs(hash(route.path)) % 10_000}",
        "summary": summary,
        "tags": [module],
        "responses": {"default": {"description": f"See the TAMS 8.2 specification: {TAMS_SPEC}"}},
    }
    names = _PARAM.findall(route.path)
    if names:
        operation["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    return operation


def build_document(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        for method in sorted(route.methods):
            paths.setdefault(path, {})[method.lower()] = _operation(route, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TAMS Gateway",
            "version": version("tams-gateway"),
            "description": "A Time-addressable Media Store (TAMS API 8.2) server. Resource shapes, "
            f"status codes and headers follow the official specification: {TAMS_SPEC}",
        },
        "paths": paths,
    }


async def openapi_endpoint(request: Request) -> Response:
    """This server's OpenAPI document."""
    cached = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        cached = request.app.state.openapi_document = build_document(request.app.routes)
    return json_response(cached)
