"""The access filter of the catalog listings (``AccessFilter``), run on every store like the contract.

A listing filtered by access must page exactly as if the hidden documents did not exist: the
same pages, the same keys, nothing hidden leaking through a request's own tag filter.
"""

from __future__ import annotations

from typing import Any

import test_catalog_contract
from conftest import new_id, video_flow
from test_catalog_contract import Harness

from catalog.access import Identity, Policy
from catalog.store import AccessFilter, FlowQuery, SourceQuery, TagFilter

store = test_catalog_contract.store  # the contract's fixture: every store
NEWS = AccessFilter(frozenset({"news"}))


def _flows(store: Harness, label: str, access: AccessFilter | None, tags: TagFilter | None = None) -> list[str]:
    seen: list[str] = []
    page = None
    while True:
        query = FlowQuery(label=label, tags=tags or TagFilter())
        result = store.run(store.catalog.list_flows(query, page, 2, access))
        assert len(result.items) <= 2
        seen.extend(f["id"] for f in result.items)
        page = result.next_key
        if page is None:
            return seen


def _classed(store: Harness, label: str, classes: Any) -> str:
    tags = {} if classes is None else {"auth_classes": classes}
    return store.flow(label=label, tags=tags)


def test_flow_listing_admits_only_allowed_classes_and_pages_exactly(store: Harness) -> None:
    label = new_id()
    news = {_classed(store, label, ["news"]) for _ in range(5)}
    both = _classed(store, label, ["news", "sport"])
    sport = {_classed(store, label, ["sport"]) for _ in range(4)}
    scalar = _classed(store, label, "news")  # a scalar tag is one class
    bare = _classed(store, label, None)
    everything = news | sport | {both, scalar, bare}

    assert sorted(_flows(store, label, None)) == sorted(everything)
    seen = _flows(store, label, NEWS)
    assert len(seen) == len(set(seen)) and set(seen) == news | {both, scalar}
    assert set(_flows(store, label, AccessFilter(frozenset({"news"}), unclassified=True))) == news | {
        both,
        scalar,
        bare,
    }
    # a deny wins over an allow
    assert set(_flows(store, label, AccessFilter(frozenset({"news"}), frozenset({"sport"})))) == news | {scalar}
    assert _flows(store, label, AccessFilter()) == []


def test_a_tag_filter_on_auth_classes_cannot_widen_the_listing(store: Harness) -> None:
    label = new_id()
    news = _classed(store, label, ["news"])
    _classed(store, label, ["sport"])
    asked = TagFilter(values={"auth_classes": ["sport", "news"]})
    assert _flows(store, label, NEWS, asked) == [news]
    assert _flows(store, label, NEWS, TagFilter(values={"auth_classes": ["sport"]})) == []


def test_source_and_webhook_listings_are_filtered(store: Harness) -> None:
    label = new_id()
    news_source, sport_source = new_id(), new_id()
    for source_id, cls in ((news_source, "news"), (sport_source, "sport")):
        flow = video_flow(new_id(), source_id, label=label)
        store.run(store.catalog.put_flow(flow, None, {"auth_classes": [cls]}))
    page = store.run(store.catalog.list_sources(SourceQuery(), None, 1000, NEWS))
    ids = {s["id"] for s in page.items}
    assert news_source in ids and sport_source not in ids
    source = store.run(store.catalog.get_source(news_source))
    assert source["tags"]["auth_classes"] == ["news"]  # a new source takes the tags it was given

    hooks = {}
    for cls in ("news", "sport", None):
        doc = {"url": f"https://hooks.example/{new_id()}", "events": ["flows/created"]}
        if cls:
            doc["tags"] = {"auth_classes": [cls]}
        hooks[cls] = store.run(store.catalog.save_webhook(doc))["id"]
    listed = store.run(store.catalog.list_webhooks(TagFilter(), False, None, 1000, NEWS))
    assert [h["id"] for h in listed.items] == [hooks["news"]]


def test_policy_filters_match_policy_permissions(store: Harness) -> None:
    """What a listing admits is exactly what ``Policy.permissions`` grants read on."""
    policy = Policy.from_json(
        {
            "groups": {"news": {"news": ["read", "write"]}, "sport_ro": {"sport": ["read"]}},
            "deny": {"news": {"embargoed": ["read"]}},
        }
    )
    label = new_id()
    made = {
        _classed(store, label, classes): classes
        for classes in (["news"], ["sport"], ["news", "embargoed"], ["archive"], None, ["sport", "news"])
    }
    for groups in ({"news"}, {"sport_ro"}, {"news", "sport_ro"}, set()):
        who = Identity("u", frozenset(groups))
        expected = {flow_id for flow_id, classes in made.items() if "read" in policy.permissions(who, _as_set(classes))}
        assert set(_flows(store, label, policy.filter_for(who))) == expected, groups


def _as_set(classes: Any) -> frozenset[str]:
    return frozenset([classes] if isinstance(classes, str) else classes or [])


def test_object_references_list_only_admitted_flows(store: Harness) -> None:
    news = _classed(store, new_id(), ["news"])
    sport = _classed(store, new_id(), ["sport"])
    object_id = new_id()
    for flow_id in (news, sport):
        assert (
            store.run(store.catalog.add_segments(flow_id, [{"object_id": object_id, "timerange": "[0:0_1:0)"}])) == []
        )
    everyone = store.run(store.catalog.get_object(object_id, None, 10))
    assert sorted(everyone.record.referenced_by_flows) == sorted([news, sport])
    seen = store.run(store.catalog.get_object(object_id, None, 10, None, NEWS))
    assert seen.record.referenced_by_flows == [news]
    assert (
        store.run(store.catalog.get_object(object_id, None, 10, None, AccessFilter())).record.referenced_by_flows == []
    )


def test_vast_rows_written_before_the_access_column_are_decided_by_their_documents() -> None:
    import asyncio

    from ibis import _

    from catalog.vast import VastCatalog
    from catalog.vast.fake import FakeVast
    from catalog.vast.rows import update_where

    fake = FakeVast(seed=3)
    catalog = VastCatalog(fake)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(catalog.start())
        label = new_id()
        made = {}
        for cls in ("news", "sport"):
            flow_id = new_id()
            loop.run_until_complete(
                catalog.put_flow(video_flow(flow_id, new_id(), label=label, tags={"auth_classes": [cls]}), None)
            )
            made[cls] = flow_id
        with fake.transaction() as tx:  # as a store from before the column was added would have them
            assert update_where(tx, "flows", _.label == label, {"auth_classes": None}) == 2
        page = loop.run_until_complete(catalog.list_flows(FlowQuery(label=label), None, 10, NEWS))
        assert [f["id"] for f in page.items] == [made["news"]]
        loop.run_until_complete(catalog.close())
    finally:
        loop.close()
