"""The root, /service, profiles, errors and HEAD handling."""

from __future__ import annotations

from conftest import new_id, video_flow
from spec import validate


def test_root_and_service(client):
    assert client.get("/").json() == ["service", "flows", "sources", "flow-delete-requests"]
    service = client.get("/service").json()
    validate("service.json", service)
    assert service["api_version"] == "8.2" and service["type"].startswith("urn:x-tams:service")
    assert client.post("/service", json={"name": "Studio", "description": "d", "type": "ignored"}).status_code == 200
    service = client.get("/service").json()
    assert service["name"] == "Studio" and service["description"] == "d"
    assert client.post("/service", json={"name": 5}).status_code == 400
    assert client.get("/service").json()["name"] == "Studio"


def test_profiles(client):
    profile_id = new_id()
    profile = {
        "id": profile_id,
        "label": "HD h264",
        "flow_metadata": {
            k: v
            for k, v in video_flow(new_id(), new_id(), avg_bit_rate=8000).items()
            if k in ("format", "codec", "container", "essence_parameters", "avg_bit_rate")
        },
    }
    response = client.post(f"/service/profiles/{profile_id}", json=profile)
    assert response.status_code == 201, response.text
    validate("profile.json", response.json())
    assert client.post(f"/service/profiles/{profile_id}", json=profile).status_code == 400
    assert client.post(f"/service/profiles/{new_id()}", json=profile).status_code == 404
    assert client.get(f"/service/profiles/{profile_id}").json()["label"] == "HD h264"
    assert client.get(f"/service/profiles/{new_id()}").status_code == 404
    assert [p["id"] for p in client.get("/service/profiles?format=urn:x-nmos:format:video").json()] == [profile_id]
    assert client.get("/service/profiles?format=urn:x-nmos:format:audio").json() == []
    # a flow made from the profile takes its technical metadata and locks avg_bit_rate
    flow_id = new_id()
    body = {"id": flow_id, "source_id": new_id(), "profile_id": profile_id, "label": "from profile"}
    response = client.put(f"/flows/{flow_id}", json=body)
    assert response.status_code == 201, response.text
    flow = response.json()
    validate("flow-get.json", flow)
    assert flow["codec"] == "video/h264" and flow["profile_id"] == profile_id
    assert client.put(f"/flows/{flow_id}/avg_bit_rate", json=1).status_code == 400
    assert client.get(f"/flows?profile_id={profile_id}").json()[0]["id"] == flow_id
    bad = {**body, "codec": "video/h264"}
    assert client.put(f"/flows/{flow_id}", json=bad).status_code == 400
    assert client.put(f"/flows/{new_id()}", json={**body, "id": None}).status_code in (400, 404)
    unknown = {"id": (other := new_id()), "source_id": new_id(), "profile_id": new_id()}
    assert client.put(f"/flows/{other}", json=unknown).status_code == 400


def test_errors_are_json(client):
    response = client.get("/no/such/route")
    assert response.status_code == 404
    validate("error.json", response.json())
    response = client.post("/sources")
    assert response.status_code == 405
    validate("error.json", response.json())
    response = client.get(f"/flows/{new_id()}")
    assert response.status_code == 404 and "does not exist" in response.json()["summary"]
    response = client.head(f"/flows/{new_id()}")
    assert response.status_code == 404 and response.content == b""


def test_oversize_body_refused(client, settings):
    flow_id = new_id()
    body = video_flow(flow_id, new_id(), description="x" * (settings.max_body_bytes + 10))
    response = client.put(f"/flows/{flow_id}", json=body)
    assert response.status_code == 413
    assert client.get(f"/flows/{flow_id}").status_code == 404


def test_content_type_is_not_required_and_get_with_json_header(client):
    flow_id = new_id()
    import orjson

    response = client.put(
        f"/flows/{flow_id}", content=orjson.dumps(video_flow(flow_id, new_id())), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201
    assert client.get("/flows", headers={"Content-Type": "application/json"}).status_code == 200


def test_head_mirrors_get(client):
    for path in ("/", "/service", "/flows", "/sources", "/service/profiles", "/openapi.json"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        for header in ("X-Paging-Limit", "X-Paging-Count"):
            assert head.headers.get(header) == get.headers.get(header)


def test_openapi_document_lists_every_route(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "put" in doc["paths"]["/flows/{flowId}"]
    assert "get" in doc["paths"]["/flows/{flowId}/segments"]
    assert "post" in doc["paths"]["/service/profiles/{profileId}"]


def test_cors_when_configured(settings):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from gateway.app import create_app

    with TestClient(create_app(replace(settings, cors_origins=("https://player.example",)))) as client:
        preflight = client.options(
            "/flows", headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://player.example"
        response = client.get("/flows", headers={"Origin": "https://player.example"})
        exposed = response.headers["access-control-expose-headers"]
        assert all(h in exposed for h in ("Link", "X-Paging-NextKey", "Content-Range", "ETag"))
        other = client.get("/flows", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
