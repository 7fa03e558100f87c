"""The wire vocabulary (catalog.vocabulary) against the official schemas, and the places that use it."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest
from conftest import new_id, video_flow
from hypothesis import given
from hypothesis import strategies as st
from spec import SCHEMA_DIR, spec_available

from catalog import models, vocabulary
from catalog.timing import TimeFormatError, TimeRange, Timestamp

needs_spec = pytest.mark.skipif(not spec_available(), reason=f"the official TAMS schemas are not at {SCHEMA_DIR}")


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


@needs_spec
def test_closed_sets_are_the_schemas():
    assert tuple(schema("content-format.json")["enum"]) == vocabulary.FORMATS
    assert tuple(schema("flow-status.json")["enum"]) == vocabulary.FLOW_STATUSES
    assert tuple(schema("webhook.json")["properties"]["events"]["items"]["enum"]) == vocabulary.EVENT_TYPES
    statuses = schema("webhook-get.json")["allOf"][1]["properties"]["status"]["enum"]
    assert get_args(vocabulary.WebhookStatus) == tuple(statuses)
    assert schema("uuid.json")["pattern"] == vocabulary.UUID_PATTERN


def test_derived_values_follow_their_literals():
    assert tuple(e for e in vocabulary.EVENT_TYPES if e.startswith("flows/")) == vocabulary.FLOW_EVENTS
    assert vocabulary.SEGMENTS_ADDED in vocabulary.FLOW_EVENTS
    assert set(vocabulary.WEBHOOK_ACTIVE) < set(get_args(vocabulary.WebhookStatus))
    assert set(get_args(vocabulary.WebhookRequestedStatus)) < set(get_args(vocabulary.WebhookStatus))


STAMP = st.builds(
    lambda sign, s, ns: f"{sign}{s}:{ns}",
    st.sampled_from(["", "-"]),
    st.integers(0, 10**12),
    st.integers(0, 999_999_999),
)
NOISE = st.text(alphabet="-_:[]()0123456789a ", max_size=14)


@needs_spec
@given(st.one_of(STAMP, NOISE))
def test_timestamp_pattern_accepts_the_schemas_language(text):
    official = re.compile(schema("timestamp.json")["pattern"])
    assert bool(vocabulary.TIMESTAMP_RE.match(text)) == bool(official.match(text))


@needs_spec
@given(
    st.one_of(
        st.builds(
            lambda o, a, sep, b, c: f"{o}{a}{sep}{b}{c}",
            st.sampled_from(["", "[", "("]),
            st.one_of(st.just(""), STAMP),
            st.sampled_from(["", "_"]),
            st.one_of(st.just(""), STAMP),
            st.sampled_from(["", "]", ")"]),
        ),
        NOISE,
    )
)
def test_timerange_pattern_accepts_the_schemas_language(text):
    official = re.compile(schema("timerange.json")["pattern"])
    assert bool(vocabulary.TIMERANGE_RE.match(text)) == bool(official.match(text))


def test_time_parsing_and_body_validation_share_the_patterns():
    # what the segment model lets through, the time parser reads, and the other way round
    for good in ("0:0", "-1:500000000", "12:999999999"):
        assert str(Timestamp.parse(good)) == good
        models.validate_segment_post({"object_id": "x", "timerange": f"[{good}]", "ts_offset": good})
    for bad in ("1:1000000000", "01:0", "1.5", "-0:-1"):
        with pytest.raises(TimeFormatError):
            Timestamp.parse(bad)
        with pytest.raises(models.ValidationError, match="ts_offset"):
            models.validate_segment_post({"object_id": "x", "timerange": "[0:0_1:0)", "ts_offset": bad})
    assert str(TimeRange.parse("(5:0_")) == "(5:0_"
    with pytest.raises(models.ValidationError, match="timerange"):
        models.validate_segment_post({"object_id": "x", "timerange": "[0:0__1:0)"})


def test_format_and_status_filters_use_the_vocabulary(client):
    flow_id = new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), status="ingesting")).status_code == 201
    for status in vocabulary.FLOW_STATUSES:
        listed = client.get(f"/flows?status={status}").json()
        assert [f["id"] for f in listed] == ([flow_id] if status == "ingesting" else [])
    assert client.get("/flows?status=finished").status_code == 400
    assert [f["id"] for f in client.get(f"/flows?format={vocabulary.VIDEO}").json()] == [flow_id]
    refused = client.get("/flows?format=urn:x-nmos:format:smell")
    assert refused.status_code == 400 and vocabulary.MULTI in refused.json()["summary"]
    bad_status = client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), status="finished"))
    assert bad_status.status_code == 400 and "status" in bad_status.json()["summary"]
    assert client.get("/events?events=flows/smelled").status_code == 400
