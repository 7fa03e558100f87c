"""``segments.page_json`` (migration 8): each row's stored page fragment, kept in step by every write.

The column must hold exactly what ``page_json.STORED`` renders from the row in SQL (the fragment
when the row is simple, NULL otherwise) after registration, instance and URL changes and deletes;
registration renders it in Python, so this also checks both renderers give the same bytes. The
migration must fill a catalog written before it the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from conftest import new_id, video_flow

from catalog.sqlite import SQLiteCatalog
from catalog.sqlite.page_json import STORED
from catalog.store import Allocation, SegmentQuery
from catalog.timing import TimeRange

ODD_IDS = ['quote"back\\slash', "tab\tnew\nline\x01", "ünïcødé ✓ \U0001f600", "</script>", "\u2028"]
MEMBERS = [
    {},
    {"ts_offset": "-1:500000000", "last_duration": "0:40000000"},
    {"ts_offset": "12:7", "sample_offset": 3, "sample_count": 0, "key_frame_count": 1},
    {"ts_offset": "0:0", "sample_offset": 0, "sample_count": 25, "key_frame_count": 0},
    {"ts_offset": "-0:1", "last_duration": "123456789:999999999"},
]


def _rows(path: Path) -> list[tuple]:
    """(flow, start, stored page_json, what STORED renders now) of every segment row."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT flow_id, ts_lo, page_json, {STORED} FROM segments ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def _check(path: Path) -> list[tuple]:
    rows = _rows(path)
    assert rows, "no segments"
    for flow_id, lo, stored, rendered in rows:
        assert stored == rendered, (flow_id, lo)
    return rows


async def _catalog(path: Path) -> SQLiteCatalog:
    catalog = SQLiteCatalog(path, readers=1)
    await catalog.start()
    return catalog


async def _flow(catalog: SQLiteCatalog, init_segments: bool = False) -> str:
    flow_id = new_id()
    doc = video_flow(flow_id, new_id())
    doc["essence_parameters"]["init_segments"] = init_segments
    await catalog.put_flow(doc, None)
    return flow_id


async def _add(catalog: SQLiteCatalog, flow_id: str, segments: list[dict]) -> None:
    assert await catalog.add_segments(flow_id, segments) == []


def _seg(object_id: str, n: int, **extra: object) -> dict:
    return {"object_id": object_id, "timerange": f"[{n}:0_{n + 1}:0)", **extra}


async def _build(catalog: SQLiteCatalog) -> dict[str, str]:
    """Every kind of segment row; returns the ids of the objects the later changes act on."""
    flow_id = await _flow(catalog)
    allocated = [new_id() for _ in range(3)]
    await catalog.allocate(
        flow_id, [Allocation(o, "store-a", f"k/{o}", "video/mp2t") for o in allocated], time.time_ns() + 10**12
    )
    segments = [_seg(o, n, **m) for n, (o, m) in enumerate(zip(allocated + [new_id()] * 2, MEMBERS, strict=True))]
    segments[4]["object_id"] = new_id()
    segments += [_seg(o, 10 + n, last_duration="1:0") for n, o in enumerate(ODD_IDS)]
    with_url = new_id()
    segments.append(_seg(with_url, 20, get_urls=[{"label": "cdn", "url": "https://cdn.example/a"}]))
    await _add(catalog, flow_id, segments)
    other = await _flow(catalog)  # a second segment of existing objects (the insert that looks the object up)
    await _add(catalog, other, [_seg(allocated[0], 0), _seg(with_url, 1)])
    init_flow = await _flow(catalog, init_segments=True)
    await _add(catalog, init_flow, [_seg(new_id(), 0, init_object_id=new_id())])
    return {"flow": flow_id, "homed": allocated[0], "homed2": allocated[1], "url": with_url, "odd": ODD_IDS[0]}


def test_registration_stores_what_sql_renders(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"

    async def scenario() -> None:
        catalog = await _catalog(path)
        try:
            ids = await _build(catalog)
            page = await catalog.segment_page_json(ids["flow"], SegmentQuery(TimeRange.parse("[0:0_5:0)")), None, 10)
            assert page is not None
            assert page.fragments[1] == (
                b'{"object_id":"' + ids["homed2"].encode() + b'","timerange":"[1:0_2:0)",'
                b'"ts_offset":"-1:500000000","last_duration":"0:40000000"'
            )
        finally:
            await catalog.close()

    asyncio.run(scenario())
    rows = _check(path)
    assert sum(stored is None for _, _, stored, _ in rows) == 3  # the client URL (twice) and the init object
    assert sum(stored is not None for _, _, stored, _ in rows) == len(MEMBERS) + len(ODD_IDS) + 1


def test_instance_and_url_changes_keep_the_column_in_step(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"

    async def scenario() -> None:
        catalog = await _catalog(path)
        try:
            ids = await _build(catalog)
            homed, flow_id = ids["homed"], ids["flow"]
            query = SegmentQuery(TimeRange.parse("[0:0_1:0)"))
            before = await catalog.segment_page_json(flow_id, query, None, 10)
            assert before is not None
            steps = [
                (catalog.add_instance(homed, "store-b", "k2"), False),  # two controlled instances
                (catalog.remove_instance(homed, "store-a", None), True),  # one again (its home moves)
                (catalog.add_uncontrolled_instance(homed, "https://x.example/a", "x", []), False),
                (catalog.remove_instance(homed, None, "x"), True),
                (catalog.remove_instance(ids["url"], None, "cdn"), None),  # refused: its last instance
            ]
            for change, simple in steps:
                try:
                    await change
                except Exception:
                    assert simple is None
                    continue
                _check(path)
                page = await catalog.segment_page_json(flow_id, query, None, 10)
                assert (page is not None) == simple
                if page is not None:
                    assert page.fragments == before.fragments
            await catalog.add_uncontrolled_instance(ids["homed2"], "https://y.example/b", "y", [])
            await catalog.add_instance(ids["url"], "store-a", "k3")
            await catalog.remove_instance(ids["url"], None, "cdn")  # now simple: one controlled instance
            _check(path)
            assert len([r for r in _rows(path) if r[2] is None]) == 2  # homed2's segment and the init object's
            await catalog.delete_segments(flow_id, TimeRange.parse("[0:0_3:0)"), None)
            _check(path)
        finally:
            await catalog.close()

    asyncio.run(scenario())


def test_migration_8_fills_a_catalog_written_before_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"

    async def build() -> None:
        catalog = await _catalog(path)
        try:
            await _build(catalog)
        finally:
            await catalog.close()

    asyncio.run(build())
    written = _rows(path)
    conn = sqlite3.connect(path, isolation_level=None)
    # the catalog as schema 7 left it: without migration 8's column, nor those of the migrations after it
    conn.execute("ALTER TABLE segments DROP COLUMN page_json")
    conn.execute("ALTER TABLE flows DROP COLUMN seg_cut_added")
    conn.execute("ALTER TABLE flows DROP COLUMN seg_mindur")
    conn.execute("PRAGMA user_version=7")
    conn.close()

    async def reopen() -> None:
        catalog = await _catalog(path)
        await catalog.close()

    asyncio.run(reopen())
    assert _check(path) == written
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 8
    conn.close()


def test_the_page_reads_row_by_row_and_in_one_row_agree(tmp_path: Path) -> None:
    # segment_page_json reads a page in one row of aggregates, or row by row for flows whose pages
    # have home instances: both must answer the same page, whatever the homes
    from catalog.sqlite import segment_reads

    path = tmp_path / "c.sqlite3"

    async def scenario() -> None:
        catalog = await _catalog(path)
        try:
            ids = await _build(catalog)
            flows = [ids["flow"]]
            homed = await _flow(catalog)  # every object on one backend, one key holding a newline
            objects = [new_id() for _ in range(6)]
            keys = [f"k/{o}" for o in objects[:-1]] + ["odd\nkey"]
            await catalog.allocate(
                homed,
                [Allocation(o, "store-a", k, "video/mp2t") for o, k in zip(objects, keys, strict=True)],
                time.time_ns() + 10**12,
            )
            await _add(catalog, homed, [_seg(o, n) for n, o in enumerate(objects)])
            flows.append(homed)
            pages = 0
            for flow_id in flows:
                for reverse in (False, True):
                    for limit in (1, 3, 5, 100):
                        for tr in (None, "[1:0_4:0)", "[3:0_", "[50:0_60:0)"):
                            query = SegmentQuery(TimeRange.parse(tr) if tr else None, None, reverse)

                            def both(
                                conn: sqlite3.Connection,
                                flow_id: str = flow_id,
                                query: SegmentQuery = query,
                                limit: int = limit,
                            ) -> list:
                                where = segment_reads._page_where(flow_id, query, None)
                                if where is None:
                                    return []
                                return [
                                    read(conn, where, query.reverse, limit)
                                    for read in (segment_reads._rendered_aggregate, segment_reads._rendered_rows)
                                ]

                            answers = await catalog.db.read(both)
                            if answers:
                                assert answers[0] == answers[1], (flow_id, reverse, limit, tr)
                                pages += answers[0][0] is not None
            assert pages > 40
        finally:
            await catalog.close()

    asyncio.run(scenario())
