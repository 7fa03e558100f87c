"""Fine-grained permissions (auth_classes) through the real app, on the configured catalog store.

Groups: ``news`` and ``sport`` own their classes, ``sport_ro`` reads sport, ``archive`` writes its
own class and reads news and sport but nothing ``embargoed``. Every user holds every coarse scope
except admin, so what is refused here is refused by the policy, not by the scopes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import GatewayProcess, new_id, video_flow
from starlette.testclient import TestClient
from test_webhooks import Receiver, read_events

from gateway.app import create_app
from gateway.auth import DELETE, READ, WRITE, AuthSettings, hash_password

RWD = ["read", "write", "delete"]
POLICY = {
    "groups": {
        "news": {"news": RWD},
        "sport": {"sport": RWD, "sport_store": RWD},
        "sport_ro": {"sport": ["read"]},
        "archive": {"archive": ["read", "write"], "news": ["read"], "sport": ["read"]},
    },
    "deny": {"archive": {"embargoed": RWD}},
    "defaults": {"news": ["news"], "sport": ["sport"], "archive": ["archive"]},
}
OPEN_STORE, SPORT_STORE = str(uuid.uuid4()), str(uuid.uuid4())
USERS = {"admin": None, "news": ["news"], "sport": ["sport"], "sportro": ["sport_ro"], "archive": ["archive"]}


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password("pw")


def write_config(directory: Path, password_hash: str) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    users = {
        name: {
            "password_hash": password_hash,
            **({"groups": groups, "scopes": [READ, WRITE, DELETE]} if groups else {}),
        }
        for name, groups in USERS.items()
    }
    (directory / "users.json").write_text(json.dumps(users))
    (directory / "policy.json").write_text(json.dumps(POLICY))
    backends = [
        {"type": "local", "id": OPEN_STORE, "label": "open", "path": "objects-open", "default": True},
        {
            "type": "local",
            "id": SPORT_STORE,
            "label": "sport",
            "path": "objects-sport",
            "tags": {"auth_classes": ["sport_store"]},
        },
    ]
    (directory / "storage.json").write_text(json.dumps({"backends": backends}))
    return {
        "TAMS_AUTH_USERS_FILE": str(directory / "users.json"),
        "TAMS_AUTHZ_POLICY_FILE": str(directory / "policy.json"),
        "TAMS_STORAGE_CONFIG": str(directory / "storage.json"),
    }


@pytest.fixture
def api(settings, tmp_path, password_hash) -> Iterator[TestClient]:
    env = write_config(tmp_path / "config", password_hash)
    configured = settings.with_overrides(
        authz_policy_file=Path(env["TAMS_AUTHZ_POLICY_FILE"]),
        storage_config=Path(env["TAMS_STORAGE_CONFIG"]),
        webhooks_allow_private=True,
    )
    auth = AuthSettings.from_env(env, settings.data_dir)
    with TestClient(create_app(configured, auth=auth), base_url="http://testserver") as client:
        yield client


def put_flow(api: TestClient, user: str, classes: list[str] | None, source_id: str | None = None) -> str:
    flow_id = new_id()
    tags = {"auth_classes": classes} if classes is not None else {}
    body = video_flow(flow_id, source_id or new_id(), tags=tags)
    response = api.put(f"/flows/{flow_id}", json=body, headers=basic(user))
    assert response.status_code == 201, response.text
    return flow_id


def register(api: TestClient, user: str, flow_id: str, object_id: str, start: int = 0) -> httpx.Response:
    segment = {"object_id": object_id, "timerange": f"[{start}:0_{start + 2}:0)"}
    return api.post(f"/flows/{flow_id}/segments", json=segment, headers=basic(user))


def test_news_can_neither_see_nor_guess_sport(api):
    sport = put_flow(api, "sport", ["sport"])
    news = put_flow(api, "news", ["news"])
    object_id = new_id()
    assert register(api, "sport", sport, object_id).status_code == 201
    sport_source = api.get(f"/flows/{sport}", headers=basic("sport")).json()["source_id"]

    listed = api.get("/flows", headers=basic("news"))
    assert [f["id"] for f in listed.json()] == [news] and listed.headers["X-Paging-Count"] == "1"
    widened = api.get("/flows?tag.auth_classes=sport,news", headers=basic("news")).json()
    assert [f["id"] for f in widened] == [news]
    assert sport_source not in {s["id"] for s in api.get("/sources", headers=basic("news")).json()}
    nowhere = new_id()
    for hidden, missing in ((f"/flows/{sport}", f"/flows/{nowhere}"), (f"/objects/{object_id}", f"/objects/{nowhere}")):
        refused, absent = api.get(hidden, headers=basic("news")), api.get(missing, headers=basic("news"))
        assert refused.status_code == absent.status_code == 404
        assert refused.json()["summary"].replace(sport, nowhere).replace(object_id, nowhere) == absent.json()["summary"]
    for path in (
        f"/flows/{sport}",
        f"/flows/{sport}/segments",
        f"/flows/{sport}/tags",
        f"/flows/{sport}/label",
        f"/flows/{sport}/playlist.m3u8",
        f"/flows/{sport}/manifest.mpd",
        f"/sources/{sport_source}",
        f"/sources/{sport_source}/tags",
        f"/objects/{object_id}",
        f"/objects/{object_id}/content",
    ):
        assert api.get(path, headers=basic("news")).status_code == 404, path
    # writes and deletes look the same as on a flow that does not exist
    assert api.put(f"/flows/{sport}/label", json="mine", headers=basic("news")).status_code == 404
    assert api.delete(f"/flows/{sport}", headers=basic("news")).status_code == 404
    assert register(api, "news", sport, new_id()).status_code == 404
    # the owner and the admin still see it all
    assert api.get(f"/flows/{sport}", headers=basic("sport")).status_code == 200
    assert {f["id"] for f in api.get("/flows", headers=basic("admin")).json()} == {sport, news}


def test_read_only_group_reads_and_gets_403_on_writes(api):
    sport = put_flow(api, "sport", ["sport"])
    assert register(api, "sport", sport, new_id()).status_code == 201
    ro = basic("sportro")
    assert api.get(f"/flows/{sport}", headers=ro).status_code == 200
    assert len(api.get(f"/flows/{sport}/segments", headers=ro).json()) == 1
    assert api.get(f"/flows/{sport}/playlist.m3u8", headers=ro).status_code == 200
    assert api.put(f"/flows/{sport}/label", json="x", headers=ro).status_code == 403
    assert api.delete(f"/flows/{sport}/label", headers=ro).status_code == 403
    assert api.put(f"/flows/{sport}", json=video_flow(sport, new_id()), headers=ro).status_code == 403
    assert register(api, "sportro", sport, new_id(), 10).status_code == 403
    assert api.delete(f"/flows/{sport}/segments", headers=ro).status_code == 403
    assert api.delete(f"/flows/{sport}", headers=ro).status_code == 403
    assert api.get(f"/flows/{sport}", headers=ro).status_code == 200  # still there


def test_creation_defaults_and_propagation_to_a_new_source(api):
    flow_id = put_flow(api, "news", None)
    flow = api.get(f"/flows/{flow_id}", headers=basic("news")).json()
    assert flow["tags"]["auth_classes"] == ["news"]
    source = api.get(f"/sources/{flow['source_id']}", headers=basic("news")).json()
    assert source["tags"]["auth_classes"] == ["news"]
    # a second flow on that source takes the source's classes; another group cannot add one to it
    second = put_flow(api, "news", None, flow["source_id"])
    assert api.get(f"/flows/{second}", headers=basic("news")).json()["tags"]["auth_classes"] == ["news"]
    third = new_id()
    on_news_source = video_flow(third, flow["source_id"], tags={"auth_classes": ["sport"]})
    assert api.put(f"/flows/{third}", json=on_news_source, headers=basic("sport")).status_code == 404
    # nobody creates a flow in classes it does not hold
    other = new_id()
    asked = video_flow(other, new_id(), tags={"auth_classes": ["sport"]})
    assert api.put(f"/flows/{other}", json=asked, headers=basic("news")).status_code == 403
    assert api.get(f"/flows/{other}", headers=basic("admin")).status_code == 404


def test_nobody_raises_their_own_auth_classes(api):
    news = put_flow(api, "news", ["news"])
    n = basic("news")
    assert api.put(f"/flows/{news}/tags/auth_classes", json=["news", "sport"], headers=n).status_code == 403
    replaced = video_flow(news, api.get(f"/flows/{news}", headers=n).json()["source_id"])
    replaced["tags"] = {"auth_classes": ["sport"]}
    assert api.put(f"/flows/{news}", json=replaced, headers=n).status_code == 403
    # a PUT without auth_classes keeps the flow's classes
    del replaced["tags"]
    assert api.put(f"/flows/{news}", json=replaced, headers=n).status_code == 204
    assert api.get(f"/flows/{news}/tags/auth_classes", headers=n).json() == ["news"]
    # the archive reads news but cannot reclassify it, nor lift an embargo it is denied
    assert api.put(f"/flows/{news}/tags/auth_classes", json=["archive"], headers=basic("archive")).status_code == 403
    asked = video_flow(new_id(), new_id(), tags={"auth_classes": ["news", "embargoed"]})
    assert api.put(f"/flows/{asked['id']}", json=asked, headers=n).status_code == 403  # nobody grants it embargoed
    # the admin can, and then the archive no longer sees it
    assert (
        api.put(f"/flows/{news}/tags/auth_classes", json=["news", "embargoed"], headers=basic("admin")).status_code
        == 204
    )
    assert api.get(f"/flows/{news}", headers=basic("archive")).status_code == 404
    assert api.get(f"/flows/{news}", headers=n).status_code == 200
    source_id = api.get(f"/flows/{news}", headers=n).json()["source_id"]
    assert api.put(f"/sources/{source_id}/tags/auth_classes", json=["sport"], headers=n).status_code == 403
    assert api.delete(f"/sources/{source_id}/tags/auth_classes", headers=n).status_code == 204  # lowers only


def test_adoption_of_an_unreadable_object_is_refused(api):
    sport = put_flow(api, "sport", ["sport"])
    news = put_flow(api, "news", ["news"])
    object_id = new_id()
    assert register(api, "sport", sport, object_id).status_code == 201
    assert register(api, "news", news, object_id).status_code == 403
    batch = [{"object_id": object_id, "timerange": "[0:0_2:0)"}, {"object_id": new_id(), "timerange": "[2:0_4:0)"}]
    answer = api.post(f"/flows/{news}/segments", json=batch, headers=basic("news"))
    assert answer.status_code == 200 and [f["object_id"] for f in answer.json()["failed_segments"]] == [object_id]
    assert len(api.get(f"/flows/{news}/segments", headers=basic("news")).json()) == 1
    # a reader of the sport flow may reuse it; its objects list only the flows the caller can read
    archive = put_flow(api, "archive", None)
    assert register(api, "archive", archive, object_id).status_code == 201
    seen = api.get(f"/objects/{object_id}", headers=basic("archive")).json()
    assert sorted(seen["referenced_by_flows"]) == sorted([sport, archive])
    seen = api.get(f"/objects/{object_id}", headers=basic("sport")).json()
    assert seen["referenced_by_flows"] == [sport]


def _allocate(api: TestClient, user: str, flow_id: str, storage_id: str) -> httpx.Response:
    return api.post(f"/flows/{flow_id}/storage", json={"limit": 1, "storage_id": storage_id}, headers=basic(user))


def test_get_urls_and_backends_follow_backend_permissions(api):
    sport = put_flow(api, "sport", ["sport"])
    allocated = _allocate(api, "sport", sport, SPORT_STORE)
    assert allocated.status_code == 201, allocated.text
    media_object = allocated.json()["media_objects"][0]
    object_id = media_object["object_id"]
    put_url = httpx.URL(media_object["put_url"]["url"])
    headers = {"Content-Type": media_object["put_url"]["content-type"]}
    assert api.put(put_url.raw_path.decode(), content=b"\x47" * 188, headers=headers).status_code == 200
    assert register(api, "sport", sport, object_id).status_code == 201
    copy = {"storage_id": OPEN_STORE}
    assert api.post(f"/objects/{object_id}/instances", json=copy, headers=basic("sportro")).status_code == 403
    assert api.post(f"/objects/{object_id}/instances", json=copy, headers=basic("sport")).status_code == 201

    def labels(user: str) -> list[str]:
        segments = api.get(f"/flows/{sport}/segments", headers=basic(user)).json()
        return sorted(u["label"] for u in segments[0]["get_urls"])

    assert "sport" in labels("sport")
    assert labels("archive") == ["open"]  # the archive reads the flow, not the sport backend
    # nor does it get presigned backend URLs in playlists, or redirects to them: the gateway proxies
    assert "/_store/" in api.get(f"/flows/{sport}/playlist.m3u8", headers=basic("sport")).text
    playlist = api.get(f"/flows/{sport}/playlist.m3u8", headers=basic("archive")).text
    assert "/_store/" not in playlist and f"/objects/{object_id}/content" in playlist
    content = f"/objects/{object_id}/content"
    assert api.get(content, headers=basic("sport"), follow_redirects=False).status_code == 302
    proxied = api.get(content, headers=basic("archive"), follow_redirects=False)
    assert proxied.status_code == 200 and proxied.content == b"\x47" * 188
    assert [b["label"] for b in api.get("/service/storage-backends", headers=basic("news")).json()] == ["open"]
    assert {b["label"] for b in api.get("/service/storage-backends", headers=basic("sport")).json()} == {
        "open",
        "sport",
    }
    news = put_flow(api, "news", ["news"])
    assert _allocate(api, "news", news, SPORT_STORE).status_code == 404
    assert _allocate(api, "news", news, OPEN_STORE).status_code == 201


def test_webhooks_are_listed_and_created_by_permission(api):
    sport = put_flow(api, "sport", ["sport"])
    hook = {"url": "http://127.0.0.1:9/hook", "api_key_name": "k", "events": ["flows/updated"]}
    assert api.post("/service/webhooks", json={**hook, "flow_ids": [sport]}, headers=basic("news")).status_code == 404
    made = api.post("/service/webhooks", json=hook, headers=basic("news"))
    assert made.status_code == 201, made.text
    assert made.json()["tags"]["auth_classes"] == ["news"] and "gateway_owner" not in made.json()
    assert [h["id"] for h in api.get("/service/webhooks", headers=basic("news")).json()] == [made.json()["id"]]
    assert api.get("/service/webhooks", headers=basic("sport")).json() == []
    assert api.get(f"/service/webhooks/{made.json()['id']}", headers=basic("sport")).status_code == 404
    assert api.delete(f"/service/webhooks/{made.json()['id']}", headers=basic("sport")).status_code == 404


@pytest.mark.slow
def test_webhooks_and_the_event_stream_deliver_only_readable_events(tmp_path, password_hash):
    env = write_config(tmp_path / "config", password_hash)
    receiver = Receiver()
    gateway = GatewayProcess(tmp_path / "data", env={**env, "TAMS_WEBHOOKS_ALLOW_PRIVATE": "true"})
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            hook = {"url": receiver.url, "api_key_name": "k", "events": ["flows/updated"]}
            assert http.post("/service/webhooks", json=hook, headers=basic("news")).status_code == 201
            news = put_flow_http(http, "news", ["news"])
            sport = put_flow_http(http, "sport", ["sport"])
            with http.stream("GET", "/events?events=flows/updated", headers=basic("news")) as stream:
                for n in range(2):
                    assert http.put(f"/flows/{sport}/label", json=f"s{n}", headers=basic("sport")).status_code == 204
                    assert http.put(f"/flows/{news}/label", json=f"n{n}", headers=basic("news")).status_code == 204
                seen = read_events(stream, 2)
            assert [e["data"]["flow"]["id"] for e in seen] == [news, news]
            events = receiver.wait(2)
            # the sport events came before the second news one, so a delivered one would be in these two
            assert [e["event"]["flow"]["id"] for e in events] == [news, news]
    finally:
        gateway.stop()
        receiver.server.shutdown()


def put_flow_http(http: httpx.Client, user: str, classes: list[str]) -> str:
    flow_id = new_id()
    body = video_flow(flow_id, new_id(), tags={"auth_classes": classes})
    assert http.put(f"/flows/{flow_id}", json=body, headers=basic(user)).status_code == 201
    return flow_id


def test_source_playlists_list_only_readable_flows(api):
    admin = basic("admin")
    news = put_flow(api, "admin", ["news"])
    source_id = api.get(f"/flows/{news}", headers=admin).json()["source_id"]
    sport = put_flow(api, "admin", ["sport"], source_id)
    for flow_id in (news, sport):
        assert register(api, "admin", flow_id, new_id()).status_code == 201
    both = api.get(f"/sources/{source_id}/playlist.m3u8", headers=admin).text
    assert news in both and sport in both
    mine = api.get(f"/sources/{source_id}/playlist.m3u8", headers=basic("news")).text
    assert news in mine and sport not in mine
    mpd = api.get(f"/sources/{source_id}/manifest.mpd", headers=basic("news"))
    assert mpd.status_code in (200, 409) and sport not in mpd.text
    assert [f["id"] for f in api.get(f"/flows?source_id={source_id}", headers=basic("news")).json()] == [news]


def test_flow_delete_requests_need_delete_on_their_flow(api):
    sport = put_flow(api, "sport", ["sport"])
    batch = [{"object_id": new_id(), "timerange": f"[{2 * i}:0_{2 * i + 2}:0)"} for i in range(3)]
    assert api.post(f"/flows/{sport}/segments", json=batch, headers=basic("sport")).status_code == 201
    deletion = api.app.state.media.deletion  # more than one segment: a deletion request, not a delete now
    deletion.settings = dataclasses.replace(deletion.settings, sync_delete_limit=1)
    answer = api.delete(f"/flows/{sport}/segments", headers=basic("sport"))
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["id"]
    assert api.get(f"/flow-delete-requests/{request_id}", headers=basic("sportro")).status_code == 403
    assert api.get(f"/flow-delete-requests/{request_id}", headers=basic("news")).status_code == 404
    assert api.get(f"/flow-delete-requests/{request_id}", headers=basic("sport")).status_code == 200


def test_groups_come_from_tokens_and_jwt_claims(settings, tmp_path, password_hash):
    env = write_config(tmp_path / "config", password_hash)
    (tmp_path / "tokens.json").write_text(
        json.dumps({"tok-news": {"scopes": [READ, WRITE, DELETE], "groups": ["news"]}, "tok-plain": [READ]})
    )
    clients = {"sport-ingest": {"secret_hash": password_hash, "scopes": [READ, WRITE], "groups": ["sport"]}}
    (tmp_path / "clients.json").write_text(json.dumps(clients))
    env |= {
        "TAMS_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json"),
        "TAMS_AUTH_OAUTH2_CLIENTS_FILE": str(tmp_path / "clients.json"),
    }
    configured = settings.with_overrides(authz_policy_file=Path(env["TAMS_AUTHZ_POLICY_FILE"]))
    with TestClient(create_app(configured, auth=AuthSettings.from_env(env, settings.data_dir))) as client:
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "sport-ingest", "client_secret": "pw"},
        ).json()["access_token"]
        jwt_sport = {"Authorization": f"Bearer {token}"}
        sport = new_id()
        made = client.put(f"/flows/{sport}", json=video_flow(sport, new_id()), headers=jwt_sport)
        assert made.status_code == 201 and made.json()["tags"]["auth_classes"] == ["sport"]
        news = new_id()
        assert (
            client.put(
                f"/flows/{news}", json=video_flow(news, new_id()), headers={"Authorization": "Bearer tok-news"}
            ).status_code
            == 201
        )
        assert [f["id"] for f in client.get("/flows", headers={"Authorization": "Bearer tok-news"}).json()] == [news]
        assert [f["id"] for f in client.get("/flows", headers=jwt_sport).json()] == [sport]
        assert client.get("/flows", headers={"Authorization": "Bearer tok-plain"}).json() == []  # no groups


@pytest.mark.slow
def test_event_get_urls_name_only_backends_the_owner_may_read(tmp_path, password_hash):
    env = write_config(tmp_path / "config", password_hash)
    receivers = {"sport": Receiver(), "archive": Receiver()}
    gateway = GatewayProcess(tmp_path / "data", env={**env, "TAMS_WEBHOOKS_ALLOW_PRIVATE": "true"})
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            for user, receiver in receivers.items():
                hook = {"url": receiver.url, "api_key_name": "k", "events": ["flows/segments_added"]}
                assert http.post("/service/webhooks", json=hook, headers=basic(user)).status_code == 201
            sport = put_flow_http(http, "sport", ["sport"])
            allocated = http.post(
                f"/flows/{sport}/storage", json={"limit": 1, "storage_id": SPORT_STORE}, headers=basic("sport")
            ).json()["media_objects"][0]
            put = allocated["put_url"]
            assert (
                http.put(put["url"], content=b"\x47" * 188, headers={"Content-Type": put["content-type"]}).status_code
                == 200
            )
            segment = {"object_id": allocated["object_id"], "timerange": "[0:0_2:0)"}
            assert http.post(f"/flows/{sport}/segments", json=segment, headers=basic("sport")).status_code == 201
            from_start = {**basic("archive"), "Last-Event-ID": "0"}
            with http.stream("GET", "/events?events=flows/segments_added", headers=from_start) as stream:
                (streamed,) = read_events(stream, 1)
            assert streamed["data"]["segments"][0]["get_urls"] == []
            labels = {
                user: [u["label"] for u in r.wait(1)[0]["event"]["segments"][0]["get_urls"]]
                for user, r in receivers.items()
            }
            assert labels == {"sport": ["sport"], "archive": []}
    finally:
        gateway.stop()
        for receiver in receivers.values():
            receiver.server.shutdown()


def test_a_collection_cannot_probe_for_hidden_flows(api):
    sport = put_flow(api, "sport", ["sport"])
    news = put_flow(api, "news", ["news"])
    n = basic("news")
    hidden = api.put(f"/flows/{news}/flow_collection", json=[{"id": sport, "role": "x"}], headers=n)
    missing = api.put(f"/flows/{news}/flow_collection", json=[{"id": new_id(), "role": "x"}], headers=n)
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["summary"].split(":")[0] == missing.json()["summary"].split(":")[0]
    body = api.get(f"/flows/{news}", headers=n).json()
    body["flow_collection"] = [{"id": sport, "role": "x"}]
    assert api.put(f"/flows/{news}", json=body, headers=n).status_code == 400
    assert "collected_by" not in api.get(f"/flows/{sport}", headers=basic("sport")).json()
