"""The engine's front door, pinned where the hand-worked cases do not reach (issue #17):
the default population, the counts, entry ids with a row offset, and how contest and
review overrides meet entries that have already ended."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from case_runner import events_frame
from socialrating.engine.score import score
from socialrating.policy.load import load_policy

D = dt.date
WE = load_policy("we-platform")
BONUS = load_policy("bonus-only")
ROWS = [
    (3, "court.conviction", D(2025, 2, 1), None),
    (3, "fine.traffic", D(2025, 3, 1), 500.0),
    (7, "health.checkup", D(2024, 1, 10), None),   # expired by the as-of date
    (None, "fine.traffic", D(2025, 3, 1), 500.0),  # quarantined
    (7, "volunteer.hours", D(2025, 4, 1), 12.0),
]
AS_OF = D(2025, 6, 1)


def test_default_population_is_the_citizens_seen_in_the_events():
    a = score(events_frame(ROWS), WE, AS_OF)
    b = score(events_frame(ROWS), WE, AS_OF, np.array([3, 7]))
    assert a.ratings["citizen_id"].to_list() == [3, 7]
    assert a.ratings.equals(b.ratings) and a.ledger.equals(b.ledger) and a.consequences.equals(b.consequences)


def test_counts():
    res = score(events_frame(ROWS), WE, AS_OF, np.array([3, 7, 9]))
    c = res.counts
    assert (c["citizens"], c["ledger_entries"], c["consequences"]) == (3, 4, 5)
    assert (c["events_in"], c["accepted"], c["quarantined"]) == (5, 4, 1)
    # citizen 3: -102 -> status 24 and level 12, both under 25; citizen 7: 12 hours -> 52
    assert sorted(res.consequences["consequence_id"].cast(str)) == [
        "no-credit", "no-good-jobs", "no-study", "no-subsidies", "no-tickets"]
    assert set(res.consequences["citizen_id"].to_list()) == {3}


def test_entry_ids_carry_the_row_offset():
    res = score(events_frame(ROWS), WE, AS_OF, np.array([3, 7]), row_offset=100)
    # entry_id = (events row + offset) * 8 + rule slot
    assert res.ledger.sort("entry_id").select("entry_id", "record_id").rows() == [
        (800, "r0"), (808, "r1"), (816, "r2"), (832, "r4")]
    plain = score(events_frame(ROWS), WE, AS_OF, np.array([3, 7]))
    assert plain.ledger.sort("entry_id")["entry_id"].to_list() == [0, 8, 16, 32]


def _state(res, record_id):
    return str(res.ledger.filter(pl.col("record_id") == record_id)["state"].item())


def test_overrides_meet_entries_that_have_ended():
    ov = pl.DataFrame({"entry_id": [0, 16, 8, 999], "state": ["contested", "contested", "overturned", "overturned"]})
    res = score(events_frame(ROWS), WE, AS_OF, np.array([3, 7]), overrides=ov)
    # contested applies to an entry in force only; overturned to any; an unknown id is ignored
    assert [_state(res, r) for r in ("r0", "r1", "r2", "r4")] == ["contested", "overturned", "expired", "active"]
    # contested points still count under we-platform; the overturned fine does not
    assert res.ratings.filter(pl.col("citizen_id") == 3)["balance_status"].item() == -100


def test_contested_points_are_suspended_where_the_policy_says_so():
    rows = [(1, "civic.blood_donation", D(2025, 1, 1), None), (1, "civic.heroic_act", D(2025, 2, 1), None)]
    ov = pl.DataFrame({"entry_id": [8], "state": ["contested"]})
    res = score(events_frame(rows), BONUS, AS_OF, np.array([1]), overrides=ov)
    assert res.ratings["balance_status"].item() == 10
    assert res.ledger.sort("entry_id")["state"].cast(str).to_list() == ["active", "contested"]
