"""engine/monthly.py pinned where mutation testing found it loose (scripts/mutation.py): the
simulated appeals as the store's state changes and as overrides, worked by hand on the
calendar, and a late closing record that ends an entry from years before the first month."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from case_runner import events_frame, policy_head

from socialrating.engine.monthly import MonthlyEngine, month_ends, spells_from_panel
from socialrating.engine.score import score
from socialrating.policy.load import load_policy, parse_policy
from socialrating.policy.model import ContestSpec

D = dt.date
WE = load_policy("we-platform")
CITIZENS = np.arange(5, dtype=np.int64)
CHANGE_SCHEMA = {"entry_id": pl.Int64, "new_state": pl.String, "actor": pl.String, "reason": pl.String,
                 "at": pl.Date}


def _appeals(deadline_days: int, months: int = 4):
    """March-June 2025 under we-platform. Month 0: convictions of citizens 1 (contested,
    overturned), 2 (contested, upheld) and 3 (not contested); month 1: citizen 4's
    (contested, overturned); month 3: citizen 0's (contested, upheld). Entry id = 8 x the
    record's row over all months: 0, 8, 16; 24; 32."""
    policy = WE.model_copy(update={"contest": ContestSpec(review_deadline_days=deadline_days)})
    eng = MonthlyEngine(policy, CITIZENS, D(2025, 3, 1), months)
    batches = {0: ([(1, "court.conviction", D(2025, 3, 10), None), (2, "court.conviction", D(2025, 3, 10), None),
                    (3, "court.conviction", D(2025, 3, 11), None)], [True, True, False], [True, False, False]),
               1: ([(4, "court.conviction", D(2025, 4, 2), None)], [True], [True]),
               3: ([(0, "court.conviction", D(2025, 6, 5), None)], [True], [False])}
    after = []
    for k in range(months):
        rows, contested, over = batches.get(k, ([], [], []))
        eng.step(events_frame(rows), contested=np.array(contested, bool), overturned=np.array(over, bool))
        after.append(eng.appeal_states().rows())
    return eng, after


def _changes(frame: pl.DataFrame) -> list[tuple]:
    assert frame.schema == pl.Schema(CHANGE_SCHEMA)
    return [(e, s, a[:3], r.split()[1], at) for e, s, a, r, at in frame.rows()]


def test_no_appeals_give_empty_tables_of_the_stores_types():
    eng = MonthlyEngine(WE, CITIZENS, D(2025, 3, 1), 2)
    eng.step(events_frame([(1, "court.conviction", D(2025, 3, 10), None)]))
    states, changes = eng.appeal_states(), eng.appeal_changes(30)
    assert states.height == 0 and states.schema == pl.Schema({"entry_id": pl.Int64, "state": pl.String})
    assert changes.height == 0 and changes.schema == pl.Schema(CHANGE_SCHEMA)


def test_appeal_states_month_by_month():
    """A 20-day deadline is reviewed by the next month end (review month = k + 1): listed as
    contested until then, overturned after; an upheld entry drops out of the list."""
    eng, after = _appeals(20)
    assert after == [
        [(0, "contested"), (8, "contested")],
        [(0, "overturned"), (24, "contested")],
        [(0, "overturned"), (24, "overturned")],
        [(0, "overturned"), (24, "overturned"), (32, "contested")],
    ]
    assert eng.appeal_states().schema == pl.Schema({"entry_id": pl.Int64, "state": pl.String})


def test_appeal_changes_review_dated_by_the_deadline_when_it_comes_first():
    """20 days: contested at the month end the record arrived, reviewed 20 days later (before
    the next month end); the June appeal is not reviewed within the four months."""
    eng, _ = _appeals(20)
    assert _changes(eng.appeal_changes(20)) == [
        (0, "contested", "cit", "appeal", D(2025, 3, 31)),
        (8, "contested", "cit", "appeal", D(2025, 3, 31)),
        (0, "overturned", "rev", "review", D(2025, 4, 20)),
        (8, "upheld", "rev", "review", D(2025, 4, 20)),
        (24, "contested", "cit", "appeal", D(2025, 4, 30)),
        (24, "overturned", "rev", "review", D(2025, 5, 20)),
        (32, "contested", "cit", "appeal", D(2025, 6, 30)),
    ]
    assert eng.appeal_changes(20)["actor"].unique().sort().to_list() == ["citizen (simulated)",
                                                                          "reviewer (simulated)"]
    assert eng.appeal_changes(20)["reason"].unique().sort().to_list() == ["simulated appeal", "simulated review"]


def test_appeal_changes_contest_before_review_on_the_same_day():
    """30 days: March's reviews fall on April 30 (the month end and the deadline), the day
    citizen 4 contests; the contest is listed first although its entry id is larger."""
    eng, _ = _appeals(30)
    assert _changes(eng.appeal_changes(30))[2:5] == [
        (24, "contested", "cit", "appeal", D(2025, 4, 30)),
        (0, "overturned", "rev", "review", D(2025, 4, 30)),
        (8, "upheld", "rev", "review", D(2025, 4, 30)),
    ]


def test_appeal_changes_review_two_month_ends_on_and_beyond_the_horizon():
    """45 days take two month ends (review month k + 2): March's appeals are reviewed on
    May 15 (March 31 + 45, before May 31); April's on June 14 (before June 30); the June
    appeal's review month (5) lies beyond the run's four months and is not listed."""
    eng, _ = _appeals(45)
    assert _changes(eng.appeal_changes(45)) == [
        (0, "contested", "cit", "appeal", D(2025, 3, 31)),
        (8, "contested", "cit", "appeal", D(2025, 3, 31)),
        (24, "contested", "cit", "appeal", D(2025, 4, 30)),
        (0, "overturned", "rev", "review", D(2025, 5, 15)),
        (8, "upheld", "rev", "review", D(2025, 5, 15)),
        (24, "overturned", "rev", "review", D(2025, 6, 14)),
        (32, "contested", "cit", "appeal", D(2025, 6, 30)),
    ]


def test_appeal_changes_review_at_the_month_end_when_it_comes_first():
    """30 days from January 31 is March 2; the review month's end, February 28, comes first."""
    policy = WE.model_copy(update={"contest": ContestSpec(review_deadline_days=30)})
    eng = MonthlyEngine(policy, CITIZENS, D(2025, 1, 1), 2)
    eng.step(events_frame([(3, "court.conviction", D(2025, 1, 20), None)]), contested=np.array([True]),
             overturned=np.array([True]))
    eng.step(events_frame([]), contested=np.zeros(0, bool), overturned=np.zeros(0, bool))
    assert _changes(eng.appeal_changes(30)) == [(0, "contested", "cit", "appeal", D(2025, 1, 31)),
                                                (0, "overturned", "rev", "review", D(2025, 2, 28))]


def test_a_late_closing_record_ends_an_entry_from_years_before():
    """An enforcement proceeding of 2025-02-01 (live until 2027-02-01, out of the level window
    since 2026-02-01) is on file when the rating starts in November 2026; in January 2027 a
    record arrives that the debt was paid on 2025-06-01. From January the proceeding no
    longer counts, as a full re-score says; citizen 2's recent proceeding, paid in January,
    too. Balances by hand: -10 while it counts, 0 after."""
    start, months = D(2026, 11, 1), 8
    eng = MonthlyEngine(WE, CITIZENS, start, months)
    rows = {0: [(1, "enforcement.proceeding", D(2025, 2, 1), None), (2, "enforcement.proceeding", D(2026, 10, 15), None)],
            2: [(1, "enforcement.debt_paid", D(2025, 6, 1), None), (2, "enforcement.debt_paid", D(2027, 1, 5), None)]}
    seen, got = [], []
    for k, end in enumerate(month_ends(start, months)):
        seen += rows.get(k, [])
        state = eng.step(events_frame(rows.get(k, [])))
        full = score(events_frame(seen), WE, end, CITIZENS)
        assert np.array_equal(full.ratings["balance_status"].to_numpy(), state.ctx["balance_status"]), k
        assert np.array_equal(full.ratings["balance_level"].to_numpy(), state.ctx["balance_level"]), k
        got.append((int(state.ctx["balance_status"][1]), int(state.ctx["balance_status"][2]),
                     int(state.ctx["balance_level"][1]), int(state.ctx["balance_level"][2])))
    assert got == [(-10, -10, 0, -10)] * 2 + [(0, 0, 0, 0)] * 6


def test_month_state_counts_in_integers():
    """Balances, scores and flag counts stay integers from month to month (the outputs
    write them as integer columns)."""
    eng = MonthlyEngine(WE, CITIZENS.astype(np.int32), D(2025, 3, 1), 2)
    eng.step(events_frame([(1, "enforcement.exit_ban", D(2025, 3, 10), None)]))
    state = eng.step(events_frame([]))
    for key in ("balance_status", "balance_level", "status", "level"):
        assert state.ctx[key].dtype.kind == "i", key
    assert eng.citizens.dtype == np.int64 and eng.bal_s.dtype == np.int64 and eng.bal_l.dtype == np.int64
    assert all(v.dtype == np.int64 for v in eng.flags.values()) and len(eng.flags) > 0
    assert all(v.dtype == np.int64 for v in eng.cap_used.values()) and len(eng.cap_used) > 0


def test_spells_from_panel_ends_align_with_starts_of_other_citizens():
    """Citizen 0 holds in months 0-1, citizen 1 from month 2 on, citizen 2 never: each end
    belongs to its own citizen's start."""
    holds = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    cit, start, end = spells_from_panel(holds, [])
    assert list(zip(cit.tolist(), start.tolist(), end.tolist())) == [(0, 0, 2), (1, 2, -1)]


def test_a_suspended_entry_overturned_on_review_never_counts():
    """Under a policy that suspends contested points, citizen 1's exit ban (contested,
    overturned) never counts: balance 0 and no ban in force in any month; citizen 2's, not
    contested, counts -20 and one ban from March on."""
    policy = WE.model_copy(update={"contest": ContestSpec(suspend_while_contested=True)})
    eng = MonthlyEngine(policy, CITIZENS, D(2025, 3, 1), 4)
    rows = [(1, "enforcement.exit_ban", D(2025, 3, 10), None), (2, "enforcement.exit_ban", D(2025, 3, 10), None)]
    got = []
    for k in range(4):
        batch = events_frame(rows if k == 0 else [])
        state = eng.step(batch, contested=np.array([True, False])[: batch.height],
                         overturned=np.array([True, False])[: batch.height])
        got.append((int(state.ctx["balance_status"][1]), int(state.ctx["balance_level"][1]),
                    int(eng.flags["enforcement.exit_ban"][1]), int(state.ctx["balance_status"][2]),
                    int(state.ctx["balance_level"][2]), int(eng.flags["enforcement.exit_ban"][2])))
    assert got == [(0, 0, 0, -20, -20, 1)] * 4


def test_step_builds_the_ledger_table_only_when_asked():
    eng = MonthlyEngine(WE, CITIZENS, D(2025, 3, 1), 2)
    batch = events_frame([(1, "court.conviction", D(2025, 3, 10), None)])
    assert eng.step(batch).ledger is None
    assert eng.step(events_frame([]), with_ledger=True).ledger.height == 0


CLOSURES = parse_policy(policy_head("closures-test", "Closures test", "two closures, by hand") + """
rules:
  - {id: proc, event_type: enforcement.proceeding, category: law, points: -10, expires_after_months: 24, reference: law}
  - {id: exam, event_type: education.exam_failed, category: education, points: -3, expires_after_months: 24, reference: law}
  - {id: fine, event_type: fine.traffic, category: law, points: -2, expires_after_months: 12, reference: law}
closures:
  - {id: paid, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 1, reference: law}
  - {id: resit, event_type: education.resit_passed, closes: [education.exam_failed], within_days: 2, reference: law}
""")
PAID, RESIT, PROC, EXAM = "enforcement.debt_paid", "education.resit_passed", "enforcement.proceeding", "education.exam_failed"
# month -> records that arrive that month (citizen 99 is not in the register)
ARRIVALS = {
    0: [(0, PROC, D(2025, 3, 5)), (1, PROC, D(2025, 3, 5)), (1, EXAM, D(2025, 3, 6)),
        (2, PAID, D(2025, 3, 2)), (2, PROC, D(2025, 3, 10)),          # paid before: not closed
        (3, EXAM, D(2025, 3, 7)), (4, PAID, D(2025, 3, 31)),          # paid on the month end
        (5, EXAM, D(2025, 3, 8)), (6, RESIT, D(2025, 3, 15)), (7, EXAM, D(2025, 3, 9)),
        (8, EXAM, D(2025, 3, 9)), (9, PROC, D(2025, 3, 10))],
    1: [(0, PAID, D(2025, 4, 30)),                                    # closes c0's March proceeding on May 1
        (1, RESIT, D(2025, 4, 10)), (8, PAID, D(2025, 4, 12))],      # paid does not close an exam
    2: [(3, RESIT, D(2025, 5, 3)),                                    # closes c3's March exam...
        (8, PAID, D(2025, 5, 10)),                                    # ...although paid (first) ends nothing
        (4, PROC, D(2025, 3, 20))],                                   # late: closed by March 31's payment
    3: [(0, PROC, D(2025, 4, 15)),                                    # late: closed by April 30's payment
        (3, EXAM, D(2025, 5, 1)),                                     # late: closed by May's resit
        (99, PAID, D(2025, 6, 2)), (5, RESIT, D(2025, 6, 3))],       # paid of nobody known, then a resit
    4: [(2, PAID, D(2025, 3, 8)),                                     # late, still before c2's proceeding
        (9, PAID, D(2025, 3, 1)), (9, PROC, D(2025, 3, 5)),          # late, both before c9's proceeding
        (7, RESIT, D(2025, 7, 4)), (6, EXAM, D(2025, 3, 10))],       # late exam, after c6's resit
}


def test_closures_across_months_equal_a_full_rescore():
    """Closing records that arrive months after the entries they close, entries that arrive
    after the records that close them, two closures of which a month has only one, closing
    records dated before the entry or for nobody known: month by month, the balances are
    those of scoring every record seen so far. By hand, at the last month end (July 31):
    c0 0 (both proceedings closed), c1 -10 (its exam closed, its proceeding not), c2 -10 (paid only before), c3 0, c4 0 (the late
    proceeding closed on April 1), c5 0, c6 0 (the late exam closed on March 17 by the resit
    of March 15), c7 0, c8 -3 (a payment does not close an exam), c9 -20 (paid before both of its
    proceedings; its first proceeding, of March 10, closes nothing)."""
    citizens = np.arange(10, dtype=np.int64)
    start, months = D(2025, 3, 1), 5
    eng = MonthlyEngine(CLOSURES, citizens, start, months)
    seen = []
    for k, end in enumerate(month_ends(start, months)):
        batch = [(c, t, d, None) for c, t, d in ARRIVALS.get(k, [])]
        seen += batch
        state = eng.step(events_frame(batch))
        full = score(events_frame(seen), CLOSURES, end, citizens)
        for col in ("balance_status", "balance_level"):
            assert full.ratings[col].to_list() == state.ctx[col].tolist(), (k, col)
    assert state.ctx["balance_status"].tolist() == [0, -10, -10, 0, 0, 0, 0, 0, -3, -20]


def test_contested_entries_a_later_closure_can_end():
    """A policy that does not suspend contested points: an upheld appeal leaves the entry's
    ordinary schedule, so the payment in April ends it (c1), as for an uncontested one (c3);
    an overturned entry already stopped at the review and the payment changes nothing (c2)."""
    eng = MonthlyEngine(WE, CITIZENS, D(2025, 3, 1), 3)
    march = events_frame([(c, PROC, D(2025, 3, 10), None) for c in (1, 2, 3)])
    got = [eng.step(march, contested=np.array([True, True, False]), overturned=np.array([False, True, False]))]
    april = events_frame([(c, PAID, D(2025, 4, 20), None) for c in (1, 2, 3)])
    got.append(eng.step(april, contested=np.zeros(3, bool), overturned=np.zeros(3, bool)))
    got.append(eng.step(events_frame([]), contested=np.zeros(0, bool), overturned=np.zeros(0, bool)))
    assert [s.ctx["balance_status"][1:4].tolist() for s in got] == [[-10, -10, -10], [0, 0, 0], [0, 0, 0]]
    assert [s.ctx["balance_level"][1:4].tolist() for s in got] == [[-10, -10, -10], [0, 0, 0], [0, 0, 0]]


def test_month_state_index_date_and_counts():
    eng = MonthlyEngine(WE, CITIZENS, D(2025, 3, 1), 2)
    first = eng.step(events_frame([(1, "court.conviction", D(2025, 3, 10), None)]))
    assert (first.index, first.as_of) == (0, D(2025, 3, 31))
    assert first.counts["contested"] == 0 and first.counts["overturned"] == 0
    assert first.counts == {"events_in": 1, "quarantined": 0, "accepted": 1, "accepted_scored": 1,
                            "accepted_closing": 0, "accepted_no_rule": 0, "accepted_after_as_of": 0,
                            "accepted_outside_rule_dates": 0, "entries": 1, "contested": 0, "overturned": 0}
    second = eng.step(events_frame([(2, "court.conviction", D(2025, 4, 10), None)]), contested=np.array([True]),
                      overturned=np.array([True]), with_ledger=True)
    assert (second.index, second.as_of) == (1, D(2025, 4, 30))
    assert (second.counts["contested"], second.counts["overturned"], second.counts["entries"]) == (1, 1, 1)
    assert second.ledger["entry_id"].to_list() == [8]  # the month's record is row 1 of the run


def test_only_entries_with_points_are_contested():
    """16 fines in one month: we-platform caps them at -30 a year, so the 16th scores 0; the
    citizen contests all of them, but an entry of no points is no appeal."""
    eng = MonthlyEngine(WE, CITIZENS, D(2025, 3, 1), 1)
    rows = [(1, "fine.traffic", D(2025, 3, 1) + dt.timedelta(days=i), 500.0) for i in range(16)]
    state = eng.step(events_frame(rows), contested=np.ones(16, bool), overturned=np.zeros(16, bool))
    assert state.ctx["balance_status"][1] == -30 and state.counts["contested"] == 15


def test_a_31_day_deadline_takes_two_month_ends():
    """ceil(31 / 30) = 2: contested in March, reviewed at the end of May (not April), 31 days
    after March 31: May 1."""
    policy = WE.model_copy(update={"contest": ContestSpec(review_deadline_days=31)})
    eng = MonthlyEngine(policy, CITIZENS, D(2025, 3, 1), 3)
    batch = events_frame([(1, "court.conviction", D(2025, 3, 10), None)])
    eng.step(batch, contested=np.array([True]), overturned=np.array([True]))
    eng.step(events_frame([]), contested=np.zeros(0, bool), overturned=np.zeros(0, bool))
    assert eng.appeal_states().rows() == [(0, "contested")]
    eng.step(events_frame([]), contested=np.zeros(0, bool), overturned=np.zeros(0, bool))
    assert _changes(eng.appeal_changes(31)) == [(0, "contested", "cit", "appeal", D(2025, 3, 31)),
                                                (0, "overturned", "rev", "review", D(2025, 5, 1))]


def test_a_past_closing_on_the_expiry_day_does_not_close():
    """A payment of 2027-03-04 (closing from 2027-03-05) and, a month later, a late proceeding
    of 2025-03-05, which expires 2027-03-05 by itself: it expired, it was not closed."""
    eng = MonthlyEngine(WE, CITIZENS, D(2027, 3, 1), 2)
    eng.step(events_frame([(1, PAID, D(2027, 3, 4), None)]))
    state = eng.step(events_frame([(1, PROC, D(2025, 3, 5), None)]), with_ledger=True)
    assert state.ledger.select("expires_on", "closed_on", "state").rows() == [(D(2027, 3, 5), None, "expired")]


def test_a_late_entry_closed_by_the_second_closure_when_the_first_has_none_yet():
    """Only a resit so far (no payment: the first closure has nothing on file); an exam of
    March 10 that arrives in April is closed by the resit of March 15 (from March 17)."""
    eng = MonthlyEngine(CLOSURES, CITIZENS, D(2025, 3, 1), 2)
    eng.step(events_frame([(1, RESIT, D(2025, 3, 15), None)]))
    state = eng.step(events_frame([(1, EXAM, D(2025, 3, 10), None)]), with_ledger=True)
    assert state.ctx["balance_status"][1] == 0
    assert state.ledger.select("closed_on", "state").rows() == [(D(2025, 3, 17), "closed")]


def test_a_month_with_only_the_second_closure_and_only_its_late_entries():
    """Payments on file (c3) but April brings no payment and no proceeding: the resit of
    April 2 ends c2's March exam (from April 4), and the resit of March 15 ends c1's exam of
    March 10 that arrives in April (from March 17)."""
    eng = MonthlyEngine(CLOSURES, CITIZENS, D(2025, 3, 1), 2)
    march = eng.step(events_frame([(1, RESIT, D(2025, 3, 15), None), (3, PAID, D(2025, 3, 20), None),
                                   (2, EXAM, D(2025, 3, 5), None)]))
    april = eng.step(events_frame([(1, EXAM, D(2025, 3, 10), None), (2, RESIT, D(2025, 4, 2), None)]),
                     with_ledger=True)
    assert march.ctx["balance_status"][1:4].tolist() == [0, -3, 0]
    assert april.ctx["balance_status"][1:4].tolist() == [0, 0, 0]
    assert april.ledger.select("citizen_id", "closed_on", "state").rows() == [(1, D(2025, 3, 17), "closed")]
