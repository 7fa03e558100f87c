"""Flows and sources: PUT semantics, property endpoints, collections, filters, sorting, paging."""

from __future__ import annotations

from conftest import audio_flow, new_id, video_flow
from spec import example, validate, validate_each


def put(client, body):
    return client.put(f"/flows/{body['id']}", json=body)


def test_put_creates_flow_and_source_then_updates(client):
    flow_id, source_id = new_id(), new_id()
    response = put(client, video_flow(flow_id, source_id, label="cam 1", tags={"a": "b"}))
    assert response.status_code == 201
    created = response.json()
    validate("flow-get.json", created)
    assert created["created"] and created["metadata_updated"] and created["metadata_version"]
    source = client.get(f"/sources/{source_id}")
    assert source.status_code == 200
    validate("source.json", source.json())
    assert source.json()["format"] == "urn:x-nmos:format:video"
    response = put(client, video_flow(flow_id, source_id, label="cam 1b"))
    assert response.status_code == 204
    flow = client.get(f"/flows/{flow_id}").json()
    assert flow["label"] == "cam 1b" and flow["tags"] == {}  # tags replaced wholesale
    assert flow["created"] == created["created"]
    assert flow["metadata_version"] != created["metadata_version"]


def test_put_ignores_server_fields_and_checks_ids(client):
    flow_id = new_id()
    body = video_flow(flow_id, new_id(), timerange="[0:0_1:0)", created="2000-01-01T00:00:00Z", extra="x")
    created = put(client, body).json()
    assert "timerange" not in created and created["created"] != "2000-01-01T00:00:00Z" and "extra" not in created
    assert client.put(f"/flows/{new_id()}", json=video_flow(flow_id, new_id())).status_code == 404
    assert client.put("/flows/NOT-A-UUID", json=video_flow(flow_id, new_id())).status_code == 404


def test_spec_examples_are_accepted(client):
    for name in (
        "flow-put.json",
        "flow-get-200-video-h264.json",
        "flow-get-200-audio-aac.json",
        "flow-get-200-data-ttml.json",
        "flow-get-200-image-jpeg.json",
        "flow-get-200-video-h264-vfr.json",
    ):
        body = example(name)
        body.pop("flow_collection", None)
        response = client.put(f"/flows/{body['id']}", json=body)
        assert response.status_code in (201, 204), (name, response.text)
        validate("flow-get.json", client.get(f"/flows/{body['id']}").json())


def test_invalid_bodies_are_400_and_change_nothing(client):
    flow_id = new_id()
    bad_bodies = [
        {**video_flow(flow_id, new_id()), "essence_parameters": {"frame_width": 1920}},
        {**video_flow(flow_id, new_id()), "codec": "not a mime"},
        {
            **video_flow(flow_id, new_id()),
            "essence_parameters": {"frame_width": 1, "frame_height": 1, "vfr": True, "frame_rate": {"numerator": 25}},
        },
        {**video_flow(flow_id, new_id()), "source_id": "NOT-A-UUID"},
        {**video_flow(flow_id, new_id()), "max_bit_rate": -1},
        {**video_flow(flow_id, new_id()), "label": 5},
    ]
    for body in bad_bodies:
        response = put(client, body)
        assert response.status_code == 400, body
        validate("error.json", response.json())
    assert client.put(f"/flows/{flow_id}", content=b"{not json").status_code == 400
    assert client.get(f"/flows/{flow_id}").status_code == 404
    assert client.get("/sources").json() == []


def test_format_conflicts_are_400(client):
    flow_id, source_id = new_id(), new_id()
    put(client, video_flow(flow_id, source_id))
    assert put(client, audio_flow(flow_id, source_id)).status_code == 400
    assert put(client, audio_flow(new_id(), source_id)).status_code == 400


def test_read_only_blocks_writes_but_not_read_only_itself(client):
    flow_id = new_id()
    put(client, video_flow(flow_id, new_id()))
    assert client.put(f"/flows/{flow_id}/read_only", json=True).status_code == 204
    assert client.get(f"/flows/{flow_id}/read_only").json() is True
    assert put(client, video_flow(flow_id, new_id())).status_code == 403
    assert client.put(f"/flows/{flow_id}/label", json="x").status_code == 403
    assert client.put(f"/flows/{flow_id}/tags/a", json="b").status_code == 403
    assert client.delete(f"/flows/{flow_id}").status_code == 403
    assert client.put(f"/flows/{flow_id}/read_only", json=True).status_code == 204
    assert client.put(f"/flows/{flow_id}/read_only", json="yes").status_code == 400
    assert client.put(f"/flows/{flow_id}/read_only", json=False).status_code == 204
    assert client.put(f"/flows/{flow_id}/label", json="x").status_code == 204


def test_property_endpoints(client):
    flow_id, source_id = new_id(), new_id()
    put(client, video_flow(flow_id, source_id))
    for prefix in (f"/flows/{flow_id}", f"/sources/{source_id}"):
        unset = client.get(f"{prefix}/label")  # the spec's 200 is a string: unset is a 404, not null
        assert unset.status_code == 404 and unset.json()["type"] == "NotFound"
        assert client.put(f"{prefix}/label", json="L").status_code == 204
        assert client.get(f"{prefix}/label").json() == "L"
        assert client.put(f"{prefix}/description", json="D").status_code == 204
        assert client.get(f"{prefix}/description").json() == "D"
        assert client.delete(f"{prefix}/description").status_code == 204
        assert client.get(f"{prefix}/description").status_code == 404
        assert client.put(f"{prefix}/label", content=b"news").status_code == 400
        assert client.put(f"{prefix}/label", json=["a"]).status_code == 400
        assert client.put(f"{prefix}/tags/genre", json=["news", "sport"]).status_code == 204
        assert client.get(f"{prefix}/tags/genre").json() == ["news", "sport"]
        assert client.get(f"{prefix}/tags").json() == {"genre": ["news", "sport"]}
        validate("tags.json", client.get(f"{prefix}/tags").json())
        assert client.get(f"{prefix}/tags/missing").status_code == 404
        assert client.delete(f"{prefix}/tags/missing").status_code == 404
        assert client.delete(f"{prefix}/tags/genre").status_code == 204
        assert client.put(f"{prefix}/tags/n", json=5).status_code == 400
    for name in ("max_bit_rate", "avg_bit_rate"):
        assert client.put(f"/flows/{flow_id}/{name}", json=5000).status_code == 204
        assert client.get(f"/flows/{flow_id}/{name}").json() == 5000
        assert client.put(f"/flows/{flow_id}/{name}", json=-1).status_code == 400
        assert client.put(f"/flows/{flow_id}/{name}", json=True).status_code == 400
        assert client.delete(f"/flows/{flow_id}/{name}").status_code == 204
        assert client.get(f"/flows/{flow_id}/{name}").status_code == 404
    missing = new_id()
    assert client.get(f"/flows/{missing}/label").status_code == 404
    assert client.put(f"/flows/{missing}/label", json="x").status_code == 404
    assert client.get(f"/sources/{missing}/tags").status_code == 404
    assert client.post(f"/flows/{flow_id}/label", json="x").status_code == 405


def test_flow_collections_and_collected_by(client):
    source = new_id()
    parent, video, audio = new_id(), new_id(), new_id()
    put(client, video_flow(video, new_id()))
    put(client, audio_flow(audio, new_id()))
    multi = {
        "id": parent,
        "source_id": source,
        "format": "urn:x-nmos:format:multi",
        "flow_collection": [{"id": video, "role": "video"}, {"id": audio, "role": "audio"}],
    }
    assert put(client, multi).status_code == 201
    assert client.get(f"/flows/{parent}/flow_collection").json() == multi["flow_collection"]
    validate("flow-collection.json", client.get(f"/flows/{parent}/flow_collection").json())
    assert client.get(f"/flows/{video}").json()["collected_by"] == [parent]
    src = client.get(f"/sources/{source}").json()
    assert {item["role"] for item in src["source_collection"]} == {"video", "audio"}
    child_source = client.get(f"/flows/{video}").json()["source_id"]
    assert client.get(f"/sources/{child_source}").json()["collected_by"] == [source]
    listed = client.get(f"/flows?collected_by_ids={parent}").json()
    assert sorted(f["id"] for f in listed) == sorted([video, audio])
    top = client.get("/flows?collected_by_ids=").json()
    assert [f["id"] for f in top] == [parent]
    assert [s["id"] for s in client.get(f"/sources?collected_by_ids={source}").json()] != []
    bad = {**multi, "flow_collection": [{"id": new_id()}]}
    assert put(client, bad).status_code == 400
    assert client.put(f"/flows/{parent}/flow_collection", json=[{"id": video}]).status_code == 204
    assert "collected_by" not in client.get(f"/flows/{audio}").json()
    assert client.delete(f"/flows/{video}").status_code == 204
    assert client.get(f"/flows/{parent}/flow_collection").json() == []


def test_flow_filters(client):
    source = new_id()
    hd, sd, sound = new_id(), new_id(), new_id()
    put(client, video_flow(hd, source, label="hd", tags={"genre": ["news", "live"], "auth_classes": "a"}))
    sd_body = video_flow(sd, source, label="sd", codec="video/mpeg2", tags={"genre": "sport"})
    sd_body["essence_parameters"].update(frame_width=720, frame_height=576)
    put(client, sd_body)
    put(client, audio_flow(sound, new_id(), status="ingesting"))
    client.post(f"/flows/{hd}/segments", json={"object_id": new_id(), "timerange": "[0:0_10:0)"})

    def ids(query: str) -> set[str]:
        response = client.get(f"/flows?{query}")
        assert response.status_code == 200, response.text
        validate_each("flow-get.json", response.json())
        return {f["id"] for f in response.json()}

    assert ids("") == {hd, sd, sound}
    assert ids("format=urn:x-nmos:format:video") == {hd, sd}
    assert ids("codec=video/mpeg2") == {sd}
    assert ids("label=hd") == {hd}
    assert ids("frame_width=720&frame_height=576") == {sd}
    assert ids(f"source_id={source}") == {hd, sd}
    assert ids("tag.genre=news") == {hd}
    assert ids("tag.genre=sport,live") == {hd, sd}
    assert ids("tag_exists.auth_classes=true") == {hd}
    assert ids("tag_exists.genre=false") == {sound}
    assert ids("status=ingesting") == {sound}
    assert ids("timerange=_") == {hd}
    assert ids("timerange=()") == {sd, sound}
    assert ids("timerange=[5:0_20:0)") == {hd}
    assert ids("timerange=[10:0_20:0)") == set()
    assert ids("init_segments=false") == {hd, sd, sound}
    for bad in (
        "format=video",
        "codec=nope",
        "source_id=x",
        "frame_width=abc",
        "timerange=[0:0_1:0))",
        "sort_by=size",
        "reverse_order=maybe",
        "status=done",
        "tag_exists.genre=perhaps",
    ):
        assert client.get(f"/flows?{bad}").status_code == 400, bad


def test_sorting_and_paging_flows_and_sources(client):
    labels = ["b", "a", "d", "c", "e"]
    created = []
    for label in labels:
        flow_id = new_id()
        put(client, video_flow(flow_id, new_id(), label=label))
        created.append(flow_id)
    newest_first = [f["id"] for f in client.get("/flows").json()]
    assert newest_first == list(reversed(created))
    assert [f["label"] for f in client.get("/flows?sort_by=label").json()] == ["a", "b", "c", "d", "e"]
    assert [f["label"] for f in client.get("/flows?sort_by=label&reverse_order=true").json()] == list("edcba")
    seen, url = [], "/flows?sort_by=label&limit=2"
    while url:
        response = client.get(url)
        assert response.headers["X-Paging-Count"] == str(len(response.json()))
        seen += [f["label"] for f in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
    assert seen == ["a", "b", "c", "d", "e"]
    response = client.get("/sources?limit=2")
    assert len(response.json()) == 2 and response.headers["X-Paging-Reverse-Order"] == "false"
    validate_each("source.json", response.json())
    assert client.get("/sources?sort_by=label").status_code == 200
    assert client.get("/sources?page=bogus").status_code == 400


def test_delete_flow_removes_segments_and_lonely_source(client):
    flow_id, source_id = new_id(), new_id()
    put(client, video_flow(flow_id, source_id))
    object_id = new_id()
    client.post(f"/flows/{flow_id}/segments", json={"object_id": object_id, "timerange": "[0:0_1:0)"})
    response = client.delete(f"/flows/{flow_id}")
    assert response.status_code == 202  # a flow with segments goes in the background
    validate("deletion-request.json", response.json())
    location = response.headers["Location"]
    assert location.endswith(f"/flow-delete-requests/{response.json()['id']}")
    import time

    deadline = time.monotonic() + 10
    while client.get(location).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    validate("deletion-request.json", client.get(location).json())
    assert [r["id"] for r in client.get("/flow-delete-requests").json()] == [response.json()["id"]]
    assert client.get(f"/flows/{flow_id}").status_code == 404
    assert client.get(f"/flows/{flow_id}/segments").json() == []
    assert client.get(f"/sources/{source_id}").status_code == 404
    assert client.get(f"/objects/{object_id}").status_code == 404
    assert client.delete(f"/flows/{flow_id}").status_code == 404
    empty_flow = new_id()
    put(client, video_flow(empty_flow, new_id()))
    assert client.delete(f"/flows/{empty_flow}").status_code == 204  # nothing to wait for
