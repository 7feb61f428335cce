"""store/contest.py: the state of a contested entry on a given day, exactly, with its words.

`read_states` decides whether a penalty counts while a citizen contests it, and when an
unanswered contest resolves in the citizen's favour; the `why` is what the citizen is
shown. Every expectation is worked by hand from the module docstring (deadline = day
contested + review_deadline_days, the last day the review is on time). Written to kill
the mutants mutmut made of read_states, overrides_frame and shard_bounds
(scripts/mutation.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml

from socialrating.policy.load import builtin_path, parse_policy
from socialrating.store.contest import ContestError, EntryState, overrides_frame, read_states, shard_bounds
from socialrating.store.ledger_store import CHANGE_SCHEMA

D = dt.date


def _policy(**contest_spec):
    d = yaml.safe_load(builtin_path("bonus-only").read_text())
    d["contest"].update(contest_spec)
    return parse_policy(yaml.safe_dump(d))


LAPSE = _policy(review_deadline_days=30, overdue_resolves_for_citizen=True)
STAND = _policy(review_deadline_days=30, overdue_resolves_for_citizen=False)


def _changes(*rows):
    return pl.DataFrame([dict(zip(("change_id", "entry_id", "new_state", "actor", "reason", "at"), r),
                              prev_hash="", hash="") for r in rows], schema=CHANGE_SCHEMA)


CONTESTED = (1, 8, "contested", "citizen 1", "not my loan", D(2025, 1, 10))  # deadline 2025-02-09
WHY_CONTESTED = "contested on 2025-01-10 by citizen 1: not my loan"
DEADLINE = D(2025, 2, 9)


def test_contested_from_its_day_to_the_deadline_inclusive():
    ch = _changes(CONTESTED)
    assert read_states(ch, LAPSE, D(2025, 1, 9)) == []
    for on in (D(2025, 1, 10), D(2025, 2, 9)):
        assert read_states(ch, LAPSE, on) == [EntryState(8, "contested", WHY_CONTESTED, DEADLINE)]


def test_unanswered_contest_resolves_for_the_citizen_the_day_after_the_deadline():
    ch = _changes(CONTESTED)
    why = "review overdue (deadline 2025-02-09, not resolved by 2025-02-10): resolved for the citizen"
    assert read_states(ch, LAPSE, D(2025, 2, 10)) == [EntryState(8, "overturned", why, DEADLINE)]
    assert read_states(ch, LAPSE, D(2025, 2, 10), {8: 0}) == [EntryState(8, "overturned", why, DEADLINE)]
    assert read_states(ch, LAPSE, D(2025, 2, 10), {8: -1}) == [EntryState(8, "overturned", why, DEADLINE)]
    assert read_states(ch, LAPSE, D(2025, 2, 10), {9: 5}) == [EntryState(8, "overturned", why, DEADLINE)]
    # an entry in the citizen's favour is not taken away: the contest lapses
    assert read_states(ch, LAPSE, D(2025, 2, 10), {8: 1}) == []
    # where the policy lets the entry stand, it stays contested however late
    assert read_states(ch, STAND, D(2026, 1, 1)) == [EntryState(8, "contested", WHY_CONTESTED, DEADLINE)]


def test_deadline_follows_review_deadline_days():
    ch = _changes(CONTESTED)
    one = _policy(review_deadline_days=1, overdue_resolves_for_citizen=True)
    assert read_states(ch, one, D(2025, 1, 11)) == [EntryState(8, "contested", WHY_CONTESTED, D(2025, 1, 11))]
    assert read_states(ch, one, D(2025, 1, 12))[0].state == "overturned"


def test_upheld_on_the_deadline_restores_the_entry():
    ch = _changes(CONTESTED, (2, 8, "upheld", "reviewer:4", "loan is his", DEADLINE))
    assert read_states(ch, LAPSE, D(2025, 6, 1)) == []
    assert read_states(ch, LAPSE, D(2025, 2, 8)) == [EntryState(8, "contested", WHY_CONTESTED, DEADLINE)]


def test_upheld_late_is_overturned_for_a_penalty_only():
    ch = _changes(CONTESTED, (2, 8, "upheld", "reviewer:4", "loan is his", D(2025, 2, 10)))
    why = "review overdue (deadline 2025-02-09; upheld only on 2025-02-10): resolved for the citizen"
    assert read_states(ch, LAPSE, D(2025, 6, 1)) == [EntryState(8, "overturned", why, DEADLINE)]
    assert read_states(ch, LAPSE, D(2025, 6, 1), {8: 0}) == [EntryState(8, "overturned", why, DEADLINE)]
    assert read_states(ch, LAPSE, D(2025, 6, 1), {8: 3}) == []
    assert read_states(ch, LAPSE, D(2025, 6, 1), {8: 1}) == []  # the smallest bonus is kept too
    assert read_states(ch, STAND, D(2025, 6, 1)) == []


def test_overturned_is_final_and_keeps_the_contest_deadline():
    ch = _changes(CONTESTED, (2, 8, "overturned", "reviewer:4", "identity mismatch", D(2025, 1, 20)),
                  (3, 8, "contested", "citizen 1", "again", D(2025, 1, 21)),
                  (4, 8, "upheld", "reviewer:5", "x", D(2025, 1, 22)))
    want = [EntryState(8, "overturned", "overturned on 2025-01-20 by reviewer:4: identity mismatch", DEADLINE)]
    assert read_states(ch, STAND, D(2025, 6, 1)) == want
    assert read_states(ch, LAPSE, D(2025, 6, 1), {8: 7}) == want


def test_contested_again_after_upheld_has_a_new_deadline():
    ch = _changes(CONTESTED, (2, 8, "upheld", "reviewer:4", "ok", D(2025, 1, 15)),
                  (3, 8, "contested", "citizen 1", "new proof", D(2025, 3, 1)))
    assert read_states(ch, LAPSE, D(2025, 2, 28)) == []
    assert read_states(ch, LAPSE, D(2025, 3, 31)) == [
        EntryState(8, "contested", "contested on 2025-03-01 by citizen 1: new proof", D(2025, 3, 31))]


def test_upheld_without_a_contest_changes_nothing():
    ch = _changes((1, 8, "upheld", "reviewer:4", "ok", D(2025, 1, 15)))
    assert read_states(ch, LAPSE, D(2025, 6, 1)) == []


def test_changes_read_in_change_order_and_entries_in_id_order():
    ch = _changes((3, 16, "contested", "c2", "r2", D(2025, 1, 21)), (2, 8, "upheld", "rv", "ok", D(2025, 1, 12)),
                  CONTESTED, (4, 4, "contested", "c3", "r3", D(2025, 1, 22)))
    assert read_states(ch, STAND, D(2025, 2, 1)) == [
        EntryState(4, "contested", "contested on 2025-01-22 by c3: r3", D(2025, 2, 21)),
        EntryState(16, "contested", "contested on 2025-01-21 by c2: r2", D(2025, 2, 20))]
    # on 2025-01-11 the upheld of the 12th has not happened yet
    assert read_states(ch, STAND, D(2025, 1, 11)) == [EntryState(8, "contested", WHY_CONTESTED, DEADLINE)]


def test_overrides_frame():
    states = [EntryState(4, "contested", "w", None), EntryState(16, "overturned", "v", D(2025, 1, 1))]
    got = overrides_frame(states)
    assert got.schema == pl.Schema({"entry_id": pl.Int64, "state": pl.String})
    assert got.to_dicts() == [{"entry_id": 4, "state": "contested"}, {"entry_id": 16, "state": "overturned"}]
    empty = overrides_frame([])
    assert empty.height == 0 and empty.schema == pl.Schema({"entry_id": pl.Int64, "state": pl.String})


@pytest.mark.parametrize("cits, ev, size, want", [
    # citizens 0..7 in two shards of 4; every shard's events contiguous
    (np.arange(8), np.array([0, 0, 3, 4, 7, 7]), 4, [(0, 3), (3, 6)]),
    # exactly one shard's worth of citizens: one shard
    (np.arange(4), np.array([1, 2, 3]), 4, [(0, 3)]),
    # a shard with no events: an empty range where it would start
    (np.arange(12), np.array([0, 1, 9, 10]), 4, [(0, 2), (2, 2), (2, 4)]),
    # citizens.parquet not sorted by id: the shard is the citizen's row, not its id
    (np.array([7, 3, 5, 1]), np.array([7, 3, 5, 1]), 2, [(0, 2), (2, 4)]),
    # leading rows of unknown citizens go to shard 0; later ones stay with the row before
    (np.arange(4), np.array([-5, 99, 2, 3, 50]), 2, [(0, 2), (2, 5)]),
    (np.arange(4), np.array([0, 50, 2]), 2, [(0, 2), (2, 3)]),
    # an unknown id between known ones goes with the row before, not with its neighbour in id order
    (np.array([0, 2, 4, 6]), np.array([0, 3, 4]), 2, [(0, 2), (2, 3)]),
    # one citizen, and a row of an unknown id above it
    (np.array([5]), np.array([5, 9]), 2, [(0, 2)]),
    # the first row belongs to the second shard: the first shard is empty
    (np.arange(4), np.array([2, 3]), 2, [(0, 0), (0, 2)]),
    (np.arange(4), np.array([], dtype=np.int64), 2, [(0, 0), (0, 0)]),
])
def test_shard_bounds_by_hand(cits, ev, size, want):
    assert shard_bounds(np.asarray(cits, dtype=np.int64), np.asarray(ev, dtype=np.int64), size) == want


def test_shard_bounds_refuses_events_out_of_shard_order():
    with pytest.raises(ContestError) as e:
        shard_bounds(np.arange(4, dtype=np.int64), np.array([0, 3, 1], dtype=np.int64), 2)
    assert str(e.value) == "events.parquet is not in shard order; cannot re-score shard by shard"
    assert shard_bounds(np.arange(4, dtype=np.int64), np.array([1, 0, 3, 2], dtype=np.int64), 2) == [(0, 2), (2, 4)]


def test_shard_bounds_with_no_citizens():
    # no citizens at all: one shard holding whatever (quarantined) rows there are
    assert shard_bounds(np.array([], dtype=np.int64), np.array([1, 2], dtype=np.int64), 4) == [(0, 2)]
