"""Hostile input: out-of-range times, huge numbers, forged page keys, lossy URLs, trailing newlines.

Each case once answered 500 (or was silently accepted); each must be a 4xx with a JSON error body.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from conftest import new_id, video_flow
from starlette.testclient import TestClient

from catalog.timing import NS_MAX, TimeFormatError, TimeRange, Timestamp

TOO_BIG = "9223372036:854775808"  # 2^63 ns: one past what SQLite INTEGER / int64 hold
LARGEST = "9223372036:854775807"  # 2^63 - 1 ns
HUGE = "1" * 5000 + ":0"  # past Python's 4,300-digit int() limit
BAD_STAMPS = [TOO_BIG, "-" + TOO_BIG, HUGE, "0:0\n"]
BAD_RANGES = [
    f"[0:0_{TOO_BIG})",
    f"[-{TOO_BIG}_0:0)",
    TOO_BIG,
    f"[{HUGE}]",
    f"({LARGEST}_",  # exclusive: its first nanosecond is 2^63
    f"_-{LARGEST})",
    "0:0\n",
    "[0:0_1:0)\n",
]


def refused(response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] and body["summary"] and len(body["summary"]) < 300


@pytest.fixture
def flow(client: TestClient) -> tuple[str, str]:
    flow_id, source_id = new_id(), new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, source_id)).status_code == 201
    body = {"object_id": new_id(), "timerange": "[0:0_1:0)"}
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    return flow_id, source_id


def test_the_bound_is_int64():
    assert Timestamp.parse(LARGEST).ns == NS_MAX == 2**63 - 1
    assert Timestamp.parse("-" + LARGEST).ns == -NS_MAX
    assert TimeRange.parse(f"[-{LARGEST}_{LARGEST}]").hi == NS_MAX
    for text in BAD_STAMPS:
        with pytest.raises(TimeFormatError):
            Timestamp.parse(text)
    for text in BAD_RANGES:
        with pytest.raises(TimeFormatError):
            TimeRange.parse(text)


TIMERANGE_ROUTES = [
    "/flows",
    "/flows/{flow}?include_timerange=true",
    "/flows/{flow}/segments",
    "/flows/{flow}/playlist.m3u8",
    "/flows/{flow}/manifest.mpd",
    "/sources/{source}/playlist.m3u8",
    "/sources/{source}/manifest.mpd",
    "/flows/{flow}/media.ts",
    "/flows/{flow}/media.mp4",
    "/flows/{flow}/remux/{object}.m4s",
]


@pytest.mark.parametrize("route", TIMERANGE_ROUTES)
@pytest.mark.parametrize("timerange", BAD_RANGES[:5] + BAD_RANGES[6:7])
def test_every_timerange_query_refuses_unstorable_times(client, flow, route, timerange):
    flow_id, source_id = flow
    path = route.format(flow=flow_id, source=source_id, object=new_id())
    joiner = "&" if "?" in path else "?"
    refused(client.get(f"{path}{joiner}timerange={quote(timerange)}"))


@pytest.mark.parametrize("timerange", BAD_RANGES)
def test_segment_deletion_refuses_unstorable_times(client, flow, timerange):
    refused(client.delete(f"/flows/{flow[0]}/segments?timerange={quote(timerange)}"))


@pytest.mark.parametrize("stamp", BAD_STAMPS)
def test_content_at_refuses_unstorable_times(client, flow, stamp):
    refused(client.get(f"/flows/{flow[0]}/content?at={quote(stamp)}"))


@pytest.mark.parametrize(
    "extra",
    [
        {"timerange": f"[0:0_{TOO_BIG})"},
        {"timerange": f"[{HUGE}_{HUGE}1)"},
        {"timerange": "[0:0_1:0)\n"},
        {"ts_offset": TOO_BIG},
        {"ts_offset": HUGE},
        {"last_duration": TOO_BIG},
        {"object_timerange": f"[0:0_{TOO_BIG})"},
        # each bound fits, but the length (stored as the flow's longest segment) does not
        {"timerange": f"[-{LARGEST}_{LARGEST})"},
        # the object's own time (timerange - ts_offset) would be past 2^63 ns
        {"timerange": f"[9223372036:0_{LARGEST})", "ts_offset": "-10:0"},
        {"sample_count": 2**63},
        {"key_frame_count": 2**63},
    ],
)
def test_segment_registration_refuses_unstorable_values(client, flow, extra):
    body = {"object_id": new_id(), "timerange": "[5:0_6:0)", **extra}
    refused(client.post(f"/flows/{flow[0]}/segments", json=body))


def test_the_largest_times_still_work(client, flow):
    flow_id = flow[0]
    body = {"object_id": new_id(), "timerange": f"[9223372030:0_{LARGEST}]"}
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201, body
    for query in (f"[{LARGEST}]", f"[-{LARGEST}_{LARGEST}]", f"[-{LARGEST}]", "_"):
        response = client.get(f"/flows/{flow_id}/segments?timerange={quote(query)}")
        assert response.status_code == 200, response.text
    found = client.get(f"/flows/{flow_id}/segments?timerange={quote(f'[{LARGEST}]')}").json()
    assert [seg["timerange"] for seg in found] == [body["timerange"]]


def forged(kind: str, *values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, *values]).encode()).decode().rstrip("=")


def real_key(client: TestClient, path: str) -> list:
    response = client.get(path)
    assert response.status_code == 200 and "x-paging-nextkey" in response.headers, response.text
    key = response.headers["x-paging-nextkey"]
    return json.loads(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))


@pytest.mark.parametrize("value", [10**30, -(10**30), 2**63, 1.5, True, None, [1], {"a": 1}, "0"])
def test_forged_segment_page_keys(client, flow, value):
    refused(client.get(f"/flows/{flow[0]}/segments?page={forged('segments', value)}"))


@pytest.mark.parametrize("values", [(1, 2), (["a"], "b"), ("a", {"b": 1}), (None, "x"), ("a", 10**30)])
def test_forged_storage_backend_page_keys(client, values):
    refused(client.get(f"/service/storage-backends?page={forged('storage-backends', *values)}"))


@pytest.mark.parametrize("value", [5, 10**30, ["a"], {"a": 1}, None, 1.5])
def test_forged_object_page_keys(client, value):
    flow_id = new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    object_id = new_id()
    body = {"object_id": object_id, "timerange": "[0:0_1:0)"}
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    refused(client.get(f"/objects/{object_id}?page={forged('object-flows', value)}"))


@pytest.mark.parametrize("value", [10**30, [1], {"a": 1}, 1.5])
def test_forged_listing_page_keys(client, value):
    for _ in range(2):
        flow_id = new_id()
        assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    kind, *values = real_key(client, "/flows?limit=1")
    for i in range(len(values)):
        bad = [*values[:i], value, *values[i + 1 :]]
        refused(client.get(f"/flows?limit=1&page={forged(kind, *bad)}"))


def storage_id(client: TestClient) -> str:
    return client.get("/service/storage-backends").json()[0]["id"]


@pytest.mark.parametrize(
    ("expires", "signature"),
    [
        ("\u00b2", "x"),
        ("\u0663", "x"),
        ("9" * 5000, "x"),
        ("1" * 20, "x"),
        ("9999999999", "\u00e9"),
        ("9999999999", "x" * 600),
    ],
)
def test_store_urls_with_odd_expiry_or_signature(client, expires, signature):
    url = f"/_store/{storage_id(client)}/some/key?expires={quote(expires)}&signature={quote(signature)}"
    refused(client.get(url), 403)
    refused(client.put(url, content=b"x"), 403)


@pytest.mark.parametrize("name", ["%ff", "%fe", "%c3", "%ed%a0%80"])
def test_paths_that_are_not_utf8(client, flow, name):
    refused(client.put(f"/flows/{flow[0]}/tags/{name}", json="x"))
    refused(client.get(f"/flows/{flow[0]}/tags/{name}"))
    assert client.get(f"/flows/{flow[0]}/tags").json() == {}


def test_utf8_paths_keep_their_names(client, flow):
    assert client.put(f"/flows/{flow[0]}/tags/{quote('é')}", json="x").status_code == 204
    assert client.get(f"/flows/{flow[0]}/tags").json() == {"é": "x"}


@pytest.mark.parametrize("query", ["tag.%ff=x", "tag.genre=%fe", "label=%ff", "page=%ff", "x=%c3+"])
def test_query_strings_that_are_not_utf8(client, query):
    refused(client.get(f"/flows?{query}"))


def test_trailing_newlines_are_refused(client, flow):
    flow_id = flow[0]
    refused(client.get("/flows?timerange=0:0%0A"))
    refused(client.get(f"/flows?source_id={flow[1]}%0A"))
    refused(client.get(f"/flows/{flow_id}%0A"), 404)
    refused(client.get(f"/flows/{flow_id}/segments?object_id=x&timerange=%5B0:0_1:0)%0A"))
    body = {"object_id": new_id(), "timerange": "[2:0_3:0)", "ts_offset": "0:0\n"}
    refused(client.post(f"/flows/{flow_id}/segments", json=body))
    other = new_id()
    refused(client.put(f"/flows/{other}", json=video_flow(other, flow[1] + "\n")))


@pytest.mark.parametrize(
    "query",
    [
        "limit=" + "9" * 5000,
        "limit=%C2%B2",
        "limit=99999999999999999999",
        "frame_width=" + "1" * 30,
        "frame_height=%D9%A3",
    ],
)
def test_integer_query_parameters_refuse_what_no_store_holds(client, query):
    refused(client.get(f"/flows?{query}"))


@pytest.mark.parametrize("last", ["\u00b2", "9" * 5000, str(2**63), "-1"])
def test_event_stream_resume_ids(client, last):
    refused(client.get("/events", headers={"Last-Event-ID": quote(last) if not last.isascii() else last}))
    refused(client.get(f"/events?last_event_id={quote(last)}"))


@pytest.mark.slow
def test_a_real_server_refuses_urls_that_are_not_utf8(gateway_process):
    # uvicorn, not the test client, decodes the path here: the check must see its raw bytes
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url) as http:
        assert http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
        refused(http.put(f"/flows/{flow_id}/tags/%ff", json="x"))
        refused(http.get(f"/flows?tag.genre=%fe&x={quote('é')}"))
        assert http.put(f"/flows/{flow_id}/tags/%C3%A9", json="x").status_code == 204
        assert http.get(f"/flows/{flow_id}/tags").json() == {"é": "x"}
        refused(http.get(f"/flows?timerange=[0:0_{TOO_BIG})"))
