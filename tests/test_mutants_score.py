"""engine/score.py pinned where mutation testing found it loose (scripts/mutation.py):
the helpers' edges, worked by hand on the calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.engine.dates import from_days, to_days
from socialrating.engine.ledger import NEVER
from socialrating.engine.score import _int32, _term_end, window_after

D = dt.date


def _days(*dates: dt.date) -> np.ndarray:
    return np.array([to_days(d) for d in dates], np.int64)


def test_int32_takes_the_whole_int32_range_and_refuses_one_past_it():
    s = _int32(np.array([-(2**31), 0, 2**31 - 1], np.int64))
    assert s.dtype == pl.Int32 and s.to_list() == [-(2**31), 0, 2**31 - 1]
    assert _int32(np.zeros(0, np.int64)).to_list() == []
    for bad in (2**31, -(2**31) - 1):
        with pytest.raises(OverflowError, match="^a balance does not fit in 32 bits$"):
            _int32(np.array([0, bad], np.int64))


@pytest.mark.parametrize("as_of, months, last_outside", [
    (D(2025, 3, 31), 1, D(2025, 2, 28)),   # Feb 28 + 1 month = Mar 28 <= Mar 31; Mar 1 + 1 = Apr 1
    (D(2025, 3, 1), 1, D(2025, 2, 1)),     # Feb 1 + 1 month = Mar 1: out on the day
    (D(2025, 3, 1), 12, D(2024, 3, 1)),
    (D(2024, 2, 29), 12, D(2023, 2, 28)),  # 2023-03-01 + 12 = 2024-03-01 > Feb 29
    (D(2025, 5, 31), 3, D(2025, 2, 28)),   # Feb 28 + 3 = May 28; Mar 1 + 3 = Jun 1
    (D(2025, 1, 1), 24, D(2023, 1, 1)),
])
def test_window_after_is_the_last_day_out_of_the_window(as_of, months, last_outside):
    assert from_days(window_after(to_days(as_of), months)) == last_outside


def test_term_end_by_hand():
    as_of = to_days(D(2025, 6, 1))
    since = _days(D(2025, 1, 15), D(2025, 1, 15), D(2025, 1, 15), D(2025, 1, 15))
    until = np.array([NEVER, *_days(D(2025, 4, 15), D(2025, 4, 16), D(2025, 2, 1))], np.int64)
    # terms of 3 months from Jan 15: Apr 15, Jul 15. Never lifting: the term running on
    # as_of + 1 (Jun 2) ends Jul 15; lifting on Apr 15 ends that term; a day later, the next
    got = _term_end(since, until, as_of, 3)
    assert [from_days(x) for x in got] == [D(2025, 7, 15), D(2025, 4, 15), D(2025, 7, 15), D(2025, 4, 15)]
    # never lifting, a term ending on as_of + 1 (Jun 2) is the current one; a term ending on
    # as_of (Jun 1) is over, and the next (to Sep 1) is running
    since = _days(D(2025, 3, 2), D(2025, 3, 1))
    got = _term_end(since, np.array([NEVER, NEVER], np.int64), as_of, 3)
    assert [from_days(x) for x in got] == [D(2025, 6, 2), D(2025, 9, 1)]
    # month ends clamp: from Jan 31, 1-month terms end Feb 28, Mar 31; 3-month terms Apr 30
    since = _days(D(2025, 1, 31), D(2025, 1, 31))
    until = _days(D(2025, 2, 28), D(2025, 3, 1))
    assert [from_days(x) for x in _term_end(since, until, as_of, 1)] == [D(2025, 2, 28), D(2025, 3, 31)]
    assert [from_days(x) for x in _term_end(since, until, as_of, 3)] == [D(2025, 4, 30), D(2025, 4, 30)]


def test_household_spill_over_with_two_holders_in_one_household():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    # household 10: citizens 1, 2 (both debtors) and 3; 4 alone in 11 with no debt; 5, a
    # debtor, alone in 12. no-fee-schools applies to the household: 3 gets it via the holder
    # with the lowest id (1), with 1's dates; 1 and 2 hold it in their own right only
    rows = [(2, "court.dishonest_debtor", D(2025, 2, 1), 80000.0),
            (1, "court.dishonest_debtor", D(2025, 1, 15), 80000.0),
            (5, "court.dishonest_debtor", D(2025, 3, 1), 80000.0)]
    res = score(events_frame(rows), load_policy("court-blacklist"), D(2025, 6, 1), np.array([1, 2, 3, 4, 5]),
                households=np.array([10, 10, 10, 11, 12]))
    got = res.consequences.filter(pl.col("consequence_id") == "no-fee-schools")
    why = "an active 'court.dishonest_debtor' entry"
    assert got.select(pl.all().exclude("consequence_id").cast(pl.String)).rows() == [
        ("1", "restriction", "education", "2025-01-15", "2027-01-15", why, None),
        ("2", "restriction", "education", "2025-02-01", "2027-02-01", why, None),
        ("3", "restriction", "education", "2025-01-15", "2027-01-15", "household member: " + why, "1"),
        ("5", "restriction", "education", "2025-03-01", "2027-03-01", why, None),
    ]
    assert got["via_citizen_id"].dtype == pl.Int64 and got["consequence_id"].cast(str).unique().to_list() == [
        "no-fee-schools"]


def test_an_override_for_an_id_between_entries_is_ignored():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    rows = [(3, "court.conviction", D(2025, 2, 1), None),
            (None, "fine.traffic", D(2025, 3, 1), 500.0),  # quarantined: no entry 8
            (3, "fine.traffic", D(2025, 3, 1), 500.0)]
    # entry ids are 0 and 16; 1 (slot 1 of row 0), 8 (the quarantined row) and 15 fall
    # between them and name no entry: nothing is overturned
    ov = pl.DataFrame({"entry_id": [1, 8, 15], "state": ["overturned"] * 3})
    res = score(events_frame(rows), load_policy("we-platform"), D(2025, 6, 1), np.array([3]), overrides=ov)
    assert res.ledger.sort("entry_id").select("entry_id", pl.col("state").cast(str)).rows() == [
        (0, "active"), (16, "active")]


def test_ratings_table_columns_and_types():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    ev = events_frame([(3, "court.conviction", D(2025, 2, 1), None)])
    cols = {"citizen_id": pl.Int64, "as_of": pl.Date, "balance_status": pl.Int32, "balance_level": pl.Int32,
            "status": pl.Int8, "level": pl.Int8}
    we = score(ev, load_policy("we-platform"), D(2025, 6, 1), np.array([3, 4])).ratings
    assert dict(we.schema) == cols and we.columns == list(cols)
    # a conviction is -100 on both balances; 4 has no records: the base 0 (scores 50)
    assert we.rows() == [(3, D(2025, 6, 1), -100, -100, 25, 12), (4, D(2025, 6, 1), 0, 0, 50, 50)]
    rc = score(ev, load_policy("rongcheng"), D(2025, 6, 1), np.array([3, 4])).ratings
    assert rc.columns == [*cols, "band"] and rc["band"].dtype == pl.Enum(["AAA", "AA", "A", "B", "C", "D"])
    # base 1000 (band A); a conviction -50 gives 950, band B
    assert rc.select("citizen_id", "balance_status", pl.col("band").cast(str)).rows() == [(3, 950, "B"), (4, 1000, "A")]


def test_consequences_table_when_nobody_holds_one_and_for_huge_ids():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    we = load_policy("we-platform")
    ev = events_frame([(3, "volunteer.hours", D(2025, 4, 1), 12.0)])
    none = score(ev, we, D(2025, 6, 1), np.array([3, 4])).consequences
    assert none.height == 0 and none.columns == ["citizen_id", "consequence_id", "kind", "context", "since",
                                                  "until", "because", "via_citizen_id"]
    assert [none[c].dtype for c in ("citizen_id", "since", "until", "via_citizen_id")] == [
        pl.Int64, pl.Date, pl.Date, pl.Int64]
    # an id above 2**53 is not exact as a float: it must come out as it went in (-102: status
    # 24, under 25, so we-platform's restrictions apply)
    big = 2**53 + 1
    ev = events_frame([(big, "court.conviction", D(2025, 2, 1), None), (big, "fine.traffic", D(2025, 3, 1), 500.0)])
    got = score(ev, we, D(2025, 6, 1), np.array([big], np.int64)).consequences
    assert got.height > 0 and set(got["citizen_id"].to_list()) == {big}


def test_consequences_sorted_by_consequence_then_citizen_and_huge_via_ids():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    we = load_policy("we-platform")
    rows = [(c, t, d, a) for c in (5, 3) for t, d, a in (("court.conviction", D(2025, 2, 1), None),
                                                         ("fine.traffic", D(2025, 3, 1), 500.0))]
    got = score(events_frame(rows), we, D(2025, 6, 1), np.array([3, 5])).consequences
    held = ["no-credit", "no-good-jobs", "no-study", "no-subsidies", "no-tickets"]
    order = [c.id for c in we.consequences if c.id in held]
    assert sorted(order) == held
    expected = [(k, c) for k in order for c in (3, 5)]
    assert got.select(pl.col("consequence_id").cast(str), "citizen_id").rows() == expected
    # the holder named in via_citizen_id keeps an id above 2**53 exactly
    big = 2**53 + 1
    res = score(events_frame([(big, "court.dishonest_debtor", D(2025, 1, 15), 80000.0)]),
                load_policy("court-blacklist"), D(2025, 6, 1), np.array([big, big + 2], np.int64),
                households=np.array([7, 7]))
    via = res.consequences.filter(pl.col("citizen_id") == big + 2)
    assert via["via_citizen_id"].to_list() == [big]


def _consequence_schema(ids: list[str]) -> dict:
    from socialrating.engine.score import CONSEQUENCE_KIND

    return {"citizen_id": pl.Int64, "consequence_id": pl.Enum(ids), "kind": CONSEQUENCE_KIND,
            "context": pl.String, "since": pl.Date, "until": pl.Date, "because": pl.String,
            "via_citizen_id": pl.Int64}


def test_consequences_table_types_held_or_not_and_without_consequences():
    from case_runner import events_frame, policy_head
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy, parse_policy

    we = load_policy("we-platform")
    want = _consequence_schema([c.id for c in we.consequences])
    ev = events_frame([(3, "court.conviction", D(2025, 2, 1), None), (3, "fine.traffic", D(2025, 3, 1), 500.0)])
    held = score(ev, we, D(2025, 6, 1), np.array([3, 4])).consequences
    assert held.height > 0 and dict(held.schema) == want
    nobody = score(ev.head(1), we, D(2025, 6, 1), np.array([3, 4])).consequences
    assert nobody.height == 0 and dict(nobody.schema) == want
    bare = parse_policy(policy_head("bare", "No consequences", "Rules only.") + """
rules:
  - id: fine
    event_type: fine.traffic
    category: mobility
    points: -5
    reference: law
""")
    none = score(ev, bare, D(2025, 6, 1), np.array([3])).consequences
    assert none.height == 0 and dict(none.schema) == _consequence_schema([])


def test_score_takes_citizen_ids_of_any_integer_type():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    ev = events_frame([(3, "court.conviction", D(2025, 2, 1), None), (3, "fine.traffic", D(2025, 3, 1), 500.0)])
    we = load_policy("we-platform")
    wide = score(ev, we, D(2025, 6, 1), np.array([3, 4], np.int64))
    for ids in (np.array([3, 4], np.int32), np.array([3, 4], np.uint16), [3, 4]):
        got = score(ev, we, D(2025, 6, 1), ids)
        assert got.ratings.equals(wide.ratings) and got.consequences.equals(wide.consequences)
        assert got.ratings["citizen_id"].dtype == pl.Int64 == got.consequences["citizen_id"].dtype


def test_score_returns_its_quarantine():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    ev = events_frame([(3, "court.conviction", D(2025, 2, 1), None), (None, "fine.traffic", D(2025, 3, 1), 500.0),
                       (9, "fine.traffic", D(2025, 3, 1), 500.0)])
    res = score(ev, load_policy("we-platform"), D(2025, 6, 1), np.array([3]))
    assert res.quarantine.height == 2 and res.counts["quarantined"] == 2
    assert res.quarantine["reason"].to_list() == ["missing citizen_id", "unknown citizen_id"]


def test_spells_leave_out_overturned_entries():
    from case_runner import events_frame
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    # row 0 (entry 0) is overturned. Without it, 3 is at -100 (status 25) from Apr 1 and
    # -102 (status 24, under we-platform's 25) from May 1: restricted since May 1. Counting
    # the overturned conviction in the timeline would date the restrictions from Apr 1.
    rows = [(3, "court.conviction", D(2025, 2, 1), None), (3, "court.conviction", D(2025, 4, 1), None),
            (3, "fine.traffic", D(2025, 5, 1), 500.0)]
    ov = pl.DataFrame({"entry_id": [0], "state": ["overturned"]})
    res = score(events_frame(rows), load_policy("we-platform"), D(2025, 6, 1), np.array([3]), overrides=ov)
    assert res.ratings.select("balance_status", "status").rows() == [(-102, 24)]
    assert res.consequences.height > 0 and set(res.consequences["since"].to_list()) == {D(2025, 5, 1)}


def test_window_after_before_1970():
    # day numbers below zero: 1969-05-31 + 1 month = 1969-06-30 (clamped), June 1 + 1 = July 1
    assert from_days(window_after(to_days(D(1969, 6, 30)), 1)) == D(1969, 5, 31)
    assert from_days(window_after(to_days(D(1970, 1, 1)), 12)) == D(1969, 1, 1)


def test_spells_split_over_threads_as_in_one():
    """timeline() splits the holders over the pool's threads once they have 65,536 entries or
    more; the spells must be those of one thread, on two threads and on three. 30,000 citizens with 6 entries each, dates
    spread so since and until differ from citizen to citizen; over 11,000 of them restricted."""
    from case_runner import events_frame
    from socialrating import parallel
    from socialrating.engine import kernels as K
    from socialrating.engine.score import score
    from socialrating.policy.load import load_policy

    n = 30_000
    rows = []
    for c in range(n):
        base = D(2024, 9, 1) + dt.timedelta(days=c % 200)  # we-platform's rules start 2024-07-01
        rows += [(c, "court.conviction", base, None), (c, "fine.traffic", base + dt.timedelta(days=30), 500.0)]
        rows += [(c, "fine.traffic", base + dt.timedelta(days=60 + k * (c % 7 + 1)), 500.0) for k in range(4)]
    ev, we, ids = events_frame(rows), load_policy("we-platform"), np.arange(n)
    with parallel.threads(1):
        one = score(ev, we, D(2025, 6, 1), ids).consequences
    with parallel.threads(2):
        two = score(ev, we, D(2025, 6, 1), ids).consequences
    with parallel.threads(3):  # two cuts: three ranges that must neither overlap nor leave a gap
        three = score(ev, we, D(2025, 6, 1), ids).consequences
    holders = one["citizen_id"].n_unique()
    assert 6 * holders >= K.MIN_CHUNK // 4  # their entries: the split is taken
    assert one["since"].n_unique() > 50 and one["until"].n_unique() > 50
    assert two.equals(one) and three.equals(one)
