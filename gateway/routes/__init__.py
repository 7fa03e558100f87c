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
    # the segment listing first: the router tries routes in order, and this is the hot one (no other
    # route matches its path, so the order changes nothing else)
    return [
        *segments.routes,
        *service.routes,
        *webhooks.routes,
        *events.routes,
        *sources.routes,
        *properties.source_routes,
        *flows.routes,
        *properties.flow_routes,
        *storage.routes,
        *delivery.routes,
        *remux.routes,
        *playlists.routes,
        *player.routes,
        *objects.routes,
        *local_store.routes,
    ]
