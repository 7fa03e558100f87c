"""The pure permission rules of catalog/access.py: grants, denies, holding, reclassifying, creation."""

from __future__ import annotations

import pytest

from catalog.access import PERMISSIONS, Identity, Policy, PolicyError

POLICY = Policy.from_json(
    {
        "groups": {
            "news": {"news": ["read", "write", "delete"]},
            "sport_ro": {"sport": ["read"]},
            "archive": {"archive": ["read", "write"], "news": ["read"]},
            "*": {"public": ["read"]},
        },
        "deny": {"archive": {"embargoed": ["read", "write", "delete"]}, "news": {"archive": ["delete"]}},
        "defaults": {"news": ["news"]},
    }
)
NEWS, RO, ARCHIVE = (Identity(n, frozenset({n})) for n in ("news", "sport_ro", "archive"))
ADMIN = Identity("root", admin=True)


def test_permissions_are_the_union_of_allows_less_any_deny():
    assert POLICY.permissions(NEWS, {"news"}) == PERMISSIONS
    assert POLICY.permissions(RO, {"sport"}) == {"read"}
    assert POLICY.permissions(NEWS, {"sport"}) == frozenset()
    assert POLICY.permissions(ARCHIVE, {"news", "archive"}) == {"read", "write"}
    assert POLICY.permissions(ARCHIVE, {"news", "embargoed"}) == frozenset()  # a deny wins
    assert POLICY.permissions(NEWS, {"news", "archive"}) == {"read", "write"}
    assert POLICY.permissions(RO, {"public"}) == {"read"}  # "*" is everyone
    assert POLICY.permissions(NEWS, set()) == frozenset()  # unclassified: admins only, by default
    assert POLICY.permissions(NEWS, set(), backend=True) == PERMISSIONS
    assert POLICY.permissions(ADMIN, {"anything"}) == PERMISSIONS


def test_listing_filter_matches_permissions():
    flt = POLICY.filter_for(ARCHIVE)
    assert flt is not None and flt.classes == {"archive", "news", "public"} and flt.denied == {"embargoed"}
    assert flt.admits({"auth_classes": ["news"]}) and not flt.admits({"auth_classes": ["news", "embargoed"]})
    assert not flt.admits({}) and POLICY.filter_for(ADMIN) is None


def test_nobody_raises_their_own_classes():
    assert POLICY.may_reclassify(NEWS, {"news"}, {"news", "sport"})  # does not hold sport
    assert POLICY.may_reclassify(RO, {"sport"}, {"sport", "public"})  # holds neither (read only)
    assert POLICY.may_reclassify(NEWS, {"news", "archive"}, {"news"})  # would gain delete
    assert POLICY.may_reclassify(ARCHIVE, {"archive"}, {"archive", "news"})  # reads news, cannot grant it
    assert POLICY.may_reclassify(NEWS, {"news"}, {"news"}) is None
    assert POLICY.may_reclassify(ADMIN, set(), {"x"}) is None


def test_creation_takes_held_classes_or_defaults():
    assert POLICY.creation_classes(NEWS, ()) == (("news",), None)
    assert POLICY.creation_classes(NEWS, {"news"}) == (("news",), None)
    assert POLICY.creation_classes(NEWS, {"sport"})[1]
    assert POLICY.creation_classes(RO, ())[1]  # no default and nothing given


@pytest.mark.parametrize(
    "bad",
    [[], {"groups": {"g": ["read"]}}, {"groups": {"g": {"c": ["fly"]}}}, {"unknown": 1}, {"defaults": {"g": "c"}}],
)
def test_bad_policies_are_refused(bad):
    with pytest.raises(PolicyError):
        Policy.from_json(bad)
