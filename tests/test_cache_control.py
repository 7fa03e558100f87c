"""Answers to authenticated requests are never ``Cache-Control: public`` (a shared cache must not keep them)."""

from __future__ import annotations

import json

from conftest import TEST_CATALOG, new_id, video_flow
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import AuthSettings
from gateway.config import Settings

TOKEN = {"Authorization": "Bearer tok"}


def _vod(client: TestClient, headers: dict[str, str]) -> str:
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()), headers=headers)
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in range(0, 10, 2)]
    assert client.post(f"/flows/{flow_id}/segments", json=body, headers=headers).status_code == 201
    return f"/flows/{flow_id}/playlist.m3u8?timerange=[0:0_10:0)&uris=proxy"


def test_vod_playlists_are_private_when_authenticated(tmp_path):
    (tmp_path / "tokens.json").write_text(json.dumps({"tok": None}))
    settings = Settings(data_dir=tmp_path / "data", require_allocation=False, catalog=TEST_CATALOG)
    auth = AuthSettings.from_env({"TAMS_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json")}, settings.data_dir)
    with TestClient(create_app(settings, auth=auth)) as client:
        url = _vod(client, TOKEN)
        for response in (client.get(url, headers=TOKEN), client.get(f"{url}&access_token=tok")):
            cache = response.headers["cache-control"]
            assert response.status_code == 200 and cache.startswith("private, max-age=") and "public" not in cache


def test_vod_playlists_stay_public_on_an_open_gateway(client):
    cache = client.get(_vod(client, {})).headers["cache-control"]
    assert cache.startswith("public, max-age=")
