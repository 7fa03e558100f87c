"""Exact time: the TAMS grammar, canonical output, set semantics and rate arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.timing import NS_MAX, TimeFormatError, TimeRange, Timestamp, envelope_text

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "lo", "hi", "canonical"),
    [
        ("[0:0_10:0)", 0, 10 * S - 1, "[0:0_10:0)"),
        ("[5:0]", 5 * S, 5 * S, "[5:0]"),
        ("5:0", 5 * S, 5 * S, "[5:0]"),
        ("[10:0_10:0]", 10 * S, 10 * S, "[10:0]"),
        ("(5:0_", 5 * S + 1, None, "(5:0_"),
        ("_10:0)", None, 10 * S - 1, "_10:0)"),
        ("-1:0_1:0", -S, S, "[-1:0_1:0]"),
        ("[-1:500000000_0:0)", -S - S // 2, -1, "[-1:500000000_0:0)"),
        ("[1:5_2:0)", S + 5, 2 * S - 1, "[1:5_2:0)"),
        ("[0:0_", 0, None, "[0:0_"),
    ],
)
def test_grammar_forms(text, lo, hi, canonical):
    tr = TimeRange.parse(text)
    assert (tr.lo, tr.hi) == (lo, hi)
    assert str(tr) == canonical


@pytest.mark.parametrize("text", ["_", "[_]", "(_)", "[_", "_)"])
def test_eternity_forms(text):
    assert TimeRange.parse(text).is_eternity() and str(TimeRange.parse(text)) == "_"


@pytest.mark.parametrize("text", ["()", "", "[]", "(10:0)", "[10:0)", "(10:0]", "[5:0_1:0)", "(1:0_1:0]"])
def test_empty_forms(text):
    assert TimeRange.parse(text).is_empty() and str(TimeRange.parse(text)) == "()"


@pytest.mark.parametrize(
    "text", ["1:05", "1:1000000000", "01:0", "1.5", "abc", "1:0_2:0_3:0", "[[0:0_1:0)", "--1:0", "1:-5", " 1:0"]
)
def test_malformed_is_refused_naming_the_value(text):
    with pytest.raises(TimeFormatError, match="invalid"):
        TimeRange.parse(text)
    with pytest.raises(ValueError):
        Timestamp.parse(text)


def test_timestamp_values_and_sign():
    assert Timestamp.parse("1:5").ns == S + 5
    assert Timestamp.parse("-1:500000000").ns == -(S + S // 2)
    assert Timestamp.parse("-0:500000000").ns == -(S // 2)
    assert Timestamp.parse("-0:0") == Timestamp.parse("0:0")
    assert str(Timestamp(-(S + S // 2))) == "-1:500000000"
    assert str(Timestamp(-1)) == "-0:1"
    with pytest.raises(TimeFormatError):
        Timestamp.parse(5)  # type: ignore[arg-type]  # the wrong type on purpose: it must be refused


def test_rate_arithmetic_is_exact():
    ntsc = Fraction(30000, 1001)
    t = Timestamp.from_count(30000, ntsc)
    assert t.ns == 1001 * S and isinstance(t.ns, int)
    assert Timestamp.parse("1001:0").to_count(ntsc) == 30000
    assert Timestamp.from_count(1, ntsc).ns == 33366667  # 1001/30000 s rounded to the nearest ns
    assert isinstance(Timestamp.parse("0:1").to_count(Fraction(48000)), Fraction)
    assert Timestamp.from_seconds(Fraction(1, 3)).ns == 333333333


def test_operations():
    a, b = TimeRange.parse("[0:0_10:0)"), TimeRange.parse("[10:0_20:0)")
    assert not a.overlaps(b)
    assert str(a.envelope(b)) == "[0:0_20:0)"
    assert a.intersect(b).is_empty()
    assert str(TimeRange.parse("[5:0_15:0]").intersect(b)) == "[10:0_15:0]"
    assert TimeRange.parse("_").contains(a) and a.contains(TimeRange.never())
    assert not a.contains(TimeRange.parse("[5:0_"))
    assert str(a.shift(-10 * S)) == "[-10:0_0:0)"
    assert TimeRange.parse("[1:0_2:0)").length_ns() == S
    assert not TimeRange.parse("[1:0_2:0)").overlaps(TimeRange.parse("[2:0]"))
    assert str(TimeRange.parse("_5:0)").envelope(TimeRange.parse("[3:0_9:0]"))) == "_9:0]"


# -- properties -----------------------------------------------------------------------------------
# every bound a store can hold, its first and last nanosecond included (docs/SECURITY.md)
bounds = st.one_of(st.none(), st.integers(min_value=-NS_MAX + 1, max_value=NS_MAX - 1))
small = st.one_of(st.none(), st.integers(min_value=-20, max_value=20))


@st.composite
def ranges(draw, values=bounds):
    return TimeRange.make(draw(values), draw(values), draw(st.booleans()), draw(st.booleans()))


@given(ranges())
def test_format_then_parse_is_identity_on_canonical_strings(tr):
    text = str(tr)
    again = TimeRange.parse(text)
    assert str(again) == text
    assert (again.is_empty(), again.lo, again.hi) == (tr.is_empty(), tr.lo, tr.hi)


@given(st.integers(min_value=-NS_MAX, max_value=NS_MAX))
def test_timestamp_round_trip(ns):
    assert Timestamp.parse(str(Timestamp(ns))).ns == ns


@given(
    st.one_of(
        st.integers(min_value=NS_MAX + 1, max_value=10**40), st.integers(max_value=-NS_MAX - 1, min_value=-(10**40))
    )
)
def test_timestamps_beyond_int64_are_refused(ns):
    with pytest.raises(TimeFormatError, match="out of range"):
        Timestamp.parse(str(Timestamp(ns)))


WINDOW = range(-30, 31)


def instants(tr: TimeRange) -> set[int]:
    """Brute-force model: the set of nanoseconds in the range, within a window wider than any bound."""
    return {t for t in WINDOW if tr.contains_point(t)}


@given(ranges(small), ranges(small))
def test_operations_agree_with_the_set_model(a, b):
    sa, sb = instants(a), instants(b)
    assert a.overlaps(b) == bool(sa & sb)
    assert b.contains(a) == (sa <= sb)
    assert instants(a.intersect(b)) == sa & sb
    envelope = instants(a.envelope(b))
    assert sa | sb <= envelope
    if sa | sb:
        assert (
            envelope == set(range(min(sa | sb), max(sa | sb) + 1))
            or a.lo is None
            or b.lo is None
            or a.hi is None
            or b.hi is None
        )


@given(ranges(small))
def test_parse_of_str_keeps_the_instants(tr):
    assert instants(TimeRange.parse(str(tr))) == instants(tr)


_bound = st.one_of(st.none(), st.integers(-(10**12), 10**12))
_range = st.builds(TimeRange.make, _bound, _bound, st.booleans(), st.booleans())


@given(_range, _range)
def test_envelope_text_is_the_envelope_of_ranges_in_time_order(a, b):
    # a page's first and last segment (in time order): one starts first, the other ends last, or
    # they are the same segment
    if a.is_empty() or b.is_empty():
        return
    first, last = (a, b) if a.lo is None or (b.lo is not None and a.lo <= b.lo) else (b, a)
    if first != last and (last.hi is not None and (first.hi is None or first.hi >= last.hi)):
        return  # not two segments of a flow: the later one must end last
    assert envelope_text(str(first), str(last)) == str(first.envelope(last))
    assert envelope_text(str(first), str(first)) == str(first)


@given(st.integers(-(2**63), 2**63 - 1))
def test_the_segment_page_key_is_the_generic_one(lo):
    from catalog.paging import decode_key, encode_key, segment_key

    assert segment_key(lo) == encode_key("segments", lo) and decode_key("segments", segment_key(lo), 1) == [lo]
