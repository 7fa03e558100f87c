"""The segment page the catalog renders as JSON (``catalog.segment_json``) answers exactly like one
rendered from ``Segment``s: every member, every get_urls filter, paging headers, both stores.

``include_object_timerange=true`` takes the ``Segment`` path, so each page is fetched both ways and
compared without that member.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from conftest import new_id, video_flow
from starlette.datastructures import URL
from starlette.testclient import TestClient

from catalog.segment_json import RenderedPage
from catalog.store import SegmentQuery
from gateway.responses import _with_page

ODD_IDS = ['quote"back\\slash', "tab\tnew\nline", "ünïcødé ✓", "</script>"]
QUERIES = [
    "",
    "?accept_get_urls=",
    "?accept_get_urls=default",
    "?accept_get_urls=nothing",
    "?presigned=true",
    "?presigned=false",
    "?verbose_storage=true",
    "?reverse_order=true",
    "?limit=3",
    "?limit=3&reverse_order=true",
    "?timerange=[3:0_7:0)",
    "?timerange=[100:0_200:0)",
    "?accept_storage_ids=" + new_id(),
    "?storage_backend_tag=x",
]
HEADERS = ("x-paging-count", "x-paging-limit", "x-paging-nextkey", "x-paging-reverse-order", "x-paging-timerange")


def _flow(client: TestClient, init_segments: bool = False) -> str:
    flow_id = new_id()
    body = video_flow(flow_id, new_id())
    body["essence_parameters"]["init_segments"] = init_segments
    assert client.put(f"/flows/{flow_id}", json=body).status_code == 201
    return flow_id


def _without_signatures(page: list[dict]) -> list[dict]:
    # local-disk URLs are signed per time bucket: two requests may straddle a bucket's end
    for seg in page:
        seg.pop("object_timerange", None)
        for url in seg["get_urls"]:
            url["url"] = url["url"].split("?")[0]
    return page


def _both_ways(client: TestClient, flow_id: str, query: str) -> None:
    base = f"/flows/{flow_id}/segments{query}"
    fast = client.get(base)
    slow = client.get(base + ("&" if "?" in base else "?") + "include_object_timerange=true")
    assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
    assert _without_signatures(fast.json()) == _without_signatures(slow.json())
    assert {h: fast.headers.get(h) for h in HEADERS} == {h: slow.headers.get(h) for h in HEADERS}
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    if "link" in slow.headers:
        assert fast.headers["link"] == slow.headers["link"].replace("&include_object_timerange=true", "")


def _allocated(client: TestClient, flow_id: str, count: int) -> list[str]:
    """Objects with bytes on the default backend (one controlled instance each)."""
    objects = client.post(f"/flows/{flow_id}/storage", json={"limit": count}).json()["media_objects"]
    for obj in objects:
        put = obj["put_url"]
        url = urlsplit(put["url"])
        response = client.put(f"{url.path}?{url.query}", content=b"ts", headers={"Content-Type": put["content-type"]})
        assert response.status_code == 200, response.text
    return [obj["object_id"] for obj in objects]


def _post(client: TestClient, flow_id: str, object_id: str, n: int, **extra: object) -> None:
    body = {"object_id": object_id, "timerange": f"[{n}:0_{n + 1}:0)", **extra}
    response = client.post(f"/flows/{flow_id}/segments", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
def simple_flow(client: TestClient) -> str:
    """Segments with every optional member, objects with one controlled instance or none."""
    flow_id = _flow(client)
    allocated = _allocated(client, flow_id, 4)
    members = [
        {},
        {"ts_offset": "-1:500000000", "last_duration": "0:40000000"},
        {"ts_offset": "12:7", "sample_offset": 3, "sample_count": 0, "key_frame_count": 1},
        {"ts_offset": "0:0", "sample_offset": 0, "sample_count": 25, "key_frame_count": 0},
    ]
    for n, (object_id, extra) in enumerate(zip(allocated, members, strict=True)):
        _post(client, flow_id, object_id, n, **extra)
    for n, object_id in enumerate(ODD_IDS, start=4):
        _post(client, flow_id, object_id, n, last_duration="1:0")
    return flow_id


@pytest.mark.parametrize("query", QUERIES)
def test_a_rendered_page_answers_like_one_made_from_segments(client, simple_flow, query):
    _both_ways(client, simple_flow, query)


def test_the_next_pages_answer_alike(client, simple_flow):
    key = client.get(f"/flows/{simple_flow}/segments?limit=3").headers["x-paging-nextkey"]
    _both_ways(client, simple_flow, f"?limit=3&page={key}")
    _both_ways(client, simple_flow, f"?limit=3&page={key}&reverse_order=true")
    _both_ways(client, simple_flow, f"?object_id={quote(ODD_IDS[0])}")


def _rendered(client: TestClient, flow_id: str) -> RenderedPage | None:
    catalog = client.app.state.catalog  # type: ignore[attr-defined]
    return client.portal.call(catalog.segment_page_json, flow_id, SegmentQuery(), None, 10)  # type: ignore[union-attr]


def test_a_page_is_rendered_by_the_catalog_only_when_every_segment_is_simple(client, simple_flow):
    page = _rendered(client, simple_flow)
    assert page is not None and len(page.fragments) == 8 and sum(h is not None for h in page.homes) == 4
    # a client URL (registered with the segment or later) or an init object: rendered from Segments
    for make in ("client_url", "url_added_later", "init_object"):
        flow_id = _flow(client, init_segments=make == "init_object")
        (obj,) = _allocated(client, flow_id, 1)
        extra: dict = {}
        if make == "client_url":
            extra["get_urls"] = [{"label": "cdn", "url": "https://cdn.example/a"}]
        if make == "init_object":
            extra["init_object_id"] = new_id()
        _post(
            client,
            flow_id,
            obj,
            0,
            **({"init_object_id": extra["init_object_id"]} if "init_object_id" in extra else {}),
        )
        _post(client, flow_id, new_id(), 1, **extra)
        if make == "url_added_later":
            response = client.post(f"/objects/{obj}/instances", json={"url": "https://x.example/a", "label": "x"})
            assert response.status_code == 201, response.text
        assert _rendered(client, flow_id) is None, make
        for query in ("", "?accept_get_urls=", "?verbose_storage=true", "?reverse_order=true"):
            _both_ways(client, flow_id, query)


@pytest.mark.parametrize(
    "url",
    [
        "http://h/flows/x/segments",
        "http://h:8/flows/x/segments?limit=100&timerange=[1:0_201:0)",
        "https://h/p?page=old&limit=3&page=older",
        "http://h/p?a=&b=1&a=2&tag.x=%20y+z&accept_get_urls=",
        "http://h/p?timerange=%5B1%3A0_2%3A0%29&x=%E2%9C%93",
    ],
)
def test_the_next_page_link_is_starlettes(url):
    for key in ("abc", "k/1=+&?"):
        assert _with_page(URL(url), key) == str(URL(url).include_query_params(page=key))


@pytest.mark.parametrize(
    "query", [b"", b"a=1&a=2&b=", b"timerange=%5B1%3A0_2%3A0%29&x=%E2%9C%93+y", b"k=%ff&=v&flag", b"tag.x=%20y+z;w=1"]
)
def test_the_routes_query_dict_reads_as_starlettes_query_params(query):
    from starlette.requests import Request

    from gateway.params import query_dict

    request = Request({"type": "http", "query_string": query, "headers": []})
    assert query_dict(query) == dict(request.query_params.items())
