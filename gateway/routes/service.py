"""``/``, ``/service`` and ``/service/profiles``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from catalog.vocabulary import FORMATS
from gateway import params
from gateway.responses import json_response, paged_response, read_json
from gateway.routes.common import catalog, page_limit, settings

SERVICE_TYPE = "urn:x-tams:service.tams-gateway"


async def root(request: Request) -> Response:
    return json_response(["service", "flows", "sources", "flow-delete-requests"])


async def get_service(request: Request) -> Response:
    from importlib.metadata import version

    stored = await catalog(request).get_service()
    body = {
        "type": SERVICE_TYPE,
        "api_version": "8.2",
        "service_version": f"tams-gateway {version('tams-gateway')}",
        "name": stored.get("name", settings(request).service_name),
        "min_object_timeout": f"{settings(request).object_timeout}:0",
        # presigned URLs live presign_expiry seconds; the spec caps the advertised minimum at the object timeout
        "min_presigned_url_timeout": f"{min(settings(request).presign_expiry, settings(request).object_timeout)}:0",
        "event_stream_mechanisms": [{"name": "webhooks", "docs": "https://github.com/bbc/tams"}],
    }
    if "description" in stored:
        body["description"] = stored["description"]
    return json_response(body)


async def post_service(request: Request) -> Response:
    changes = models.validate_service_post(await read_json(request))
    await catalog(request).update_service(changes)
    return await get_service(request)


async def list_profiles(request: Request) -> Response:
    q = request.query_params
    fmt = params.get_choice(q, "format", FORMATS)
    codec = params.get_mime(q, "codec")
    limit = page_limit(request)
    page = await catalog(request).list_profiles(fmt, codec, q.get("label"), q.get("page"), limit)
    return paged_response(request, page.items, page.next_key, limit, count=False)


async def get_profile(request: Request) -> Response:
    profile_id = params.path_uuid(request.path_params["profileId"], "profile")
    profile = await catalog(request).get_profile(profile_id)
    if profile is None:
        return _not_found(profile_id)
    return json_response(profile)


async def post_profile(request: Request) -> Response:
    profile_id = params.path_uuid(request.path_params["profileId"], "profile")
    doc = models.validate_profile(await read_json(request))
    if doc["id"] != profile_id:
        return _not_found(profile_id, "the profile id in the path does not match the body's id")
    created = await catalog(request).create_profile(doc)
    return json_response(created, status=201)


def _not_found(profile_id: str, why: str | None = None) -> Response:
    from gateway.errors import error_response

    return error_response(404, why or f"profile {profile_id} does not exist")


routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/service", get_service, methods=["GET", "HEAD"]),
    Route("/service", post_service, methods=["POST"]),
    Route("/service/profiles", list_profiles, methods=["GET", "HEAD"]),
    Route("/service/profiles/{profileId}", get_profile, methods=["GET", "HEAD"]),
    Route("/service/profiles/{profileId}", post_profile, methods=["POST"]),
]
