"""What is particular to the VAST DB store: pushdown rules, unordered rows, conflicts and repair.

These run on the in-memory fake (there is no VAST emulator); the fake validates every predicate
with the vastdb SDK's own serializer, so what passes here is what a cluster accepts.
"""

from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pytest
from conftest import new_id, video_flow
from ibis import _

from catalog.store import SegmentQuery
from catalog.timing import TimeRange
from catalog.vast import VastCatalog, segments
from catalog.vast.fake import FakeVast
from catalog.vast.rows import insert, select
from gateway.config import load_settings


def test_the_sdk_serializer_the_fake_relies_on_is_still_there() -> None:
    import vastdb

    from catalog.vast import pushdown

    major, minor = (int(p) for p in vastdb.version().split(".")[:2])
    assert (major, minor) == (2, 1), f"vastdb {vastdb.version()}: re-check catalog/vast/pushdown.py, then the pin"
    try:
        from vastdb._internal import build_query_data_request  # noqa: F401
        from vastdb.table_metadata import TableMetadata  # noqa: F401
    except ImportError as exc:  # pragma: no cover - fails loudly when the SDK moves its private module
        pytest.fail(f"vastdb moved its predicate serializer ({exc}); the fake can no longer check pushdown")
    assert pushdown.validate is not None


@pytest.mark.parametrize(
    "predicate",
    [
        (_.flow_id == "a") | (_.ts_lo > 3),  # OR across columns (a compound keyset cursor)
        _.ts_lo < _.ts_hi,  # column against column
        (_.ts_hi - _.ts_lo) > 5,  # arithmetic
        ~_.object_id.contains("x"),  # negated substring (tag_exists=false in the system we replace)
        _.object_id.notnull(),
        _.object_id.endswith("x"),
    ],
)
def test_the_fake_refuses_what_vast_cannot_push_down(predicate: object) -> None:
    fake = FakeVast()
    with pytest.raises(NotImplementedError), fake.transaction() as tx:
        tx.select("segments", ["ts_lo"], predicate)


def _segments(tx: object, flow_id: str, n: int) -> None:
    insert(
        tx,
        "segments",
        [
            {
                "flow_id": flow_id,
                "ts_lo": i * 10,
                "ts_hi": i * 10 + 9,
                "timerange": "[0:0_1:0)",
                "object_id": f"o{i}",
                "created_ns": i,
            }
            for i in range(n)
        ],
    )


def test_rows_come_back_unordered_and_limits_pick_arbitrary_rows() -> None:
    fake = FakeVast(seed=3)
    with fake.transaction() as tx:
        _segments(tx, "f", 200)
    with fake.transaction() as tx:
        first = [r["ts_lo"] for r in select(tx, "segments", _.flow_id == "f", ["ts_lo"])]
        second = [r["ts_lo"] for r in select(tx, "segments", _.flow_id == "f", ["ts_lo"])]
        limited = select(tx, "segments", _.flow_id == "f", ["ts_lo"], limit=5)
    assert sorted(first) == sorted(second) == [i * 10 for i in range(200)]
    assert first != sorted(first) and first != second
    assert len(limited) == 5


def test_a_transaction_sees_its_snapshot_and_commits_atomically() -> None:
    fake = FakeVast()
    with fake.transaction() as reader, fake.transaction() as writer:
        _segments(writer, "f", 3)
        assert len(select(writer, "segments", _.flow_id == "f")) == 3
        assert select(reader, "segments", _.flow_id == "f") == []
    with pytest.raises(RuntimeError), fake.transaction() as tx:
        _segments(tx, "g", 3)
        raise RuntimeError("the operation fails half way")
    with fake.transaction() as tx:
        assert len(select(tx, "segments", _.flow_id == "f")) == 3
        assert select(tx, "segments", _.flow_id == "g") == []  # rolled back


def test_write_write_conflicts_fail_the_second_committer() -> None:
    from catalog.vast.connection import Conflict
    from catalog.vast.rows import update_where

    fake = FakeVast()
    with fake.transaction() as tx:
        _segments(tx, "f", 1)
    # early commits first (contexts exit in reverse), so late's commit is the one that conflicts
    with pytest.raises(Conflict), fake.transaction() as late, fake.transaction() as early:
        update_where(early, "segments", _.object_id == "o0", {"ts_hi": 5})
        update_where(late, "segments", _.object_id == "o0", {"ts_hi": 6})
    with fake.transaction() as tx:
        assert select(tx, "segments", _.object_id == "o0", ["ts_hi"]) == [{"ts_hi": 5}]


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]  # callers pass coroutines; typed object to stay short


async def _with_flow(catalogs: list[VastCatalog]) -> str:
    for catalog in catalogs:
        await catalog.start()
    flow_id = new_id()
    await catalogs[0].put_flow(video_flow(flow_id, new_id()), None)
    return flow_id


def test_two_replicas_writing_the_same_span_keep_one_segment() -> None:
    """Two gateways (separate write lanes) on one store: the flow-row conflict makes one retry and fail."""
    fake = FakeVast()
    first, second = VastCatalog(fake), VastCatalog(fake)

    async def race() -> tuple[list, list, int]:
        flow_id = await _with_flow([first, second])
        a, b = await asyncio.gather(
            first.add_segments(flow_id, [{"object_id": new_id(), "timerange": "[0:0_2:0)"}]),
            second.add_segments(flow_id, [{"object_id": new_id(), "timerange": "[1:0_3:0)"}]),
        )
        stats = await first.flow_stats(flow_id)
        page = await first.query_segments(flow_id, SegmentQuery(), None, 10)
        assert stats.count == len(page.items)
        return a, b, stats.count

    for _attempt in range(5):
        a, b, count = _run(race())
        assert count == 1 and len(a) + len(b) == 1


def test_overlap_repair_is_deterministic_whoever_runs_it() -> None:
    """Without write conflicts (VAST's semantics are unverified), the post-commit repair picks the loser."""
    for runner in (0, 1):
        fake = FakeVast(detect_conflicts=False)
        catalog = VastCatalog(fake)
        flow_id = _run(_with_flow([catalog]))
        assert _run(catalog.add_segments(flow_id, [{"object_id": "early", "timerange": "[0:0_2:0)"}])) == []
        with fake.transaction() as tx:  # what a racing replica's commit leaves behind
            tr = TimeRange.parse("[1:0_3:0)")
            insert(
                tx,
                "segments",
                [
                    {
                        "flow_id": flow_id,
                        "ts_lo": tr.lo,
                        "ts_hi": tr.hi,
                        "timerange": str(tr),
                        "object_id": "late",
                        "created_ns": time.time_ns(),
                    }
                ],
            )
        spans = [(tr.lo, tr.hi)] if runner else [(0, 1_999_999_999)]
        with fake.transaction() as tx:
            lost = segments.repair_overlaps(tx, flow_id, spans)
        assert lost == [(tr.lo, tr.hi)]
        with fake.transaction() as tx:
            left = [r["object_id"] for r in select(tx, "segments", _.flow_id == flow_id, ["object_id"])]
        assert left == ["early"]


def test_a_uniform_page_is_one_select_and_gaps_cost_a_few_more() -> None:
    fake = FakeVast()
    catalog = VastCatalog(fake)
    flow_id = _run(_with_flow([catalog]))
    uniform = [{"object_id": new_id(), "timerange": f"[{2 * i}:0_{2 * i + 2}:0)"} for i in range(500)]
    assert _run(catalog.add_segments(flow_id, uniform)) == []
    fake.select_calls.clear()
    page = _run(catalog.query_segments(flow_id, SegmentQuery(timerange=TimeRange.parse("[100:0_")), None, 100))
    assert len(page.items) == 100 and page.next_key is not None
    assert fake.select_calls["segments"] == 1


def test_vast_catalog_needs_its_connection_settings() -> None:
    with pytest.raises(ValueError, match="TAMS_VAST_ENDPOINT, TAMS_VAST_ACCESS_KEY"):
        load_settings({"TAMS_CATALOG": "vast"})
    settings = load_settings(
        {
            "TAMS_CATALOG": "vast",
            "TAMS_VAST_ENDPOINT": "http://vip",
            "TAMS_VAST_ACCESS_KEY": "a",
            "TAMS_VAST_SECRET_KEY": "s",
            "TAMS_VAST_BUCKET": "db",
            "TAMS_VAST_DATA_ENDPOINTS": "http://v1, http://v2",
        }
    )
    assert settings.vast_data_endpoints == ("http://v1", "http://v2") and settings.vast_schema == "tams"


class _Projection:
    def __init__(self, name: str) -> None:
        self.name = name


class _Table:
    """Stands in for an SDK table during DDL (no VAST server can run here; see docs/VAST.md)."""

    def __init__(self, schema, sorting_key=()) -> None:
        self.arrow_schema = schema
        self.sorting_key = list(sorting_key)
        self.made: list[tuple] = []

    def add_column(self, columns) -> None:
        self.arrow_schema = pa.schema(list(self.arrow_schema) + list(columns))

    def projections(self):
        return [_Projection(p[0]) for p in self.made]

    def create_projection(self, name, sorted_columns, unsorted_columns) -> None:
        self.made.append((name, sorted_columns, unsorted_columns))


class _Schema:
    def __init__(self) -> None:
        self.tables: dict[str, _Table] = {}

    def table(self, name, fail_if_missing=True):
        return self.tables.get(name)

    def create_table(self, name, schema, sorting_key=()):
        self.tables[name] = _Table(schema, sorting_key)
        return self.tables[name]


class _Bucket:
    def __init__(self) -> None:
        self.schemas: dict[str, _Schema] = {}

    def schema(self, name, fail_if_missing=True):
        return self.schemas.get(name)

    def create_schema(self, name):
        return self.schemas.setdefault(name, _Schema())


class _Tx:
    def __init__(self) -> None:
        self.buckets = {"db": _Bucket()}

    def bucket(self, name):
        return self.buckets[name]


@pytest.mark.parametrize("elysium", [True, False])
def test_start_creates_and_migrates_tables_and_projections(elysium: bool) -> None:
    from catalog.vast.connection import ensure_tables
    from catalog.vast.schema import TABLES

    tx = _Tx()
    ensure_tables(tx, "db", "tams", elysium)
    schema = tx.buckets["db"].schemas["tams"]
    assert set(schema.tables) == set(TABLES)
    segments_table = schema.tables["segments"]
    assert segments_table.sorting_key == (["flow_id", "ts_lo"] if elysium else [])
    names = [p[0] for p in segments_table.made]
    assert names == (["seg_by_object"] if elysium else ["seg_by_object", "seg_by_flow_time"])
    # an older deployment: a table lacks a column the code now has; start adds it, and nothing twice
    flows = schema.tables["flows"]
    newest = TABLES["flows"].names[-1]
    flows.arrow_schema = pa.schema([f for f in flows.arrow_schema if f.name != newest])
    ensure_tables(tx, "db", "tams", elysium)
    assert flows.arrow_schema.names[-1] == newest
    assert [p[0] for p in segments_table.made] == names


def test_an_unreachable_catalog_is_a_503_and_changes_nothing(tmp_path) -> None:
    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import Settings

    fake = FakeVast()
    catalog = VastCatalog(fake)
    app = create_app(Settings(data_dir=tmp_path / "data", catalog="vast-fake", require_allocation=False), catalog)
    with TestClient(app, base_url="http://testserver") as client:
        flow_id = new_id()
        assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
        fake.down = True
        response = client.post(f"/flows/{flow_id}/segments", json={"object_id": new_id(), "timerange": "[0:0_1:0)"})
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.json()["summary"] == "fake VAST DB is down"
        assert client.get("/readyz").status_code == 503
        fake.down = False
        assert client.get("/readyz").status_code == 200
        assert client.get(f"/flows/{flow_id}/segments").json() == []


def test_an_unreachable_cluster_is_one_clear_error_at_start() -> None:
    from conftest import free_port

    from catalog.vast.connection import VastConnection, VastSettings

    connection = VastConnection(
        VastSettings(
            endpoint=f"http://127.0.0.1:{free_port()}",
            access_key="a",
            secret_key="s",
            bucket="tams-db",
            retry_s=0.5,
            timeout=2,
        )
    )
    with pytest.raises(RuntimeError, match=r"VAST DB catalog at http://127\.0\.0\.1:\d+ \(bucket 'tams-db'"):
        connection.start()


def test_start_reaches_a_vast_endpoint_with_signed_requests() -> None:
    """A loopback HTTP server that answers only the SDK's version probe, as a VAST endpoint would:
    the real connection path signs its requests, reads the version, then fails clearly at the first
    table call (a VAST server cannot run here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from catalog.vast.connection import VastConnection, VastSettings

    seen: list[tuple[str, str, str]] = []

    class VersionOnly(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append((self.command, self.path, self.headers.get("Authorization", "")))
            probe = self.headers.get("tabular-get-vast-version") == "true"
            self.send_response(200 if probe else 501)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = _answer

        def version_string(self) -> str:  # the Server header the SDK checks
            return "vast 5.4.0.1"

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), VersionOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = VastConnection(
            VastSettings(
                endpoint=f"http://127.0.0.1:{server.server_port}",
                access_key="AK",
                secret_key="SK",
                bucket="tams-db",
                retry_s=0.5,
                timeout=2,
            )
        )
        with pytest.raises(RuntimeError, match="is not usable"):
            connection.start()
    finally:
        server.shutdown()
    probe = seen[0]
    assert probe[0] == "GET" and probe[1].startswith("/?transaction")
    assert probe[2].startswith("AWS4-HMAC-SHA256 Credential=AK/")  # SigV4, as VAST requires
    assert seen[1][:2] == ("POST", "/?transaction")  # then began the DDL transaction, which the stub refuses


def test_a_journaled_fake_outlives_its_process_and_ignores_a_torn_commit(tmp_path) -> None:
    journal = tmp_path / "fake.journal"
    first = FakeVast(journal=journal)
    first.start()
    with first.transaction() as tx:
        _segments(tx, "f", 3)
    with first.transaction() as tx:
        from catalog.vast.rows import delete_where

        delete_where(tx, "segments", _.object_id == "o1")
    first.close()
    with journal.open("ab") as torn:  # a commit killed half-way through its write
        torn.write(b"\x80\x04\x95garbage")
    second = FakeVast(journal=journal)
    second.start()
    with second.transaction() as tx:
        assert sorted(r["object_id"] for r in select(tx, "segments")) == ["o0", "o2"]
        _segments(tx, "g", 1)  # new rows get fresh row ids after the replayed ones
        ids = tx.select("segments", ["object_id"], row_ids=True)["$row_id"].to_pylist()
    assert len(set(ids)) == len(ids) == 3
    second.close()
    third = FakeVast(journal=journal)  # commits after the torn record are kept too
    third.start()
    with third.transaction() as tx:
        assert sorted(r["object_id"] for r in select(tx, "segments")) == ["o0", "o0", "o2"]
    third.close()
