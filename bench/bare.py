"""The reference for HTTP figures: a bare Starlette app on the gateway's uvicorn, serving fixed bodies.

    python -m bench.bare --port N --body /flows/<id>/segments=<file> [--body ...]

One route, ``/flows/{flowId}/segments``, answers the body given for that path (the bytes the gateway
answered for the same request, fetched once by bench/load.py) with ``application/json``; the query
string is ignored. uvicorn runs as ``tams-gateway serve`` runs it (one worker, the same flags), so
the ratio gateway / bare is the share of the server's ceiling that the gateway's own work leaves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def app_for(bodies: dict[str, bytes]) -> Starlette:
    async def segments(request: Request) -> Response:
        return Response(bodies.get(request.url.path, b"[]"), media_type="application/json")

    return Starlette(routes=[Route("/flows/{flowId}/segments", segments, methods=["GET", "HEAD"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", action="append", default=[], help="PATH=FILE: answer FILE's bytes for PATH")
    args = parser.parse_args()
    bodies = {}
    for item in args.body:
        path, _, file = item.partition("=")
        bodies[path] = Path(file).read_bytes()
    # the flags gateway/cli.py gives uvicorn (one worker; uvloop and httptools when installed)
    uvicorn.run(
        app_for(bodies), host="127.0.0.1", port=args.port, log_level="warning", access_log=False, proxy_headers=True
    )


if __name__ == "__main__":
    main()
