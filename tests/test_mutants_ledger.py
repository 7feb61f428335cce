"""engine/ledger.py's outcome-deciding helpers worked by hand, where mutation testing
(scripts/mutation.py, issue #17) found them loose: the citizen index, the civil-month
tables, the per-type lookup, the run's counts and quarantine, the entry states."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from case_runner import events_frame
from case_runner import policy_head
from socialrating.engine import compiled as C
from socialrating.engine import kernels as K
from socialrating.engine.dates import to_days
from socialrating.engine.ledger import (NEVER, LedgerArrays, _counts_and_quarantine, accepted_citizen_index,
                                        build_ledger, citizen_index, citizen_lookup, date_tables, entry_states,
                                        type_lookup)
from socialrating.policy.load import parse_policy

D = dt.date
HEAD = policy_head("led", "Ledger", "worked by hand")
POLICY = parse_policy(HEAD + """
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 6, reference: law}
  - {id: hours, event_type: volunteer.hours, category: civic, points_per_unit: 1.5, unit: hours,
     expires_after_months: 24, reference: law}
  - {id: debt, event_type: enforcement.proceeding, category: law, points: -20, reference: law}
  - {id: late, event_type: enforcement.proceeding, category: finance, points: -5, expires_after_months: 120,
     reference: law}
  - {id: paid_bonus, event_type: enforcement.debt_paid, category: finance, points: 1, reference: law}
closures:
  - {id: paid, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 0,
     reference: law}
""")


def _i32(a) -> np.ndarray:
    return np.array(a, np.int64)


@pytest.mark.parametrize("citizens, ids, want", [
    ([0, 1, 2], [-1, 0, 2, 3], [-1, 0, 2, -1]),            # dense: the id is the index
    ([2, 5, 9], [1, 2, 5, 6, 9, 10], [-1, 0, 1, -1, 2, -1]),  # searched
    ([0, 2], [0, 1, 2, 3], [0, -1, 1, -1]),                 # starts at 0 but not dense
    ([0, 3], [0, 1, 3, 2], [0, -1, 1, -1]),                 # and ends at n + 1
    ([-1, 1], [-1, 0, 1, 2], [0, -1, 1, -1]),               # ends at n - 1 but not dense
    ([7], [6, 7, 8], [-1, 0, -1]),
    ([5, 6, 7], [4, 5, 7, 8, -1], [-1, 0, 2, -1, -1]),    # a shard's run lo..lo+n-1: by subtraction
    ([5, 5, 7], [5, 6, 7], [0, -1, 2]),                    # spans n - 1 but repeats: searched
    ([0], [0, 1, -1], [0, -1, -1]),
    ([], [0, 1], [-1, -1]),
])
def test_citizen_index_by_hand(citizens, ids, want):
    got = citizen_index(_i32(ids), _i32(citizens))
    assert got.dtype == np.int32 and got.tolist() == want


@given(st.lists(st.integers(-50, 50), unique=True, max_size=30), st.lists(st.integers(-60, 60), max_size=40),
       st.booleans())
def test_citizen_index_equals_a_search(citizens, ids, run):
    """Every path (dense, a run lo..hi, searched) gives the position a search gives."""
    c = np.arange(citizens[0], citizens[0] + len(citizens), dtype=np.int64) if run and citizens else \
        np.sort(np.array(citizens, np.int64))
    ids = np.array(ids, np.int64)
    pos = np.searchsorted(c, ids)
    want = [int(p) if p < len(c) and c[p] == i else -1 for p, i in zip(pos, ids)]
    assert citizen_index(ids, c).tolist() == want


@pytest.mark.parametrize("citizens, dense", [([0, 1, 2], 3), ([0], 1), ([0, 2], -1), ([-1, 1], -1), ([1, 2], -1),
                                             ([], -1)])
def test_citizen_lookup_dense_only_for_0_to_n_minus_1(citizens, dense):
    cit = citizen_lookup(_i32(citizens))
    assert cit.dense == dense and cit.citizens.tolist() == citizens


def test_date_tables_by_hand():
    lo, hi = to_days(D(2024, 1, 30)), to_days(D(2024, 3, 1))
    t = date_tables(lo, hi, 1)
    jan = (2024 - 1970) * 12
    assert t.day_lo == lo and t.m_lo == jan
    assert t.mi_t.dtype == np.int32 and t.dom_t.dtype == np.int32 and t.mstart.dtype == np.int32
    assert t.mi_t.tolist() == [jan] * 2 + [jan + 1] * 29 + [jan + 2]
    assert t.dom_t.tolist() == [29, 30, *range(29), 0]
    # first days from January to one month past March, plus one: Jan .. May
    assert t.mstart.tolist() == [to_days(D(2024, m, 1)) for m in (1, 2, 3, 4, 5)]
    one = date_tables(hi, hi, 0)  # a single day, no months after: March and April
    assert one.mi_t.tolist() == [jan + 2] and one.dom_t.tolist() == [0] and one.m_lo == jan + 2
    assert one.mstart.tolist() == [to_days(D(2024, 3, 1)), to_days(D(2024, 4, 1))]


def test_type_lookup_by_hand():
    cp = C.compile_policy(POLICY)
    cat_pos = {"enforcement.proceeding": 0, "fine.traffic": 1, "": 2, "enforcement.debt_paid": 3, "other": 4,
               "volunteer.hours": 5}
    t = type_lookup(cp, cat_pos)
    assert t.lut.dtype == np.int16 and t.cat_flags.dtype == np.uint8
    assert t.lut.tolist() == [[2, 3], [0, -1], [-1, -1], [4, -1], [-1, -1], [1, -1]]
    assert t.cat_flags.tolist() == [K.RULE_TYPE, K.RULE_TYPE, K.EMPTY_TYPE, K.RULE_TYPE | K.CLOSURE_TYPE, 0,
                                    K.RULE_TYPE | K.UNIT_TYPE]
    # only the types of this table: one slot, none for the absent ones
    t = type_lookup(cp, {"x": 0, "fine.traffic": 1})
    assert t.lut.tolist() == [[-1], [0]] and t.cat_flags.tolist() == [0, K.RULE_TYPE]
    t = type_lookup(cp, {"x": 0})
    assert t.lut.shape == (1, 0) and t.cat_flags.tolist() == [0]


def _many(n: int) -> SimpleNamespace:
    """A stand-in compiled policy with n rules on one type: the policy model already
    refuses more than 8 (policy/model.py), so type_lookup's own guard needs one."""
    return SimpleNamespace(rule_event_types=["fine.traffic"] * n, closure_event_types=[],
                           rules=SimpleNamespace(is_unit=np.zeros(n, np.bool_)))


def test_type_lookup_takes_eight_rules_per_type_and_refuses_nine():
    assert type_lookup(_many(8), {"fine.traffic": 0}).lut.tolist() == [list(range(8))]
    with pytest.raises(ValueError, match="^at most 8 rules may score the same event type$"):
        type_lookup(_many(9), {"fine.traffic": 0})


def test_counts_and_quarantine_by_hand():
    ev = events_frame([(1, "fine.traffic", D(2025, 1, 1), None), (None, "fine.traffic", D(2025, 1, 2), None),
                       (9, "fine.traffic", D(2025, 1, 3), None), (1, "x", D(2025, 1, 4), None)])
    cnt = np.zeros((2, K.N_COUNTERS), np.int64)
    cnt[0, [K.C_ACCEPTED, K.C_CLOSING, K.C_NO_RULE, K.C_FUTURE, K.C_RULE_NOW, K.C_SCORED]] = [1, 0, 0, 0, 1, 1]
    cnt[1, [K.C_ACCEPTED, K.C_CLOSING, K.C_NO_RULE, K.C_FUTURE, K.C_RULE_NOW, K.C_SCORED]] = [1, 3, 1, 4, 7, 2]
    reason = np.array([0, 1, 3, 0], np.int8)
    counts, q = _counts_and_quarantine(ev, cnt, reason, 5)
    assert counts == {"events_in": 4, "quarantined": 2, "accepted": 2, "accepted_scored": 3, "accepted_closing": 3,
                      "accepted_no_rule": 1, "accepted_after_as_of": 4, "accepted_outside_rule_dates": 5,
                      "entries": 5}
    assert q.columns == [*ev.columns, "reason"] and q.schema["reason"] == pl.String
    assert q["record_id"].to_list() == ["r1", "r2"]
    assert q["reason"].to_list() == ["missing citizen_id", "unknown citizen_id"]
    cnt[:, K.C_ACCEPTED] = [3, 1]
    counts, q = _counts_and_quarantine(ev, cnt, np.zeros(4, np.int8), 0)
    assert counts["quarantined"] == 0 and counts["accepted"] == 4 and counts["entries"] == 0
    assert q.height == 0 and q.columns == [*ev.columns, "reason"] and q.schema["reason"] == pl.String
    assert q.schema == {**ev.schema, "reason": pl.String}


def _ledger(expires, closed, **inputs) -> LedgerArrays:
    n = len(expires)
    z32 = np.zeros(n, np.int32)
    return LedgerArrays(z32, z32, np.zeros(n, np.int16), z32, np.zeros(n, np.int16), np.zeros(n, np.int16),
                        np.array(expires, np.int32), np.array(closed, np.int32), z32 - 1, np.zeros(n, np.int8),
                        inputs=inputs)


def test_entry_states_by_hand():
    a = to_days(D(2025, 6, 1))
    led = _ledger([NEVER, a, a + 1, NEVER, a + 5, a + 5, a, a - 3],
                  [NEVER, NEVER, NEVER, a, a + 1, a - 1, a - 1, a - 3])
    got = entry_states(led, D(2025, 6, 1))
    assert got.dtype == np.int8
    # active, expired on the day, active, closed on the day, closed tomorrow (active),
    # closed, closed before it expired, closed on its expiry day (expired)
    assert got.tolist() == [0, 1, 0, 2, 0, 2, 2, 1]
    assert entry_states(_ledger([], []), D(2025, 6, 1)).tolist() == []


def test_accepted_citizen_index_by_hand():
    led = _ledger([], [], reason=np.array([0, 0, 3, 0, 1], np.int8), cid=_i32([5, 9, 7, 2, 5]),
                  citizens=_i32([2, 5, 9]))
    got = accepted_citizen_index(led)
    assert got.dtype == np.int32 and got.tolist() == [1, 2, -1, 0, -1]


def _policy(rules: str):
    return parse_policy(HEAD + "rules:\n" + rules)


def test_cap_prior_is_taken_per_capped_rule():
    """cap_prior (monthly scoring) is keyed by rule index; the capped rule here is rule 1."""
    policy = _policy("""  - {id: f, event_type: fine.traffic, category: law, points: -3, reference: law}
  - {id: d, event_type: civic.blood_donation, category: civic, points: 5, cap: {points: 10, period_months: 12},
     reference: law}
""")
    ev = events_frame([(1, "civic.blood_donation", D(2025, 2, 1), None), (1, "civic.blood_donation", D(2025, 3, 1), None),
                       (2, "civic.blood_donation", D(2025, 2, 1), None), (1, "fine.traffic", D(2025, 2, 1), None)])
    cit = np.array([1, 2], np.int64)
    led = build_ledger(ev, policy, D(2025, 6, 1), cit, cap_prior={1: np.array([7, 0], np.int64)})
    assert led.points.tolist() == [3, 0, 5, -3] and led.points_raw.tolist() == [5, 5, 5, -3]
    assert build_ledger(ev, policy, D(2025, 6, 1), cit).points.tolist() == [5, 5, 5, -3]


def test_two_capped_rules_keep_their_own_monthly_groups():
    """Each capped rule has its own rows (rule, month) in the totals table: a fine's March
    group is not the proceeding's January group. The last day is a month's first, so the
    number of months comes from the last day, not the one before."""
    policy = _policy("""  - {id: f, event_type: fine.traffic, category: law, points: -6, cap: {points: -10, period_months: 1},
     reference: law}
  - {id: p, event_type: enforcement.proceeding, category: law, points: -6, cap: {points: -10, period_months: 1},
     reference: law}
""")
    ev = events_frame([(0, "fine.traffic", D(2025, 1, 15), None), (0, "fine.traffic", D(2025, 1, 25), None),
                       (0, "fine.traffic", D(2025, 2, 10), None), (0, "fine.traffic", D(2025, 3, 1), None),
                       (0, "enforcement.proceeding", D(2025, 1, 20), None),
                       (1, "enforcement.proceeding", D(2025, 1, 20), None)])
    led = build_ledger(ev, policy, D(2025, 6, 1), np.array([0, 1], np.int64))
    assert led.points.tolist() == [-6, -4, -6, -6, -6, -6]


def test_many_capped_entries_split_by_citizen_and_a_saturated_total():
    """Over MIN_CHUNK / 4 capped entries: the cut runs in two citizen halves (the middle
    citizen in the second); 262,144 entries of 10,000 points put citizen 1's total past
    int32's safe range, so every capped entry is sorted."""
    policy = _policy("""  - {id: d, event_type: civic.blood_donation, category: civic, points: 10000,
     cap: {points: 1000000, period_months: 12}, reference: law}
  - {id: f, event_type: fine.traffic, category: law, points: -1, cap: {points: -10, period_months: 12},
     reference: law}
""")
    n = 2**18  # with the fines, at least MIN_CHUNK entries: the totals run in citizen chunks
    rows = ([(1, "civic.blood_donation", D(2025, 2, 1), None)] * n + [(c, "fine.traffic", D(2025, 3, 1), None)
                                                                     for c in (0, 1, 2) for _ in range(12)])
    led = build_ledger(events_frame(rows), policy, D(2025, 6, 1), np.array([0, 1, 2], np.int64))
    pts = led.points
    assert pts[:100].tolist() == [10000] * 100 and not pts[100:n].any()
    assert pts[n:].reshape(3, 12).tolist() == [[-1] * 10 + [0, 0]] * 3


def test_closures_after_ones_that_close_nothing_and_the_first_closing_row():
    """A closure whose type is not in the table, and one whose only record is after as_of,
    are skipped, not the end of the closures; among many closing records of one citizen on
    one day, the entry is closed by the first (rows in input order)."""
    policy = _policy("""  - {id: f, event_type: fine.traffic, category: law, points: -5, reference: law}
  - {id: p, event_type: enforcement.proceeding, category: law, points: -20, reference: law}
closures:
  - {id: a, event_type: civic.blood_donation, closes: [fine.traffic], within_days: 0, reference: law}
  - {id: b, event_type: volunteer.hours, closes: [fine.traffic], within_days: 0, reference: law}
  - {id: c, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 3, reference: law}
""")
    rows = [(0, "enforcement.proceeding", D(2025, 1, 10), None), (1, "enforcement.proceeding", D(2025, 1, 10), None),
            (0, "fine.traffic", D(2025, 1, 10), None), (0, "volunteer.hours", D(2025, 7, 1), 2.0)]
    rows += [(c, "enforcement.debt_paid", D(2025, 2, 1), None) for _ in range(400) for c in (1, 0)]
    led = build_ledger(events_frame(rows), policy, D(2025, 6, 1), np.array([0, 1], np.int64))
    assert led.closed.dtype == np.int32 and led.closed_by_row.dtype == np.int32
    assert led.event_row.tolist() == [0, 1, 2]
    assert led.closed.tolist() == [to_days(D(2025, 2, 4)), to_days(D(2025, 2, 4)), NEVER]
    assert led.closed_by_row.tolist() == [5, 4, -1]
    assert entry_states(led, D(2025, 6, 1)).tolist() == [2, 2, 0]


def test_too_many_cap_cells_sorts_every_capped_entry():
    """306 monthly periods for 900,000 citizens is more (rule, period, citizen) totals than
    MAX_CAP_CELLS: then every entry of a capped rule is cut in order, without totals."""
    policy = _policy("""  - {id: f, event_type: fine.traffic, category: law, points: -6, cap: {points: -10, period_months: 1},
     reference: law}
""")
    rows = [(0, "fine.traffic", D(2000, 1, 5), None), (0, "fine.traffic", D(2025, 6, 1), None),
            (0, "fine.traffic", D(2025, 6, 2), None), (7, "fine.traffic", D(2025, 6, 1), None)]
    led = build_ledger(events_frame(rows), policy, D(2025, 6, 30), np.arange(900_000, dtype=np.int64))
    assert led.points.tolist() == [-6, -6, -4, -6]
