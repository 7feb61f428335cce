"""Exact recourse, hand-worked on a small policy through `score()`, and checked against
brute force over every subset of a citizen's entries."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialrating.engine.explain import explain
from socialrating.engine.recourse import CitizenRecord, smallest_overturn
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy

D = dt.date
AS_OF = D(2025, 6, 1)

# Scores equal balances (0..99), base 50, so every number below can be checked by hand.
POLICY = """
name: recourse-test
version: "1"
title: Recourse test policy
description: small hand-worked policy
effective_from: 2024-01-01
references:
  law: {title: Test law}
rating:
  base_status: 50
  base_level: 50
  level_window_months: 12
  status_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 99, score: 99}]}
  level_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 99, score: 99}]}
rules:
  - {id: debt, event_type: loan.overdue_90d, category: finance, points: -30, expires_after_months: 24, reference: law}
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 12, reference: law}
  - {id: ban, event_type: enforcement.exit_ban, category: law, points: -5, expires_after_months: 6, reference: law}
  - {id: vol, event_type: volunteer.hours, category: civic, points_per_unit: 1, unit: hours,
     cap: {points: 20, period_months: 12}, expires_after_months: 24, reference: law}
  - {id: award, event_type: award.state, category: awards, points: 25, expires_after_months: 60, reference: law}
consequences:
  - {id: no-credit, kind: restriction, context: credit, description: no loans,
     when: {status: {lt: 25}}, human_review: true, reference: law}
  - {id: no-exit, kind: restriction, context: travel, description: exit ban,
     when: {has_active: enforcement.exit_ban}, human_review: true, reference: law}
  - {id: no-jobs, kind: restriction, context: employment, description: no good jobs,
     when: {all: [{status: {lt: 40}}, {level: {lt: 40}}]}, human_review: true, reference: law}
  - {id: perk, kind: privilege, context: leisure, description: free bikes, when: {status: {gte: 60}}, reference: law}
  - {id: low-level, kind: restriction, context: leisure, description: by default,
     when: {level: {lt: 60}}, human_review: true, reference: law}
contest: {allowed: true, suspend_while_contested: true}
"""
P = parse_policy(POLICY)

# rows -> entry_id = row * 8: debt 0, fine 8, fine 16, ban 24, vol 32
EVENTS = pl.DataFrame({
    "citizen_id": [1, 1, 1, 1, 1],
    "event_type": ["loan.overdue_90d", "fine.traffic", "fine.traffic", "enforcement.exit_ban", "volunteer.hours"],
    "occurred_on": [D(2024, 3, 10), D(2024, 9, 1), D(2025, 1, 15), D(2025, 4, 1), D(2025, 2, 1)],
    "amount": [None, None, None, None, 8.0],
    "source": ["bank", "gibdd", "gibdd", "fssp", "volunteers"],
    "record_id": ["b1", "g1", "g2", "f1", "v1"],
}, schema_overrides={"amount": pl.Float64})


def _explain(overrides=None):
    r = score(EVENTS, P, AS_OF, np.array([1, 2]), overrides=overrides)
    x = explain(P, AS_OF, 1, r.ledger, r.ratings.filter(pl.col("citizen_id") == 1).row(0, named=True), r.consequences)
    return x, {c["consequence_id"]: c for c in x["consequences"]}


def ids(entries):
    return [e["entry_id"] for e in entries]


def test_hand_worked_record():
    # status balance 50 - 30 - 10 - 10 - 5 + 8 = 3; level: the debt (2024-03-10) is outside
    # the 12-month window: 50 - 10 - 10 - 5 + 8 = 33
    x, cons = _explain()
    assert x["recomputed"] == {"balance_status": 3, "balance_level": 33, "status": 3, "level": 33}
    assert sorted(cons) == ["low-level", "no-credit", "no-exit", "no-jobs"]
    e = {e["entry_id"]: e for e in x["entries"]}
    assert (e[0]["source"], e[0]["record_id"], e[0]["rule_id"], e[0]["reference"], e[0]["points"],
            e[0]["occurred_on"], e[0]["expires_on"], e[0]["state"]) == (
        "bank", "b1", "debt", "Test law", -30, "2024-03-10", "2026-03-10", "active")


def test_no_credit_recourse():
    _, cons = _explain()
    r = cons["no-credit"]["recourse"]
    assert r["condition"] == "status 3 < 25 (holds)"
    # (a) fine 8 ends 2025-09-01 (13), ban 2025-10-01 (18), fine 16 2026-01-15 (28 >= 25)
    a = r["lifts_without_new_events"]
    assert a["on"] == "2026-01-15"
    assert [(x["entry_id"], x["ends_on"]) for x in a["entries_ending"]] == [
        (8, "2025-09-01"), (16, "2026-01-15"), (24, "2025-10-01")]
    assert a["entries_leaving_level_window"] == []  # the condition is on status only
    # (b) 22 points are missing; the debt (-30) alone is the only single entry that does it
    assert r["overturn"]["size"] == 1 and ids(r["overturn"]["entries"]) == [0]
    assert r["overturn"]["after"]["status"] == 33 and r["overturn"]["exact"]
    # (c) 3 + 22 = 25; volunteering has only 20 - 8 = 12 points of cap left in 2025
    off = r["offset"]
    assert off["points"] == 22
    by = {w["rule_id"]: w for w in off["rules"]}
    assert by["vol"]["cap_left_this_period"] == 12 and by["vol"]["units"] is None
    assert by["award"]["events"] == 1 and by["award"]["supplies"] == 25
    assert sorted(by) == ["award", "vol"]  # only positive rules


def test_no_jobs_recourse_prefers_the_level_and_the_earliest_equivalent_entry():
    _, cons = _explain()
    r = cons["no-jobs"]["recourse"]
    assert r["condition"] == "all of [status 3 < 40 (holds); level 33 < 40 (holds)] (holds)"
    # the first fine leaves (expires, and the window) on 2025-09-01: level 43
    assert r["lifts_without_new_events"]["on"] == "2025-09-01"
    # one in-window fine suffices (level 43); fines 8 and 16 are equivalent: the earlier one
    assert ids(r["overturn"]["entries"]) == [8]
    assert r["overturn"]["after"]["level"] == 43
    # 33 + 7 = 40: 7 hours of volunteering (cap left 12) or one award
    by = {w["rule_id"]: w for w in r["offset"]["rules"]}
    assert r["offset"]["points"] == 7 and by["vol"]["units"] == 7 and by["award"]["events"] == 1


def test_flag_condition_and_default_restriction():
    _, cons = _explain()
    r = cons["no-exit"]["recourse"]
    assert r["condition"] == "1 'enforcement.exit_ban' entry in force >= 1 (holds)"
    assert r["lifts_without_new_events"]["on"] == "2025-10-01"
    assert ids(r["overturn"]["entries"]) == [24]
    assert r["offset"] is None  # no points lift a flag condition
    d = cons["low-level"]["recourse"]  # level < 60 holds with no entries at all
    assert d["overturn"] is None
    assert d["offset"]["points"] == 27  # 33 + 27 = 60
    assert d["lifts_without_new_events"]["on"] is None


def test_recourse_follows_states():
    # debt overturned: status 33, level 33 -> no-credit gone; no-jobs still by level
    x, cons = _explain(pl.DataFrame({"entry_id": [0], "state": ["overturned"]}))
    assert x["recomputed"]["status"] == 33 and "no-credit" not in cons
    assert ids(cons["no-jobs"]["recourse"]["overturn"]["entries"]) == [8]
    # the ban contested under a suspending policy: it stops counting, no-exit lifts
    x, cons = _explain(pl.DataFrame({"entry_id": [24], "state": ["contested"]}))
    assert "no-exit" not in cons and x["recomputed"]["status"] == 8


def test_privilege_has_no_way_out_section():
    ev = pl.DataFrame({"citizen_id": [2], "event_type": ["award.state"], "occurred_on": [D(2025, 1, 1)],
                       "amount": [None], "source": ["s"], "record_id": ["a"]},
                      schema_overrides={"amount": pl.Float64})
    r = score(ev, P, AS_OF, np.array([2]))
    x = explain(P, AS_OF, 2, r.ledger, None, r.consequences)
    perk = {c["consequence_id"]: c for c in x["consequences"]}["perk"]["recourse"]
    assert perk["condition"] == "status 75 >= 60 (holds)"
    assert perk["lifts_without_new_events"]["on"] == "2030-01-01"
    assert "overturn" not in perk and "offset" not in perk


TYPES = ["loan.overdue_90d", "fine.traffic", "enforcement.exit_ban", "volunteer.hours", "award.state"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 700), st.integers(1, 15)), max_size=8))
def test_smallest_overturn_matches_brute_force(evs):
    ev = pl.DataFrame({
        "citizen_id": [1] * len(evs), "event_type": [e[0] for e in evs],
        "occurred_on": [D(2023, 7, 1) + dt.timedelta(days=e[1]) for e in evs],
        "amount": [float(e[2]) for e in evs], "source": ["s"] * len(evs),
        "record_id": [str(i) for i in range(len(evs))],
    }, schema={"citizen_id": pl.Int64, "event_type": pl.String, "occurred_on": pl.Date,
               "amount": pl.Float64, "source": pl.String, "record_id": pl.String})
    led = score(ev, P, AS_OF, np.array([1])).ledger
    rec = CitizenRecord(P, AS_OF, led)
    live = np.flatnonzero(rec.counting)
    for c in P.consequences:
        if not rec.holds(c.when, rec.ctx)[0]:
            continue
        best = None
        for k in range(len(live) + 1):
            for sub in itertools.combinations(live, k):
                m = np.zeros(len(rec.rows), bool)
                m[list(sub)] = True
                ds = int(rec.points[m].sum())
                dl = int((rec.points * rec.in_window)[m].sum())
                df = rec.flag_of[m].sum(axis=0)
                ctx = rec.contexts(np.array([rec.bal_s - ds]), np.array([rec.bal_l - dl]), (rec.flags - df)[None, :])
                if not rec.holds(c.when, ctx)[0]:
                    best = k
                    break
            if best is not None:
                break
        got = smallest_overturn(rec, c.when)
        assert (got["size"] if got else None) == best, c.id
