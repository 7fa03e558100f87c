"""Coarse scopes exactly as AppNote 0016's table: every row × each single-scope token → allowed or 403."""

from __future__ import annotations

import json

import pytest
from conftest import TEST_CATALOG, new_id
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import ADMIN, DELETE, READ, WRITE, AuthSettings
from gateway.config import Settings

EVERY = {READ, WRITE, DELETE, ADMIN}
X = new_id()  # an id in paths: the resources need not exist, only the scope decision is tested

# (method, path, scopes allowed): the AppNote's exceptions, then the basic mapping on a sample of paths
TABLE = [
    ("GET", "/", EVERY),
    ("HEAD", "/", EVERY),
    ("GET", "/service", EVERY),
    ("HEAD", "/service", EVERY),
    ("POST", "/service", {ADMIN}),
    ("GET", "/service/storage-backends", EVERY),
    ("HEAD", "/service/storage-backends", EVERY),
    ("GET", "/service/webhooks", {ADMIN, READ}),
    ("HEAD", "/service/webhooks", {ADMIN, READ}),
    ("GET", f"/service/webhooks/{X}", {ADMIN, READ}),
    ("POST", "/service/webhooks", {ADMIN, WRITE}),
    ("PUT", f"/service/webhooks/{X}", {ADMIN, READ}),
    ("DELETE", f"/service/webhooks/{X}", {ADMIN, READ}),
    *[("DELETE", f"/sources/{X}/{prop}", {ADMIN, WRITE}) for prop in ("tags/genre", "description", "label")],
    *[
        ("DELETE", f"/flows/{X}/{prop}", {ADMIN, WRITE})
        for prop in ("tags/genre", "description", "label", "flow_collection", "max_bit_rate", "avg_bit_rate")
    ],
    ("DELETE", f"/flows/{X}", {ADMIN, DELETE}),
    ("DELETE", f"/flows/{X}/segments", {ADMIN, DELETE}),
    ("POST", f"/objects/{X}/instances", {ADMIN, WRITE}),
    ("DELETE", f"/objects/{X}/instances", {ADMIN, WRITE}),
    ("GET", "/flow-delete-requests", {ADMIN}),
    ("HEAD", "/flow-delete-requests", {ADMIN}),
    ("GET", f"/flow-delete-requests/{X}", {ADMIN, DELETE}),
    ("HEAD", f"/flow-delete-requests/{X}", {ADMIN, DELETE}),
    # everything else: GET/HEAD read, PUT/POST write, DELETE delete
    ("GET", "/sources", {ADMIN, READ}),
    ("GET", f"/flows/{X}", {ADMIN, READ}),
    ("HEAD", f"/flows/{X}/segments", {ADMIN, READ}),
    ("GET", f"/objects/{X}", {ADMIN, READ}),
    ("PUT", f"/flows/{X}", {ADMIN, WRITE}),
    ("PUT", f"/flows/{X}/label", {ADMIN, WRITE}),
    ("PUT", f"/sources/{X}/tags/genre", {ADMIN, WRITE}),
    ("POST", f"/flows/{X}/segments", {ADMIN, WRITE}),
    ("POST", f"/flows/{X}/storage", {ADMIN, WRITE}),
]
TOKENS = {scope: f"token-{scope.split('/')[1]}" for scope in EVERY}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scopes")
    (tmp / "tokens.json").write_text(json.dumps({token: [scope] for scope, token in TOKENS.items()}))
    settings = Settings(data_dir=tmp / "data", require_allocation=False, catalog=TEST_CATALOG)
    auth = AuthSettings.from_env({"TAMS_AUTH_TOKENS_FILE": str(tmp / "tokens.json")}, settings.data_dir)
    with TestClient(create_app(settings, auth=auth)) as client:
        yield client


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = {"json": {}} if method in ("POST", "PUT") else {}
    return client.request(method, path, headers=headers, **body).status_code


@pytest.mark.parametrize(("method", "path", "allowed"), TABLE, ids=[f"{m} {p.replace(X, '{id}')}" for m, p, _ in TABLE])
def test_scope_table(secured, method, path, allowed):
    assert _call(secured, method, path, {}) == 401
    decided = {}
    for scope, token in TOKENS.items():
        status = _call(secured, method, path, {"Authorization": f"Bearer {token}"})
        assert status != 401, f"{scope} token refused as unauthenticated"
        decided[scope] = status != 403
    assert {scope for scope, ok in decided.items() if ok} == allowed, decided
