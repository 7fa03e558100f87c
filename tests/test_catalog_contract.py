"""The Catalog contract, run on every store: SQLite, the VAST store on the fake, and real VAST DB.

Real VAST runs when VAST_ENDPOINT, VAST_ACCESS_KEY, VAST_SECRET_KEY and VAST_BUCKET are set (each
run uses a fresh schema in that bucket); otherwise it is skipped with that reason. The fake
shuffles rows and refuses predicates VAST could not push down, so order-dependent code fails here.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import new_id, video_flow

from catalog.errors import Invalid, NotFound
from catalog.store import (
    Allocation,
    Catalog,
    Event,
    FlowQuery,
    Instance,
    Locations,
    ObjectPage,
    SegmentQuery,
    SourceQuery,
    StoredInstance,
    TagFilter,
)
from catalog.timing import TimeRange

VAST_ENV = ("VAST_ENDPOINT", "VAST_ACCESS_KEY", "VAST_SECRET_KEY", "VAST_BUCKET")


def _make(kind: str, tmp_path: Path) -> Catalog:
    if kind == "sqlite":
        from catalog.sqlite import SQLiteCatalog

        return SQLiteCatalog(tmp_path / "catalog.sqlite3", readers=2)
    from catalog.vast import VastCatalog

    if kind == "vast-fake":
        from catalog.vast.fake import FakeVast

        return VastCatalog(FakeVast(seed=7))
    missing = [name for name in VAST_ENV if not os.environ.get(name)]
    if missing:
        pytest.skip(f"real VAST DB not configured: set {', '.join(missing)} to run the contract on a cluster")
    from catalog.vast.connection import VastConnection, VastSettings

    return VastCatalog(
        VastConnection(
            VastSettings(
                endpoint=os.environ["VAST_ENDPOINT"],
                access_key=os.environ["VAST_ACCESS_KEY"],
                secret_key=os.environ["VAST_SECRET_KEY"],
                bucket=os.environ["VAST_BUCKET"],
                schema=f"tams_contract_{uuid.uuid4().hex[:8]}",
                sessions=4,
            )
        )
    )


class Harness:
    def __init__(self, catalog: Catalog, run: Callable[[Any], Any]) -> None:
        self.catalog = catalog
        self.run = run

    def flow(self, segments: list[str] = (), **extra: Any) -> str:  # type: ignore[assignment]  # immutable default, never mutated
        flow_id = new_id()
        self.run(self.catalog.put_flow(video_flow(flow_id, new_id(), **extra), None))
        if segments:
            assert self.add(flow_id, segments) == []
        return flow_id

    def add(self, flow_id: str, timeranges: list[str], object_prefix: str | None = None) -> list[str]:
        """Registers one segment per timerange; returns the failure summaries."""
        prefix = object_prefix or new_id()
        batch = [{"object_id": f"{prefix}-{i}", "timerange": tr} for i, tr in enumerate(timeranges)]
        return [f.summary for f in self.run(self.catalog.add_segments(flow_id, batch))]

    def ranges(
        self,
        flow_id: str,
        timerange: str | None = None,
        limit: int = 1000,
        reverse: bool = False,
        page: str | None = None,
    ) -> tuple[list[str], str | None]:
        query = SegmentQuery(timerange=TimeRange.parse(timerange) if timerange else None, reverse=reverse)
        result = self.run(self.catalog.query_segments(flow_id, query, page, limit))
        return [s.timerange for s in result.items], result.next_key


@pytest.fixture(params=["sqlite", "vast-fake", "vast"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    catalog = _make(request.param, tmp_path)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(catalog.start())
    yield Harness(catalog, loop.run_until_complete)
    loop.run_until_complete(catalog.close())
    loop.close()


def two_second(n: int, start: int = 0) -> list[str]:
    return [str(TimeRange.parse(f"[{s}:0_{s + 2}:0)")) for s in range(start, start + 2 * n, 2)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("[3:0_5:0)", ["[2:0_4:0)", "[4:0_6:0)"]),
        ("[2:0_4:0)", ["[2:0_4:0)"]),  # touching neighbours are not included
        ("[4:0]", ["[4:0_6:0)"]),  # an instant
        ("(10:0_12:0]", ["[10:0_12:0)", "[12:0_14:0)"]),  # exclusive start, inclusive end
        ("[10:0_", ["[10:0_12:0)", "[12:0_14:0)", "[14:0_16:0)", "[16:0_18:0)", "[18:0_20:0)"]),
        ("_4:0)", ["[0:0_2:0)", "[2:0_4:0)"]),
        ("()", []),
        ("[100:0_200:0)", []),
    ],
)
def test_timerange_queries(store: Harness, query: str, expected: list[str]) -> None:
    flow_id = store.flow(two_second(10))
    assert store.ranges(flow_id, query)[0] == [str(TimeRange.parse(e)) for e in expected]
    assert len(store.ranges(flow_id, "_")[0]) == 10


def test_negative_times_and_inclusive_ends(store: Harness) -> None:
    flow_id = store.flow(["[-4:0_-2:0)", "[-2:0_0:0)", "[0:0_1:0]"])
    assert store.ranges(flow_id, "[-3:0_-1:0)")[0] == ["[-4:0_-2:0)", "[-2:0_0:0)"]
    assert store.ranges(flow_id, "[1:0_5:0)")[0] == ["[0:0_1:0]"]  # its inclusive end is the instant 1:0
    stats = store.run(store.catalog.flow_stats(flow_id))
    assert (stats.count, str(stats.envelope)) == (3, "[-4:0_1:0]")


def test_overlaps_are_refused_and_change_nothing(store: Harness) -> None:
    flow_id = store.flow(two_second(3))
    assert len(store.add(flow_id, ["[1:0_3:0)"])) == 1
    assert len(store.add(flow_id, ["[2:0_4:0)"])) == 1  # exact duplicate
    failures = store.add(flow_id, ["[6:0_8:0)", "[7:0_9:0)", "[8:0_10:0)"])  # overlaps within the batch
    assert len(failures) == 1 and "overlaps" in failures[0]
    assert store.ranges(flow_id)[0] == two_second(5)
    assert store.run(store.catalog.flow_stats(flow_id)).count == 5


@pytest.mark.parametrize("reverse", [False, True])
def test_pages_are_stable_under_concurrent_inserts(store: Harness, reverse: bool) -> None:
    flow_id = store.flow(two_second(25, start=100))  # 100 s .. 150 s
    seen: list[str] = []
    page = None
    pages = 0
    while True:
        items, page = store.ranges(flow_id, limit=10, reverse=reverse, page=page)
        seen.extend(items)
        pages += 1
        if pages == 1:  # a writer adds segments on both sides of the cursor
            assert store.add(flow_id, two_second(3, start=0) + two_second(3, start=200)) == []
        if page is None:
            break
    ordered = sorted(seen, key=lambda tr: TimeRange.parse(tr).lo, reverse=reverse)
    assert seen == ordered and len(set(seen)) == len(seen)
    later = two_second(3, start=0) if reverse else two_second(3, start=200)
    assert set(two_second(25, start=100)) | set(later) == set(seen)  # ahead of the cursor: included


def test_gappy_flows_page_completely(store: Harness) -> None:
    ranges = two_second(5) + two_second(5, start=1000) + two_second(5, start=100_000)
    flow_id = store.flow(ranges)
    seen, page = [], None
    while True:
        items, page = store.ranges(flow_id, "[5:0_", limit=4, page=page)
        seen.extend(items)
        if page is None:
            break
    assert seen == [r for r in ranges if TimeRange.parse(r).hi >= 5_000_000_000]


def test_delete_removes_only_contained_segments(store: Harness) -> None:
    flow_id = store.flow(two_second(6))
    result = store.run(store.catalog.delete_segments(flow_id, TimeRange.parse("[3:0_9:0)"), None))
    assert result.count == 2 and str(result.envelope) == "[4:0_8:0)"
    assert store.ranges(flow_id)[0] == [r for r in two_second(6) if r not in ("[4:0_6:0)", "[6:0_8:0)")]
    stats = store.run(store.catalog.flow_stats(flow_id))
    assert (stats.count, str(stats.envelope)) == (4, "[0:0_12:0)")
    store.run(store.catalog.delete_segments(flow_id, TimeRange.parse("[10:0_"), None))
    assert str(store.run(store.catalog.flow_stats(flow_id)).envelope) == "[0:0_10:0)"


def test_object_references_across_flows(store: Harness) -> None:
    shared = new_id()
    first, second = store.flow(), store.flow()
    assert store.add(first, ["[0:0_2:0)"], object_prefix=shared) == []
    assert store.add(second, ["[10:0_12:0)"], object_prefix=shared) == []
    record, next_key = store.run(store.catalog.get_object(f"{shared}-0", None, 1))
    assert record.first_referenced_by_flow == first and next_key is not None
    rest, last_key = store.run(store.catalog.get_object(f"{shared}-0", next_key, 1))
    assert sorted(record.referenced_by_flows + rest.referenced_by_flows) == sorted([first, second])
    assert last_key is None
    store.run(store.catalog.delete_segments(first, TimeRange.eternity(), None))
    record, _ = store.run(store.catalog.get_object(f"{shared}-0", None, 10))
    assert record.referenced_by_flows == [second] and record.first_referenced_by_flow is None
    store.run(store.catalog.delete_segments(second, TimeRange.eternity(), None))
    assert store.run(store.catalog.get_object(f"{shared}-0", None, 10)) is None  # orphan collected


def test_tag_filters_including_tag_exists_false(store: Harness) -> None:
    label = new_id()
    red = store.flow(label=label, tags={"colour": "red", "genre": ["news", "sport"]})
    blue = store.flow(label=label, tags={"colour": "blue"})
    plain = store.flow(label=label)

    def ids(tags: TagFilter) -> set[str]:
        page = store.run(store.catalog.list_flows(FlowQuery(label=label, tags=tags), None, 100))
        return {f["id"] for f in page.items}

    assert ids(TagFilter(values={"colour": ["red", "green"]})) == {red}
    assert ids(TagFilter(values={"genre": ["sport"]})) == {red}
    assert ids(TagFilter(exists={"colour": True})) == {red, blue}
    assert ids(TagFilter(exists={"colour": False})) == {plain}


def test_flow_listing_pages_in_a_stable_order(store: Harness) -> None:
    label = new_id()
    made = {store.flow(label=label) for _ in range(7)}
    seen, page = [], None
    while True:
        result = store.run(store.catalog.list_flows(FlowQuery(label=label), page, 3))
        seen.extend(f["id"] for f in result.items)
        page = result.next_key
        if page is None:
            break
    assert set(seen) == made and len(seen) == 7


def test_deletion_requests_work_in_batches(store: Harness) -> None:
    flow_id = store.flow(two_second(25))
    done, request = store.run(store.catalog.request_segment_deletion(flow_id, TimeRange.parse("[0:0_40:0)"), 5, None))
    assert done is None and request["status"] == "created"
    rounds = 0
    finished = False
    while not finished:
        _, finished = store.run(store.catalog.work_deletion(request["id"], 5))
        rounds += 1
    assert rounds >= 4
    assert store.ranges(flow_id)[0] == two_second(5, start=40)
    assert store.run(store.catalog.get_deletion(request["id"]))["status"] == "done"


def test_events_are_dense_and_ordered(store: Harness) -> None:
    before = store.run(store.catalog.last_event_seq())
    flow_id = store.flow(two_second(3))
    events = store.run(store.catalog.events_after(before, 100))
    assert [e[0] for e in events] == list(range(before + 1, before + 1 + len(events)))
    assert [e[1] for e in events][-1] == "flows/segments_added" and events[-1][2] == flow_id


# -- edges where the two stores once differed: each shared workflow now behaves the same on both ----------
def test_deletion_requests_on_unknown_ids(store: Harness) -> None:
    unknown = new_id()
    with pytest.raises(NotFound):  # SQLite once raised TypeError here
        store.run(store.catalog.work_deletion(unknown, 5))
    store.run(store.catalog.fail_deletion(unknown, "gone"))  # nothing to record: no error (SQLite once crashed)
    assert store.run(store.catalog.get_deletion(unknown)) is None


def test_failed_deletion_request_records_the_error(store: Harness) -> None:
    flow_id = store.flow(two_second(3))
    request = store.run(store.catalog.request_flow_deletion(flow_id, "alice"))
    assert request is not None and request["created_by"] == "alice" and request["delete_flow"] is True
    assert store.run(store.catalog.request_flow_deletion(flow_id, None))["id"] == request["id"]  # one at a time
    store.run(store.catalog.fail_deletion(request["id"], "disk on fire"))
    failed = store.run(store.catalog.get_deletion(request["id"]))
    assert failed["status"] == "error" and failed["error"]["summary"] == "disk on fire"
    assert request["id"] not in store.run(store.catalog.pending_deletions())


def test_a_batch_of_exactly_the_remaining_segments_finishes_the_request(store: Harness) -> None:
    flow_id = store.flow(two_second(10))
    result, request = store.run(store.catalog.request_segment_deletion(flow_id, TimeRange.eternity(), 5, None))
    assert result is None and request is not None
    first = store.run(store.catalog.work_deletion(request["id"], 5))
    assert (first.result.count, first.done) == (5, False)
    assert store.run(store.catalog.get_deletion(request["id"]))["timerange_remaining"] == "[10:0_"
    second = store.run(store.catalog.work_deletion(request["id"], 5))
    assert (second.result.count, second.done) == (5, True)  # SQLite once needed a third, empty round
    assert store.run(store.catalog.get_deletion(request["id"]))["timerange_remaining"] == "()"


def test_flow_deletion_request_deletes_the_flow_and_its_source(store: Harness) -> None:
    flow_id = store.flow(two_second(4))
    source_id = store.run(store.catalog.get_flow(flow_id))["source_id"]
    request = store.run(store.catalog.request_flow_deletion(flow_id, None))
    while not store.run(store.catalog.work_deletion(request["id"], 3)).done:
        pass
    assert store.run(store.catalog.get_flow(flow_id)) is None
    assert store.run(store.catalog.get_source(source_id)) is None
    assert store.run(store.catalog.get_deletion(request["id"]))["status"] == "done"


def test_empty_flow_deletion_is_immediate(store: Harness) -> None:
    flow_id = store.flow()
    assert store.run(store.catalog.request_flow_deletion(flow_id, None)) is None
    assert store.run(store.catalog.get_flow(flow_id)) is None
    with pytest.raises(NotFound):
        store.run(store.catalog.request_flow_deletion(flow_id, None))


def test_property_writes_on_unknown_ids(store: Harness) -> None:
    with pytest.raises(NotFound):
        store.run(store.catalog.set_flow_field(new_id(), "label", "x"))
    with pytest.raises(NotFound):
        store.run(store.catalog.set_source_tag(new_id(), "genre", "news"))
    with pytest.raises(NotFound):
        store.run(store.catalog.delete_flow(new_id()))


def test_source_tags_filter_after_a_tag_write(store: Harness) -> None:
    flow_id = store.flow()
    source_id = store.run(store.catalog.get_flow(flow_id))["source_id"]
    label = new_id()
    store.run(store.catalog.set_source_field(source_id, "label", label))
    store.run(store.catalog.set_source_tag(source_id, "genre", ["news", "sport"]))

    def ids(tags: TagFilter) -> list[str]:
        page = store.run(store.catalog.list_sources(SourceQuery(label=label, tags=tags), None, 10))
        return [s["id"] for s in page.items]

    assert ids(TagFilter(values={"genre": ["sport"]})) == [source_id]
    store.run(store.catalog.set_source_tag(source_id, "genre", None))
    assert ids(TagFilter(exists={"genre": True})) == []
    assert ids(TagFilter(exists={"genre": False})) == [source_id]


def test_moving_the_last_flow_of_a_source_drops_the_source(store: Harness) -> None:
    flow_id, old_source, new_source = new_id(), new_id(), new_id()
    store.run(store.catalog.put_flow(video_flow(flow_id, old_source), None))
    before = store.run(store.catalog.last_event_seq())
    result = store.run(store.catalog.put_flow(video_flow(flow_id, new_source), None))
    assert (result.created, result.source_created) == (False, True)
    assert store.run(store.catalog.get_source(old_source)) is None
    events = store.run(store.catalog.events_after(before, 100))
    assert [(e.type, e.source_id) for e in events] == [
        ("sources/created", new_source),
        ("flows/updated", new_source),
        ("sources/deleted", old_source),
    ]


def test_deleting_a_flow_removes_it_from_the_collections_naming_it(store: Harness) -> None:
    child = store.flow()
    parent = store.flow(flow_collection=[{"id": child, "role": "video"}])
    assert store.run(store.catalog.get_flow(child))["collected_by"] == [parent]
    store.run(store.catalog.delete_flow(child))
    assert store.run(store.catalog.get_flow(parent)).get("flow_collection") == []
    with pytest.raises(Invalid):  # members must exist
        store.run(store.catalog.set_flow_field(parent, "flow_collection", [{"id": new_id(), "role": "x"}]))


def test_records_cross_the_boundary_by_name(store: Harness) -> None:
    flow_id = store.flow()
    object_id = new_id()
    store.run(
        store.catalog.allocate(
            flow_id, [Allocation(object_id, "store-1", f"objects/{object_id}")], time.time_ns() + 10**12
        )
    )
    assert store.run(store.catalog.add_segments(flow_id, [{"object_id": object_id, "timerange": "[0:0_2:0)"}])) == []
    found = store.run(store.catalog.get_object(object_id, None, 10))
    assert isinstance(found, ObjectPage) and found.record.referenced_by_flows == [flow_id] and found.next_key is None
    mine = [i for i in store.run(store.catalog.all_instances()) if i.object_id == object_id]
    assert mine == [StoredInstance(object_id, "store-1", f"objects/{object_id}")]
    locations = store.run(store.catalog.object_locations([object_id, new_id()]))
    assert locations == {object_id: Locations((Instance("store-1", f"objects/{object_id}"),), ())}
    event = store.run(store.catalog.events_after(store.run(store.catalog.last_event_seq()) - 1, 1))[0]
    assert isinstance(event, Event) and event.type == "flows/segments_added" and event.flow_id == flow_id


def test_a_page_carries_each_objects_instances_and_urls(store: Harness) -> None:
    # a page mixes objects with no location, one controlled instance, two, and a client URL
    flow_id = store.flow()
    ids = [new_id() for _ in range(4)]
    allocations = [Allocation(oid, "store-1", f"objects/{oid}") for oid in ids[1:3]]
    store.run(store.catalog.allocate(flow_id, allocations, time.time_ns() + 10**12))
    batch = [{"object_id": oid, "timerange": f"[{2 * n}:0_{2 * n + 2}:0)"} for n, oid in enumerate(ids)]
    batch[3]["get_urls"] = [{"label": "cdn", "url": "https://cdn.example/x"}]
    assert store.run(store.catalog.add_segments(flow_id, batch)) == []
    store.run(store.catalog.add_instance(ids[2], "store-2", f"copies/{ids[2]}"))
    expected = store.run(store.catalog.object_locations(ids))
    for reverse in (False, True):
        page = store.run(store.catalog.query_segments(flow_id, SegmentQuery(reverse=reverse), None, 10))
        assert [s.object_id for s in page.items] == (ids[::-1] if reverse else ids)
        for seg in page.items:
            want = expected.get(seg.object_id, Locations((), ()))
            assert (seg.instances, seg.uncontrolled_urls) == (want.instances, want.uncontrolled_urls)
            assert (seg.init_instances, seg.init_uncontrolled_urls) == ((), ())
    assert len(expected[ids[2]].instances) == 2 and expected[ids[3]].uncontrolled_urls
