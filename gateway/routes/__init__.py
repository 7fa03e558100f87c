"""The TAMS API routes, one module per resource; each handler is parse -> one catalog call -> render."""

from starlette.routing import BaseRoute

from gateway.routes import (
    delivery,
    events,
    flows,
    local_store,
    objects,
    player,
    playlists,
    properties,
    remux,
    segments,
    service,
    sources,
    storage,
    webhooks,
)


def api_routes() -> list[BaseRoute]:
    return [
        *service.routes,
        *webhooks.routes,
        *events.routes,
        *sources.routes,
        *properties.source_routes,
        *flows.routes,
        *properties.flow_routes,
        *segments.routes,
        *storage.routes,
        *delivery.routes,
        *remux.routes,
        *playlists.routes,
        *player.routes,
        *objects.routes,
        *local_store.routes,
    ]
