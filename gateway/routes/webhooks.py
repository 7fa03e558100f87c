"""``/service/webhooks``: registering webhooks (TAMS 8.2); delivery is ``streaming.events.webhooks``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog import models
from gateway import access, params, permissions
from gateway.errors import HTTPError
from gateway.responses import empty, json_response, paged_response, read_json
from gateway.routes.common import catalog, page_limit
from streaming.events.targets import check_target, key_header_problem


async def _validated(request: Request, doc: dict) -> dict:
    problem = key_header_problem(doc["api_key_name"]) if doc.get("api_key_name") else None
    if problem:
        raise HTTPError(400, problem)
    if any(c in str(doc.get("api_key_value", "")) for c in "\r\n\0"):
        raise HTTPError(400, "api_key_value may not contain CR, LF or NUL")
    problem = await asyncio.to_thread(check_target, doc["url"], request.app.state.webhook_settings.allow_private)
    if problem:
        raise HTTPError(400, f"webhook url refused: {problem}")
    return doc


async def list_webhooks(request: Request) -> Response:
    q = request.query_params
    reverse = bool(params.get_bool(q, "reverse_order", False))
    limit = page_limit(request)
    page = await catalog(request).list_webhooks(
        params.get_tag_filter(q), reverse, q.get("page"), limit, access.listing_filter(request)
    )
    items = [permissions.public_webhook(hook) for hook in page.items]
    return paged_response(request, items, page.next_key, limit, reverse=reverse)


async def create_webhook(request: Request) -> Response:
    doc = await _validated(request, models.validate_webhook(await read_json(request)))
    doc.pop("id", None)
    await permissions.prepare_webhook(request, doc, None)
    return json_response(permissions.public_webhook(await catalog(request).save_webhook(doc)), status=201)


async def get_webhook(request: Request) -> Response:
    webhook_id = params.path_uuid(request.path_params["webhookId"], "webhook")
    hook = await catalog(request).get_webhook(webhook_id)
    if hook is None:
        raise HTTPError(404, f"webhook {webhook_id} does not exist")
    return json_response(permissions.public_webhook(hook))


async def replace_webhook(request: Request) -> Response:
    webhook_id = params.path_uuid(request.path_params["webhookId"], "webhook")
    doc = await _validated(request, models.validate_webhook(await read_json(request), put=True))
    if doc.pop("id") != webhook_id:
        raise HTTPError(404, "the webhook id in the path does not match the body's id")
    await permissions.prepare_webhook(request, doc, await catalog(request).get_webhook(webhook_id))
    return json_response(permissions.public_webhook(await catalog(request).save_webhook(doc, webhook_id)), status=201)


async def delete_webhook(request: Request) -> Response:
    await catalog(request).delete_webhook(params.path_uuid(request.path_params["webhookId"], "webhook"))
    return empty()


routes = [
    Route("/service/webhooks", list_webhooks, methods=["GET", "HEAD"]),
    Route("/service/webhooks", create_webhook, methods=["POST"]),
    Route("/service/webhooks/{webhookId}", get_webhook, methods=["GET", "HEAD"]),
    Route("/service/webhooks/{webhookId}", replace_webhook, methods=["PUT"]),
    Route("/service/webhooks/{webhookId}", delete_webhook, methods=["DELETE"]),
]
