"""``/player``: a page that plays a flow or a source from this gateway, and the player scripts it loads.

The scripts (hls.js, dash.js) are npm packages under gateway/player/node_modules: `make` runs `npm ci`
in a checkout, and the wheel build does it when they are missing (setup.py), so an installed gateway
serves them from its own files and never needs the internet.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from gateway.errors import HTTPError

PLAYER_DIR = Path(__file__).resolve().parents[1] / "player"
NODE_MODULES = PLAYER_DIR / "node_modules"
HLS_JS = NODE_MODULES / "hls.js" / "dist" / "hls.min.js"
DASH_JS = NODE_MODULES / "dashjs" / "dist" / "modern" / "umd" / "dash.all.min.js"  # the UMD build: global `dashjs`
# served name -> (what it is, its file); pyproject.toml's package-data must list each file for the wheel,
# and gateway/auth.py keeps each path public like the page (a <script> tag sends no token)
SCRIPTS = {"hls.min.js": ("hls.js", HLS_JS), "dash.all.min.js": ("dash.js", DASH_JS)}


async def player_page(request: Request) -> Response:
    """The player page: ``/player?id=<flow id>&timerange=[0:0_60:0)`` (add ``&source=on`` for a source)."""
    return FileResponse(PLAYER_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


def script(name: str) -> Route:
    label, path = SCRIPTS[name]

    async def serve(request: Request) -> Response:
        if not path.is_file():
            raise HTTPError(
                404,
                f"{label} is not installed: run `make run` (it runs `npm ci`) or "
                "`npm ci --prefix gateway/player`, or install the gateway from its wheel",
            )
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    return Route(f"/player/{name}", serve, methods=["GET", "HEAD"], name=f"player_{label}")


routes = [
    Route("/player", player_page, methods=["GET", "HEAD"]),
    *(script(name) for name in SCRIPTS),
]
