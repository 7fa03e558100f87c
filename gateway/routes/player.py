"""``/player``: a page that plays a flow or a source from this gateway with hls.js."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from gateway.errors import HTTPError

PLAYER_DIR = Path(__file__).resolve().parents[1] / "player"
HLS_JS = PLAYER_DIR / "node_modules" / "hls.js" / "dist" / "hls.min.js"


async def player_page(request: Request) -> Response:
    """The player page: ``/player?id=<flow id>&timerange=[0:0_60:0)`` (add ``&source=on`` for a source)."""
    return FileResponse(PLAYER_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


async def hls_js(request: Request) -> Response:
    if not HLS_JS.exists():
        raise HTTPError(404, "hls.js is not installed: run `make run` (it installs it with npm) or "
                             "`npm install --prefix gateway/player`")
    return FileResponse(HLS_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


routes = [
    Route("/player", player_page, methods=["GET", "HEAD"]),
    Route("/player/hls.min.js", hls_js, methods=["GET", "HEAD"]),
]
