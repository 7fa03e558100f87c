"""Segments: the timerange edge cases of docs/TIMERANGES.md, registration rules, paging and deletion."""

from __future__ import annotations

import pytest
from conftest import new_id, video_flow
from spec import validate, validate_each
from starlette.testclient import TestClient


def make_flow(client: TestClient, **extra: object) -> str:
    flow_id = new_id()
    response = client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), **extra))
    assert response.status_code == 201, response.text
    return flow_id


def post(client: TestClient, flow_id: str, timerange: str, object_id: str | None = None, **extra: object):
    body = {"object_id": object_id or new_id(), "timerange": timerange, **extra}
    return client.post(f"/flows/{flow_id}/segments", json=body)


def ranges(client: TestClient, flow_id: str, query: str = "") -> list[str]:
    response = client.get(f"/flows/{flow_id}/segments{query}")
    assert response.status_code == 200, response.text
    validate_each("flow-segment.json", response.json())
    return [seg["timerange"] for seg in response.json()]


@pytest.fixture
def three(client: TestClient) -> str:
    flow_id = make_flow(client)
    for tr in ("[0:0_10:0)", "[10:0_20:0)", "[20:0_30:0)"):
        assert post(client, flow_id, tr).status_code == 201
    return flow_id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("[10:0_20:0)", ["[10:0_20:0)"]),
        ("[10:0_20:0]", ["[10:0_20:0)", "[20:0_30:0)"]),
        ("(10:0_20:0)", ["[10:0_20:0)"]),
        ("[9:0_10:0]", ["[0:0_10:0)", "[10:0_20:0)"]),
        ("[10:0]", ["[10:0_20:0)"]),
        ("(9:999999999_10:0)", []),
        ("_", ["[0:0_10:0)", "[10:0_20:0)", "[20:0_30:0)"]),
        ("()", []),
        ("[30:0_40:0)", []),
        ("[29:999999999]", ["[20:0_30:0)"]),
        ("_0:0]", ["[0:0_10:0)"]),
        ("_0:0)", []),
        ("(25:0_", ["[20:0_30:0)"]),
        ("[-5:0_0:1)", ["[0:0_10:0)"]),
    ],
)
def test_timerange_queries_return_exactly_the_overlapping_segments(client, three, query, expected):
    assert ranges(client, three, f"?timerange={query}") == expected


def test_omitted_timerange_returns_all_and_reverse_order(client, three):
    assert ranges(client, three) == ["[0:0_10:0)", "[10:0_20:0)", "[20:0_30:0)"]
    assert ranges(client, three, "?reverse_order=true") == ["[20:0_30:0)", "[10:0_20:0)", "[0:0_10:0)"]


def test_inclusive_end_then_instant_do_not_overlap(client):
    flow_id = make_flow(client)
    assert post(client, flow_id, "[1:0_2:0)").status_code == 201
    assert post(client, flow_id, "[2:0]").status_code == 201
    assert ranges(client, flow_id) == ["[1:0_2:0)", "[2:0]"]
    assert ranges(client, flow_id, "?timerange=[2:0]") == ["[2:0]"]


def test_negative_times(client):
    flow_id = make_flow(client)
    assert post(client, flow_id, "[-2:0_-1:500000000)").status_code == 201
    assert post(client, flow_id, "[-1:500000000_0:0)").status_code == 201
    assert ranges(client, flow_id, "?timerange=[-1:600000000]") == ["[-2:0_-1:500000000)"]
    assert ranges(client, flow_id, "?timerange=[-1:500000000]") == ["[-1:500000000_0:0)"]


@pytest.mark.parametrize("bad", ["[0:0_10:0))", "1:05", "abc", "[1:1000000000_2:0)", "[0:0_1:0)x"])
def test_malformed_timerange_is_400_naming_the_value(client, three, bad):
    response = client.get(f"/flows/{three}/segments", params={"timerange": bad})
    assert response.status_code == 400
    validate("error.json", response.json())
    assert bad in response.json()["summary"]


def test_overlap_and_duplicates_rejected_touching_accepted(client, three):
    response = post(client, three, "[5:0_15:0)")
    assert response.status_code == 400
    assert "overlaps" in response.json()["summary"]
    assert post(client, three, "[0:0_10:0)").status_code == 400  # identical re-POST
    assert post(client, three, "[29:999999999_31:0)").status_code == 400
    assert post(client, three, "[30:0_40:0)").status_code == 201  # touching
    assert len(ranges(client, three)) == 4


def test_segment_timerange_rules(client):
    flow_id = make_flow(client)
    for bad in ("_", "[0:0_", "()", "(0:0_1:0)", "[5:0_1:0)"):
        assert post(client, flow_id, bad).status_code == 400, bad
    assert ranges(client, flow_id) == []


def test_unknown_flow_segments_is_empty_list_and_malformed_id_404(client):
    response = client.get(f"/flows/{new_id()}/segments")
    assert response.status_code == 200 and response.json() == []
    assert client.get("/flows/not-a-uuid/segments").status_code == 404
    assert post(client, new_id(), "[0:0_1:0)").status_code == 404


def test_fields_round_trip_and_object_timerange(client):
    flow_id = make_flow(client)
    object_id = new_id()
    response = post(
        client,
        flow_id,
        "[10:0_12:0)",
        object_id,
        ts_offset="10:0",
        last_duration="0:40000000",
        key_frame_count=1,
        sample_offset=0,
        sample_count=50,
    )
    assert response.status_code == 201, response.text
    (seg,) = client.get(f"/flows/{flow_id}/segments").json()
    assert seg["ts_offset"] == "10:0" and seg["last_duration"] == "0:40000000"
    assert seg["key_frame_count"] == 1 and seg["sample_count"] == 50 and "object_timerange" not in seg
    (seg,) = client.get(f"/flows/{flow_id}/segments?include_object_timerange=true").json()
    assert seg["object_timerange"] == "[0:0_2:0)"
    validate("flow-segment.json", seg)


def test_paging_headers_and_link_walk(client):
    flow_id = make_flow(client)
    batch = [{"object_id": new_id(), "timerange": f"[{i * 2}:0_{i * 2 + 2}:0)"} for i in range(25)]
    assert client.post(f"/flows/{flow_id}/segments", json=batch).status_code == 201
    url = f"/flows/{flow_id}/segments?limit=10&timerange=[4:0_40:0)"
    seen: list[str] = []
    while url:
        response = client.get(url)
        assert response.headers["X-Paging-Limit"] == "10"
        assert response.headers["X-Paging-Count"] == str(len(response.json()))
        assert response.headers["X-Paging-Reverse-Order"] == "false"
        page = [s["timerange"] for s in response.json()]
        assert response.headers["X-Paging-Timerange"] == f"{page[0].split('_')[0]}_{page[-1].split('_')[1]}"
        seen.extend(page)
        link = response.headers.get("Link")
        if link:
            assert link.startswith("<http://testserver/") and link.endswith('>; rel="next"')
            assert "timerange=" in link and response.headers["X-Paging-NextKey"]
            url = link[1 : link.index(">")]
        else:
            assert "X-Paging-NextKey" not in response.headers
            url = ""
    assert seen == [f"[{i * 2}:0_{i * 2 + 2}:0)" for i in range(2, 20)]


def test_reverse_paging_walks_backwards(client):
    flow_id = make_flow(client)
    batch = [{"object_id": new_id(), "timerange": f"[{i}:0_{i + 1}:0)"} for i in range(7)]
    client.post(f"/flows/{flow_id}/segments", json=batch)
    first = client.get(f"/flows/{flow_id}/segments?limit=3&reverse_order=true")
    assert [s["timerange"] for s in first.json()] == ["[6:0_7:0)", "[5:0_6:0)", "[4:0_5:0)"]
    assert first.headers["X-Paging-Reverse-Order"] == "true"
    second = client.get(first.headers["Link"][1 : first.headers["Link"].index(">")])
    assert [s["timerange"] for s in second.json()] == ["[3:0_4:0)", "[2:0_3:0)", "[1:0_2:0)"]


def test_empty_page_headers(client, three):
    response = client.get(f"/flows/{three}/segments?timerange=()")
    assert response.json() == [] and response.headers["X-Paging-Timerange"] == "()"


def test_bad_page_key_and_limit(client, three):
    assert client.get(f"/flows/{three}/segments?page=garbage").status_code == 400
    assert client.get(f"/flows/{three}/segments?limit=0").status_code == 400
    assert client.get(f"/flows/{three}/segments?limit=abc").status_code == 400
    response = client.get(f"/flows/{three}/segments?limit=5000")
    assert response.headers["X-Paging-Limit"] == "1000"


def test_bulk_post_reports_each_failure_and_keeps_the_rest(client, three):
    good, clash = new_id(), new_id()
    body = [
        {"object_id": good, "timerange": "[30:0_40:0)"},
        {"object_id": clash, "timerange": "[35:0_45:0)"},
        {"object_id": new_id(), "timerange": "not-a-range"},
        {"timerange": "[50:0_60:0)"},
        {"object_id": new_id(), "timerange": "[40:0_50:0)"},
    ]
    response = client.post(f"/flows/{three}/segments", json=body)
    assert response.status_code == 200
    validate("flow-segment-bulk-failure.json", response.json())
    failed = response.json()["failed_segments"]
    assert {f["object_id"] for f in failed} >= {clash}
    assert len(failed) == 3
    assert ranges(client, three)[-2:] == ["[30:0_40:0)", "[40:0_50:0)"]


def test_object_reuse_rules(client):
    first, second = make_flow(client), make_flow(client)
    object_id = new_id()
    assert post(client, first, "[0:0_2:0)", object_id, key_frame_count=1).status_code == 201
    assert post(client, second, "[100:0_102:0)", object_id, ts_offset="100:0").status_code == 201
    assert post(client, second, "[200:0_202:0)", object_id, key_frame_count=5).status_code == 400
    assert post(client, second, "[300:0_302:0)", object_id, object_timerange="[1:0_2:0)").status_code == 400
    assert (
        post(client, second, "[400:0_402:0)", object_id, get_urls=[{"url": "http://x/y", "label": "x"}]).status_code
        == 400
    )
    obj = client.get(f"/objects/{object_id}").json()
    validate("object.json", obj)
    assert sorted(obj["referenced_by_flows"]) == sorted([first, second])
    assert obj["first_referenced_by_flow"] == first
    assert obj["timerange"] == "[0:0_2:0)" and obj["key_frame_count"] == 1


def test_uncontrolled_get_urls_and_filters(client):
    flow_id = make_flow(client)
    object_id = "tams/objects/with%slash"
    urls = [{"url": "http://cdn.example/a.ts", "label": "cdn"}, {"url": "http://edge.example/a.ts", "label": "edge"}]
    assert post(client, flow_id, "[0:0_2:0)", object_id, get_urls=urls).status_code == 201
    seg = client.get(f"/flows/{flow_id}/segments").json()[0]
    assert [u["label"] for u in seg["get_urls"]] == ["cdn", "edge"]
    assert all(u["presigned"] is False for u in seg["get_urls"])
    seg = client.get(f"/flows/{flow_id}/segments?accept_get_urls=edge").json()[0]
    assert [u["label"] for u in seg["get_urls"]] == ["edge"]
    seg = client.get(f"/flows/{flow_id}/segments?accept_get_urls=").json()[0]
    assert seg["get_urls"] == []
    seg = client.get(f"/flows/{flow_id}/segments?presigned=true").json()[0]
    assert seg["get_urls"] == []
    seg = client.get(f"/flows/{flow_id}/segments?verbose_storage=true").json()[0]
    assert all(u["controlled"] is False for u in seg["get_urls"])
    validate("flow-segment.json", seg)
    obj = client.get("/objects/tams%2Fobjects%2Fwith%25slash")
    assert obj.status_code == 200 and obj.json()["id"] == object_id


def test_object_id_filter(client, three):
    object_id = client.get(f"/flows/{three}/segments").json()[1]["object_id"]
    assert ranges(client, three, f"?object_id={object_id}") == ["[10:0_20:0)"]
    assert ranges(client, three, f"?object_id={new_id()}") == []


def test_delete_only_fully_covered_segments(client, three):
    assert client.delete(f"/flows/{three}/segments?timerange=[0:0_15:0)").status_code == 204
    assert ranges(client, three) == ["[10:0_20:0)", "[20:0_30:0)"]
    flow = client.get(f"/flows/{three}?include_timerange=true").json()
    assert flow["timerange"] == "[10:0_30:0)"
    assert client.delete(f"/flows/{three}/segments").status_code == 204
    assert ranges(client, three) == []
    assert client.get(f"/flows/{three}?include_timerange=true").json()["timerange"] == "()"


def test_delete_by_object_and_object_gc(client, three):
    segs = client.get(f"/flows/{three}/segments").json()
    target = segs[2]["object_id"]
    assert client.delete(f"/flows/{three}/segments?object_id={target}").status_code == 204
    assert ranges(client, three) == ["[0:0_10:0)", "[10:0_20:0)"]
    assert client.get(f"/objects/{target}").status_code == 404
    assert client.get(f"/objects/{segs[0]['object_id']}").status_code == 200


def test_flow_timerange_envelope_and_window(client, three):
    post(client, three, "[40:0_50:0]")
    assert client.get(f"/flows/{three}?include_timerange=true").json()["timerange"] == "[0:0_50:0]"
    flow = client.get(f"/flows/{three}?include_timerange=true&timerange=[5:0_15:0)").json()
    assert flow["timerange"] == "[5:0_15:0)"
    flow = client.get(f"/flows/{three}?include_timerange=true&timerange=[32:0_35:0)").json()
    assert flow["timerange"] == "()"
    assert "timerange" not in client.get(f"/flows/{three}").json()


def test_container_and_read_only_rules(client):
    no_container = new_id()
    body = video_flow(no_container, new_id())
    del body["container"]
    client.put(f"/flows/{no_container}", json=body)
    assert post(client, no_container, "[0:0_1:0)").status_code == 400
    flow_id = make_flow(client)
    assert client.put(f"/flows/{flow_id}/read_only", json=True).status_code == 204
    assert post(client, flow_id, "[0:0_1:0)").status_code == 403
    assert client.delete(f"/flows/{flow_id}/segments").status_code == 403


def test_init_segment_rules(client):
    flow_id = new_id()
    body = video_flow(flow_id, new_id(), container="video/iso.segment")
    body["essence_parameters"]["init_segments"] = True
    assert client.put(f"/flows/{flow_id}", json=body).status_code == 201
    assert post(client, flow_id, "[0:0_2:0)").status_code == 400  # needs init_object_id
    init_id = new_id()
    assert post(client, flow_id, "[0:0_2:0)", init_object_id=init_id).status_code == 201
    assert post(client, flow_id, "[2:0_4:0)", init_object_id=init_id).status_code == 201
    seg = client.get(f"/flows/{flow_id}/segments").json()[0]
    assert seg["init_object"]["object_id"] == init_id
    validate("flow-segment.json", seg)
    init = client.get(f"/objects/{init_id}").json()
    assert "timerange" not in init and init["referenced_by_flows"] == [flow_id]
    assert post(client, flow_id, "[4:0_6:0)", init_id, init_object_id=new_id()).status_code == 400
    plain = make_flow(client)
    assert post(client, plain, "[0:0_2:0)", init_object_id=new_id()).status_code == 400


def test_head_segments_has_headers_and_no_body(client, three):
    response = client.head(f"/flows/{three}/segments?limit=1")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["X-Paging-Count"] == "1" and "Link" in response.headers
