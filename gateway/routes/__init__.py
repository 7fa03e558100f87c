"""The TAMS API routes, one module per resource; each handler is parse -> one catalog call -> render."""

from starlette.routing import BaseRoute

from gateway.routes import flows, objects, properties, segments, service, sources


def api_routes() -> list[BaseRoute]:
    return [
        *service.routes,
        *sources.routes,
        *properties.source_routes,
        *flows.routes,
        *properties.flow_routes,
        *segments.routes,
        *objects.routes,
    ]
