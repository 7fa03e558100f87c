"""Playlists for players: HLS media and multivariant playlists, DASH MPDs.

Query options: ``timerange``; ``uris`` (presigned, proxy, redirect); ``type`` (live or vod,
overriding the flow's state); HLS ``container=fmp4`` (fMP4 fragments whatever the flow's container).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import access, params, permissions
from gateway.auth import cache_control as private_if_authenticated
from gateway.errors import HTTPError
from gateway.responses import public_url
from gateway.routes.delivery import remux_service
from streaming.playback import dash as manifests
from streaming.playback import multivariant as variants
from streaming.playback.playlists import CONTAINERS, PLAYBACK_TYPES, URI_MODES, PlaylistService

HLS_TYPE = "application/vnd.apple.mpegurl"


def playlists(request: Request) -> PlaylistService:
    return request.app.state.playlists


def base_url(request: Request) -> str:
    url = public_url(request)
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"


async def hls_media_playlist(request: Request) -> Response:
    """An HLS media playlist of a flow: VOD or live by the flow's state (or ``?type=``)."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    q = request.query_params
    mode = permissions.playlist_uris(request, params.get_choice(q, "uris", URI_MODES))
    kind = params.get_choice(q, "type", PLAYBACK_TYPES)
    container = params.get_choice(q, "container", CONTAINERS)
    token = q.get("access_token")  # this client's token goes into the gateway URLs: its own text
    playlist = await playlists(request).media_playlist(
        flow_id,
        params.get_timerange(q),
        mode,
        base_url(request),
        gzip=not token and _accepts_gzip(request),
        kind=kind,
        container=container,
    )
    max_age = playlist.max_age_now()  # a cached playlist's URLs have aged: so has it
    cache = f"public, max-age={max_age}" if playlist.ended else f"max-age={max_age}"
    if token:
        return _conditional(request, _with_token(request, playlist.text).encode(), HLS_TYPE, cache)
    return _conditional(request, playlist.body, HLS_TYPE, cache, playlist.digest, playlist.encoding)


def _accepts_gzip(request: Request) -> bool:
    """Accept-Encoding names gzip (or ``*``) with a quality above zero."""
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, options = item.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = 1.0
        for option in options.split(";"):
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


async def hls_multivariant_playlist(request: Request) -> Response:
    """An HLS multivariant playlist of a source: video flows as variants, audio flows as renditions."""
    source_id = params.path_uuid(request.path_params["sourceId"], "source")
    q = request.query_params
    params.get_choice(q, "type", PLAYBACK_TYPES)  # checked here, used by each media playlist
    params.get_choice(q, "container", CONTAINERS)
    params.get_timerange(q)  # passed on: refused here rather than in every variant
    passed = ("timerange", "uris", "type", "container")
    extra = "&".join(f"{k}={quote(v, safe='[]():_')}" for k, v in q.items() if k in passed)
    template = f"{base_url(request)}/flows/{{flow_id}}/playlist.m3u8" + (f"?{extra}" if extra else "")
    text = await variants.multivariant(
        request.app.state.catalog,
        source_id,
        template,
        remux_service(request).track_codecs,
        access.listing_filter(request),
    )
    if text is None:
        raise HTTPError(404, f"source {source_id} has no audio or video flow with segments to play")
    return _conditional(request, _with_token(request, text).encode(), HLS_TYPE, "max-age=10")


DASH_TYPE = "application/dash+xml"


async def dash_flow_manifest(request: Request) -> Response:
    """A DASH MPD of a flow: static or dynamic by the flow's state (or ``?type=``); MPEG-TS remuxed to fMP4."""
    flow_id = params.path_uuid(request.path_params["flowId"], "flow")
    flow = await request.app.state.catalog.get_flow(flow_id)
    if flow is None:
        raise HTTPError(404, f"flow {flow_id} does not exist")
    return await _dash(request, [flow])


async def dash_source_manifest(request: Request) -> Response:
    """A DASH MPD of a source: an adaptation set for its video flows and one for its audio flows."""
    source_id = params.path_uuid(request.path_params["sourceId"], "source")
    flows = await variants.source_flows(request.app.state.catalog, source_id, access.listing_filter(request))
    return await _dash(request, flows)


async def _dash(request: Request, flows: list) -> Response:
    q = request.query_params
    try:
        text = await manifests.manifest(
            playlists(request),
            flows,
            params.get_timerange(q),
            permissions.playlist_uris(request, params.get_choice(q, "uris", URI_MODES)),
            base_url(request),
            params.get_choice(q, "type", PLAYBACK_TYPES),
            remux_service(request).track_codecs,
        )
    except manifests.CodecUnknown as exc:
        raise HTTPError(409, str(exc), "Conflict") from None
    return _conditional(request, _with_token(request, text, xml=True).encode(), DASH_TYPE, "max-age=2")


def _with_token(request: Request, text: str, xml: bool = False) -> str:
    """A client that authenticates with ?access_token= gets it on every gateway URL in the playlist, so
    a player can follow them (presigned store URLs carry their own signature and are left alone)."""
    token = request.query_params.get("access_token")
    if not token:
        return text
    base = re.escape(base_url(request))
    amp = "&amp;" if xml else "&"

    def add(match: re.Match) -> str:
        url = match.group(0)
        return f"{url}{amp if '?' in url else '?'}access_token={quote(token, safe='')}"

    return re.sub(base + r"/(?:flows|sources|objects)/[^\s\"<]*", add, text)


def _conditional(
    request: Request,
    body: bytes,
    media_type: str,
    cache_control: str,
    digest: str | None = None,
    encoding: str | None = None,
) -> Response:
    """A playlist or manifest with an ETag of its bytes (``digest``: their SHA-256, when known); If-None-Match → 304.

    Compressed and plain bodies differ, so do their ETags; ``Vary`` tells caches the choice is per client."""
    etag = '"' + (digest or hashlib.sha256(body).hexdigest())[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": private_if_authenticated(request, cache_control),
        "Vary": "Accept-Encoding",
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


routes = [
    Route("/flows/{flowId}/manifest.mpd", dash_flow_manifest, methods=["GET", "HEAD"]),
    Route("/sources/{sourceId}/manifest.mpd", dash_source_manifest, methods=["GET", "HEAD"]),
    Route("/sources/{sourceId}/playlist.m3u8", hls_multivariant_playlist, methods=["GET", "HEAD"]),
    Route("/flows/{flowId}/playlist.m3u8", hls_media_playlist, methods=["GET", "HEAD"]),
]
