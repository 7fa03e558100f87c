"""The non-overlap rule where registration skips its probe: segments after the flow's last one.

The catalog skips the overlap look-up for a segment that starts after every segment the flow
holds and every one added earlier in the same request; these cases sit at that boundary.
"""

from __future__ import annotations

from conftest import new_id, video_flow


def make_flow(client) -> str:
    flow_id = new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    return flow_id


def post_many(client, flow_id: str, *timeranges: str):
    body = [{"object_id": new_id(), "timerange": tr} for tr in timeranges]
    return client.post(f"/flows/{flow_id}/segments", json=body)


def failed(response) -> list[str]:
    return [f["timerange"] for f in response.json()["failed_segments"]] if response.status_code == 200 else []


def ranges(client, flow_id: str) -> list[str]:
    return [s["timerange"] for s in client.get(f"/flows/{flow_id}/segments").json()]


def test_overlaps_inside_one_batch_of_appends_are_refused(client):
    flow_id = make_flow(client)
    response = post_many(client, flow_id, "[0:0_2:0)", "[2:0_4:0)", "[3:0_5:0)", "[4:0_6:0)", "[5:0]")
    assert failed(response) == ["[3:0_5:0)", "[5:0]"]
    assert ranges(client, flow_id) == ["[0:0_2:0)", "[2:0_4:0)", "[4:0_6:0)"]


def test_a_batch_that_starts_inside_the_last_segment_is_refused_there(client):
    flow_id = make_flow(client)
    assert post_many(client, flow_id, "[0:0_10:0)").status_code == 201
    assert failed(post_many(client, flow_id, "[9:999999999_12:0)", "[12:0_14:0)")) == ["[9:999999999_12:0)"]
    assert failed(post_many(client, flow_id, "[13:0]", "[14:0_16:0)")) == ["[13:0]"]  # inside [12:0_14:0)
    assert ranges(client, flow_id) == ["[0:0_10:0)", "[12:0_14:0)", "[14:0_16:0)"]


def test_after_deleting_the_tail_the_earlier_segments_still_count(client):
    flow_id = make_flow(client)
    assert post_many(client, flow_id, "[0:0_10:0)", "[10:0_20:0)").status_code == 201
    assert client.delete(f"/flows/{flow_id}/segments?timerange=[10:0_20:0)").status_code == 204
    assert failed(post_many(client, flow_id, "[5:0_15:0)")) == ["[5:0_15:0)"]  # overlaps [0:0_10:0)
    assert post_many(client, flow_id, "[10:0_20:0)").status_code == 201
    assert ranges(client, flow_id) == ["[0:0_10:0)", "[10:0_20:0)"]


def test_segments_before_the_flow_start_are_still_checked(client):
    flow_id = make_flow(client)
    assert post_many(client, flow_id, "[10:0_20:0)").status_code == 201
    assert failed(post_many(client, flow_id, "[0:0_5:0)", "[4:0_11:0)", "[20:0_21:0)")) == ["[4:0_11:0)"]
    assert ranges(client, flow_id) == ["[0:0_5:0)", "[10:0_20:0)", "[20:0_21:0)"]
