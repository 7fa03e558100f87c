"""Authentication and scopes through the real app: Basic, tokens, OAuth2 client credentials, OIDC."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from conftest import new_id, video_flow
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import READ, WRITE, AuthSettings, hash_password, verify_password


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"pw": hash_password("pw"), "secret": hash_password("s3cret")}


@pytest.fixture
def auth_env(tmp_path, hashes) -> dict[str, str]:
    users = {
        "admin": {"password_hash": hashes["pw"]},
        "reader": {"password_hash": hashes["pw"], "scopes": [READ]},
        "writer": {"password_hash": hashes["pw"], "scopes": [READ, WRITE]},
    }
    (tmp_path / "users.json").write_text(json.dumps(users))
    (tmp_path / "tokens.json").write_text(json.dumps({"tok-read": [READ], "tok-all": None}))
    (tmp_path / "clients.json").write_text(json.dumps({"ingest": {"secret_hash": hashes["secret"]}}))
    return {
        "TAMS_AUTH_USERS_FILE": str(tmp_path / "users.json"),
        "TAMS_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json"),
        "TAMS_AUTH_OAUTH2_CLIENTS_FILE": str(tmp_path / "clients.json"),
    }


@pytest.fixture
def secured(settings, auth_env):
    auth = AuthSettings.from_env(auth_env, settings.data_dir)
    with TestClient(create_app(settings, auth=auth)) as client:
        yield client


def test_password_hashing():
    hashed = hash_password("correct horse")
    assert hashed.startswith("scrypt$") and verify_password("correct horse", hashed)
    assert not verify_password("wrong", hashed) and not verify_password("x", "garbage")


def test_open_mode_needs_no_credentials(client):
    assert client.get("/flows", headers=basic("anyone", "x")).status_code == 200


def test_basic_auth(secured):
    response = secured.get("/flows")
    assert response.status_code == 401
    assert 'Basic realm="tams"' in response.headers["WWW-Authenticate"]
    assert set(response.json()) >= {"type", "summary", "time"}
    assert secured.head("/flows").status_code == 401 and secured.head("/flows").content == b""
    assert secured.get("/flows", headers=basic("admin", "nope")).status_code == 401
    assert secured.get("/flows", headers=basic("ghost", "pw")).status_code == 401
    assert secured.get("/flows", headers=basic("admin", "pw")).status_code == 200
    assert secured.get("/healthz").status_code == 200  # public


def test_scopes(secured):
    flow_id = new_id()
    body = video_flow(flow_id, new_id())
    assert secured.put(f"/flows/{flow_id}", json=body, headers=basic("reader", "pw")).status_code == 403
    response = secured.put(f"/flows/{flow_id}", json=body, headers=basic("writer", "pw"))
    assert response.status_code == 201 and response.json()["created_by"] == "writer"
    assert secured.put(f"/flows/{flow_id}/label", json="x", headers=basic("writer", "pw")).status_code == 204
    # deleting a property needs write; deleting a flow needs delete
    assert secured.delete(f"/flows/{flow_id}/label", headers=basic("writer", "pw")).status_code == 204
    assert secured.delete(f"/flows/{flow_id}", headers=basic("writer", "pw")).status_code == 403
    assert secured.post("/service", json={"name": "x"}, headers=basic("writer", "pw")).status_code == 403
    assert secured.post("/service", json={"name": "x"}, headers=basic("admin", "pw")).status_code == 200
    assert secured.delete(f"/flows/{flow_id}", headers=basic("admin", "pw")).status_code == 204


def test_static_tokens_in_header_and_query(secured):
    assert secured.get("/flows", headers={"Authorization": "Bearer tok-read"}).status_code == 200
    assert secured.get("/flows?access_token=tok-read").status_code == 200
    assert secured.get("/flows?access_token=nope").status_code == 401
    assert secured.post("/service", json={}, headers={"Authorization": "Bearer tok-read"}).status_code == 403
    assert secured.post("/service", json={}, headers={"Authorization": "Bearer tok-all"}).status_code == 200


def test_access_token_is_kept_in_link(secured):
    for _ in range(3):
        flow_id = new_id()
        secured.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()), headers=basic("admin", "pw"))
    response = secured.get("/flows?limit=1&access_token=tok-read")
    assert "access_token=tok-read" in response.headers["Link"]


def test_client_credentials_flow(secured, settings):
    creds = base64.b64encode(b"ingest:s3cret").decode()
    response = secured.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "tams-api/read tams-api/write"},
        headers={"Authorization": f"Basic {creds}"},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "Bearer" and response.json()["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {token}"}
    flow_id = new_id()
    assert secured.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()), headers=auth).status_code == 201
    assert secured.delete(f"/flows/{flow_id}", headers=auth).status_code == 403  # no delete scope
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert secured.get("/flows", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    secret = (settings.data_dir / "jwt-secret").read_bytes()
    expired = jwt.encode(
        {"iss": "tams-gateway", "sub": "ingest", "scope": "tams-api/read", "exp": int(time.time()) - 10},
        secret,
        algorithm="HS256",
    )
    assert secured.get("/flows", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    bad = secured.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"ingest:wrong").decode()},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    grant = secured.post("/oauth/token", data={"grant_type": "password"}, headers={"Authorization": f"Basic {creds}"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    form = secured.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "ingest", "client_secret": "s3cret"}
    )
    assert form.status_code == 200


def test_jwt_secret_file_is_private_and_reused(settings, auth_env):
    first = AuthSettings.from_env(auth_env, settings.data_dir).jwt_secret
    path = settings.data_dir / "jwt-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert AuthSettings.from_env(auth_env, settings.data_dir).jwt_secret == first


def test_bad_config_is_refused(tmp_path):
    (tmp_path / "u.json").write_text(json.dumps({"a": {"password_hash": "x", "scopes": ["nope"]}}))
    with pytest.raises(ValueError, match="unknown scopes"):
        AuthSettings.from_env({"TAMS_AUTH_USERS_FILE": str(tmp_path / "u.json")}, tmp_path)
    with pytest.raises(ValueError):
        AuthSettings.from_env({"TAMS_AUTH_USERS_FILE": str(tmp_path / "missing.json")}, tmp_path)


@pytest.fixture
def jwks_server():
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def test_external_oidc_tokens(settings, jwks_server):
    key, url = jwks_server
    env = {
        "TAMS_AUTH_OIDC_ISSUER": "https://idp.example",
        "TAMS_AUTH_OIDC_JWKS_URL": url,
        "TAMS_AUTH_OIDC_AUDIENCE": "tams",
    }
    auth = AuthSettings.from_env(env, settings.data_dir)

    def token(**claims: object) -> dict[str, str]:
        payload = {
            "iss": "https://idp.example",
            "aud": "tams",
            "sub": "svc",
            "scope": "tams-api/read",
            "exp": int(time.time()) + 60,
            **claims,
        }
        return {"Authorization": "Bearer " + jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})}

    with TestClient(create_app(settings, auth=auth)) as client:
        assert client.get("/flows", headers=token()).status_code == 200
        assert client.get("/flows", headers=token(aud="other")).status_code == 401
        assert client.get("/flows", headers=token(iss="https://evil.example")).status_code == 401
        assert client.post("/service", json={}, headers=token()).status_code == 403


def test_signed_store_urls_need_no_credentials(secured):
    auth = basic("admin", "pw")
    flow_id = new_id()
    secured.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()), headers=auth)
    (obj,) = secured.post(f"/flows/{flow_id}/storage", json={"limit": 1}, headers=auth).json()["media_objects"]
    put_url = obj["put_url"]["url"].split("//", 1)[1].split("/", 1)[1]
    assert secured.put("/" + put_url, content=b"bytes", headers={"Content-Type": "video/mp2t"}).status_code == 200
    assert (
        secured.post(
            f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}, headers=auth
        ).status_code
        == 201
    )
    url = secured.get(f"/flows/{flow_id}/segments", headers=auth).json()[0]["get_urls"][0]["url"]
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    assert secured.get(path).content == b"bytes"  # the signature is the credential
    assert secured.get(path.replace("signature=", "signature=x")).status_code == 403
    assert secured.get(f"/objects/{obj['object_id']}/content?mode=proxy").status_code == 401
    assert secured.get("/player").status_code == 200


def test_playlists_carry_the_access_token_to_gateway_urls(secured):
    auth = basic("admin", "pw")
    flow_id, source_id = new_id(), new_id()
    body = video_flow(flow_id, source_id)
    body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 30, "flags": 0}  # DASH needs codecs
    secured.put(f"/flows/{flow_id}", json=body, headers=auth)
    (obj,) = secured.post(f"/flows/{flow_id}/storage", json={"limit": 1}, headers=auth).json()["media_objects"]
    secured.put(
        "/" + obj["put_url"]["url"].split("//", 1)[1].split("/", 1)[1],
        content=b"ts",
        headers={"Content-Type": "video/mp2t"},
    )
    secured.post(
        f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}, headers=auth
    )
    text = secured.get(f"/flows/{flow_id}/playlist.m3u8?uris=proxy&timerange=[0:0_1:0)&access_token=tok-read").text
    uri = next(line for line in text.splitlines() if line.startswith("http"))
    assert "access_token=tok-read" in uri and "mode=proxy" in uri
    assert secured.get(uri.split("testserver", 1)[1]).content == b"ts"
    variants = secured.get(f"/sources/{source_id}/playlist.m3u8?access_token=tok-read").text
    assert all("access_token=tok-read" in line for line in variants.splitlines() if line.startswith("http"))
    mpd = secured.get(f"/flows/{flow_id}/manifest.mpd?uris=proxy&access_token=tok-read").text
    assert "&amp;access_token=tok-read" in mpd
