"""``/metrics`` when authentication is on: API credentials (default), its own token, or open."""

from __future__ import annotations

import json

import pytest
from conftest import TEST_CATALOG
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import AuthSettings
from gateway.config import Settings


def _client(tmp_path, **env: str) -> TestClient:
    (tmp_path / "tokens.json").write_text(json.dumps({"api-token": ["tams-api/read"]}))
    settings = Settings(data_dir=tmp_path / "data", catalog=TEST_CATALOG)
    auth = AuthSettings.from_env({"TAMS_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json"), **env}, settings.data_dir)
    return TestClient(create_app(settings, auth=auth))


def _status(client: TestClient, token: str | None) -> int:
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {}).status_code


def test_metrics_need_api_credentials_by_default(tmp_path):
    with _client(tmp_path) as client:
        assert _status(client, None) == 401
        assert _status(client, "api-token") == 200


def test_metrics_behind_their_own_token(tmp_path):
    with _client(tmp_path, TAMS_METRICS_AUTH="token", TAMS_METRICS_TOKEN="scrape-me") as client:
        assert _status(client, None) == 401
        assert _status(client, "api-token") == 401
        assert _status(client, "scrape-me") == 200
        assert client.get("/flows", headers={"Authorization": "Bearer scrape-me"}).status_code == 401


def test_metrics_open_when_asked(tmp_path):
    with _client(tmp_path, TAMS_METRICS_AUTH="open") as client:
        assert _status(client, None) == 200
        assert client.get("/flows").status_code == 401


def test_metrics_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="TAMS_METRICS_AUTH"):
        AuthSettings.from_env({"TAMS_METRICS_AUTH": "sometimes"}, tmp_path)
    with pytest.raises(ValueError, match="TAMS_METRICS_TOKEN"):
        AuthSettings.from_env({"TAMS_METRICS_AUTH": "token"}, tmp_path)
