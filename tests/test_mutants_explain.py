"""engine/explain.py pinned where mutation testing found it loose (scripts/mutation.py):
everything `explain` tells two citizens, worked by hand on a small policy that has what the
other cases lack: a reference with a publisher, bands, an entry that never expires, a
closed entry, an overturned one, one on the level window's edge, flag counts of one and two,
and a consequence held through the household.

Citizen 1 (household 7), as of 2025-06-01, base 50 for both numbers, scores = balances:
  fine f1 2024-06-01 (-10, expires 2026-06-01): counts; leaves the 12-month level window on
      2025-06-01, the as-of date itself, so not in the level;
  proceeding d1 2024-09-01 (-8), closed 2024-10-02 by the payment p1 of 2024-10-01;
  fine f2 2025-01-15 (-10, expires 2027-01-15); exit ban b1 2025-02-01 (-5, never expires);
  fine f3 2025-03-01 overturned on review.
  status 50 - 10 - 10 - 5 = 25 (band low: below 30), level 50 - 10 - 5 = 35.
  Status over time: 40 on 2024-06-01, 32 on 2024-09-01, 40 again on 2024-10-02 (closed),
  30 on 2025-01-15, 25 on 2025-02-01: under 40 since 2025-01-15; back to 40 or more when f2
  expires on 2027-01-15 (f1's expiry alone gives 35). The level likewise, below 40 since
  2025-01-15; 45 on 2026-01-15 when f2 leaves the window.
Citizen 2 (household 7): two exit bans, status = level = 40, band mid; under the household
  restriction through citizen 1.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import polars as pl

from socialrating.engine.explain import explain
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy

D = dt.date
AS_OF = D(2025, 6, 1)
POLICY = """
name: explain-test
version: "2"
title: Explain test policy
description: every field of explain's output, worked by hand
effective_from: 2024-01-01
references:
  law: {title: Test law, publisher: Test Duma, year: 2024}
  memo: {title: Test memo}
rating:
  base_status: 50
  base_level: 50
  level_window_months: 12
  negative_expiry_bound_months: null
  status_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 99, score: 99}]}
  level_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 99, score: 99}]}
  bands: {basis: balance_status, reference: memo, cutoffs: [{band: high, min_balance: 60}, {band: mid, min_balance: 30}, {band: low}]}
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 24, reference: law, description: a traffic fine}
  - {id: ban, event_type: enforcement.exit_ban, category: law, points: -5, reference: memo, description: an exit ban}
  - {id: debt, event_type: enforcement.proceeding, category: law, points: -8, expires_after_months: 24, reference: law, description: a proceeding}
closures:
  - {id: paid, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 1, reference: law, description: paying ends it}
consequences:
  - {id: few-bans, kind: restriction, context: travel, description: fewer than two bans, when: {not: {has_active: {event_type: enforcement.exit_ban, at_least: 2}}}, reference: memo}
  - {id: many-bans, kind: restriction, context: travel, description: two bans or more, when: {has_active: {event_type: enforcement.exit_ban, at_least: 2}}, reference: memo}
  - {id: mid-band, kind: restriction, context: credit, description: below the high band, when: {band: {in: [mid, low]}}, human_review: true, reference: law}
  - {id: no-jobs, kind: restriction, context: employment, description: a low level, when: {level: {lt: 40}}, reference: law}
  - {id: fam, kind: restriction, context: leisure, description: the household too, when: {status: {lt: 40}}, applies_to_household: true, reference: law}
contest: {allowed: true}
"""
P = parse_policy(POLICY)
ROWS = [
    (1, "fine.traffic", D(2024, 6, 1), "f1"), (1, "enforcement.proceeding", D(2024, 9, 1), "d1"),
    (1, "enforcement.debt_paid", D(2024, 10, 1), "p1"), (1, "fine.traffic", D(2025, 1, 15), "f2"),
    (1, "enforcement.exit_ban", D(2025, 2, 1), "b1"), (1, "fine.traffic", D(2025, 3, 1), "f3"),
    (2, "enforcement.exit_ban", D(2025, 1, 1), "b2"), (2, "enforcement.exit_ban", D(2025, 2, 1), "b3"),
]
EVENTS = pl.DataFrame({"citizen_id": [r[0] for r in ROWS], "event_type": [r[1] for r in ROWS],
                       "occurred_on": [r[2] for r in ROWS], "amount": [None] * len(ROWS),
                       "source": ["gibdd" if r[1].startswith("fine") else "fssp" for r in ROWS],
                       "record_id": [r[3] for r in ROWS]}, schema_overrides={"amount": pl.Float64})


@functools.cache
def _scored():
    """Scored once, in the first test that needs it (not at import: scripts/mutation.py's
    mutmut imports the tests, then forks, and polars' threads do not survive a fork).
    Entry id = 8 x the record's row; the payment (row 2) is a closure, not an entry."""
    return score(EVENTS, P, AS_OF, np.array([1, 2, 3]), households=np.array([7, 7, 8]),
                 overrides=pl.DataFrame({"entry_id": [40], "state": ["overturned"]}))


def _explain(cid, rating="on file"):
    r = _scored()
    row = r.ratings.filter(pl.col("citizen_id") == cid).row(0, named=True) if rating == "on file" else rating
    return explain(P, AS_OF, cid, r.ledger, row, r.consequences)


def _entry(eid, on, etype, rid, rule_id, points, expires, closed, state, in_status, in_level):
    source, rule, ref = {"fine": ("gibdd", "a traffic fine", "Test law (Test Duma, 2024)"),
                         "debt": ("fssp", "a proceeding", "Test law (Test Duma, 2024)"),
                         "ban": ("fssp", "an exit ban", "Test memo")}[rule_id]
    return {"entry_id": eid, "occurred_on": on, "event_type": etype, "source": source, "record_id": rid,
            "rule_id": rule_id, "rule": rule, "reference": ref, "points": points, "points_before_cap": points,
            "expires_on": expires, "closed_on": closed, "state": state, "counts_in_status": in_status,
            "counts_in_level": in_level}


def _ref(eid, rule_id, points, on, **extra):
    return {"entry_id": eid, "rule_id": rule_id, "points": points, "occurred_on": on, "state": "active", **extra}


def _cons(cid, kind_ctx, desc, because, holds, via, since, until, review, ref, recourse):
    return {"consequence_id": cid, "kind": "restriction", "context": kind_ctx, "description": desc,
            "because": because, "condition_holds_on_recomputation": holds, "via_household_member": via,
            "since": since, "until": until, "human_review": review, "reference": ref, "recourse": recourse}


B1 = _ref(32, "ban", -5, "2025-02-01")
F1, F2 = _ref(0, "fine", -10, "2024-06-01"), _ref(24, "fine", -10, "2025-01-15")
RATING_1 = {"balance_status": 25, "balance_level": 35, "status": 25, "level": 35, "band": "low"}


def test_explain_citizen_1_every_field():
    x = _explain(1)
    assert x == {
        "citizen_id": 1, "as_of": "2025-06-01", "policy": "explain-test 2",
        "rating_on_file": {"citizen_id": 1, "as_of": AS_OF, **RATING_1},
        "recomputed": RATING_1,
        "matches_rating_on_file": True,
        "arithmetic": {
            "status": "base 50 + -25 (entries in force) = 25; 0 + floor((25 - 0) x (99 - 0) / (99 - 0)) = 25",
            "level": "base 50 + -15 (entries in force from the last 12 months) = 35; "
                     "0 + floor((35 - 0) x (99 - 0) / (99 - 0)) = 35",
        },
        "entries": [
            _entry(0, "2024-06-01", "fine.traffic", "f1", "fine", -10, "2026-06-01", None, "active", True, False),
            _entry(8, "2024-09-01", "enforcement.proceeding", "d1", "debt", -8, "2026-09-01", "2024-10-02", "closed",
                   False, False),
            _entry(24, "2025-01-15", "fine.traffic", "f2", "fine", -10, "2027-01-15", None, "active", True, True),
            _entry(32, "2025-02-01", "enforcement.exit_ban", "b1", "ban", -5, None, None, "active", True, True),
            _entry(40, "2025-03-01", "fine.traffic", "f3", "fine", -10, "2027-03-01", None, "overturned", False, False),
        ],
        "consequences": [
            _cons("few-bans", "travel", "fewer than two bans", "not at least 2 active 'enforcement.exit_ban' entries",
                  True, None, "2024-01-01", None, False, "Test memo", {
                      "consequence_id": "few-bans", "kind": "restriction",
                      "condition": "not [1 'enforcement.exit_ban' entry in force >= 2 (fails)] (holds)",
                      "lifts_without_new_events": {"on": None, "never_ending_entries": [B1]},
                      "overturn": None, "offset": None}),
            _cons("mid-band", "credit", "below the high band", "band in mid, low", True, None, "2024-01-01", None,
                  True, "Test law", {
                      "consequence_id": "mid-band", "kind": "restriction",
                      "condition": "band low in {mid, low} (holds)",
                      "lifts_without_new_events": {"on": None, "never_ending_entries": [B1]},
                      "overturn": None,  # all 25 points of entries give 50: still below 60
                      "offset": {"points": 35, "rules": []}}),  # 25 + 35 = 60, band high
            _cons("no-jobs", "employment", "a low level", "level below 40", True, None, "2025-01-15", "2026-01-15",
                  False, "Test law", {
                      "consequence_id": "no-jobs", "kind": "restriction", "condition": "level 35 < 40 (holds)",
                      "lifts_without_new_events": {"on": "2026-01-15", "entries_ending": [],
                                                   "entries_leaving_level_window": [
                                                       {**F2, "leaves_level_window_on": "2026-01-15"}]},
                      "overturn": {"size": 1, "entries": [F2], "exact": True, "after": {
                          "balance_status": 35, "balance_level": 45, "status": 35, "level": 45, "band": "mid"}},
                      "offset": {"points": 5, "rules": []}}),
            _cons("fam", "leisure", "the household too", "status below 40", True, None, "2025-01-15", "2027-01-15",
                  False, "Test law", {
                      "consequence_id": "fam", "kind": "restriction", "condition": "status 25 < 40 (holds)",
                      "lifts_without_new_events": {"on": "2027-01-15", "entries_leaving_level_window": [],
                                                   "entries_ending": [{**F1, "ends_on": "2026-06-01"},
                                                                      {**F2, "ends_on": "2027-01-15"}]},
                      "overturn": {"size": 2, "entries": [F1, F2], "exact": True, "after": {
                          "balance_status": 45, "balance_level": 45, "status": 45, "level": 45, "band": "mid"}},
                      "offset": {"points": 15, "rules": []}}),
        ],
        "consequences_not_held": [{"consequence_id": "many-bans", "kind": "restriction",
                                   "condition": "at least 2 active 'enforcement.exit_ban' entries"}],
    }


def test_explain_citizen_2_flag_count_two_and_the_household():
    x = _explain(2)
    assert x["recomputed"] == {"balance_status": 40, "balance_level": 40, "status": 40, "level": 40, "band": "mid"}
    assert x["matches_rating_on_file"] is True
    cons = {c["consequence_id"]: c for c in x["consequences"]}
    assert list(cons) == ["many-bans", "mid-band", "fam"]
    assert cons["many-bans"]["condition_holds_on_recomputation"] is True  # two bans counted, not one
    assert cons["many-bans"]["since"] == "2025-02-01" and cons["many-bans"]["until"] is None
    fam = cons["fam"]
    assert (fam["because"], fam["via_household_member"], fam["condition_holds_on_recomputation"],
            fam["since"], fam["until"]) == ("household member: status below 40", 1, None, "2025-01-15", "2027-01-15")
    assert fam["recourse"] == {
        "consequence_id": "fam", "kind": "restriction", "condition": "status 40 < 40 (fails)",
        "via_household_member": 1,
        "note": "held because household member 1 is under it; it lifts for this citizen when it lifts for them "
                "(2027-01-15); their record shows their way out"}
    assert x["consequences_not_held"] == [
        {"consequence_id": "few-bans", "kind": "restriction",
         "condition": "not at least 2 active 'enforcement.exit_ban' entries"},
        {"consequence_id": "no-jobs", "kind": "restriction", "condition": "level below 40"}]


def test_matches_rating_on_file_none_without_a_rating_and_false_when_one_number_differs():
    assert _explain(1, rating=None)["matches_rating_on_file"] is None
    assert _explain(1, rating=None)["rating_on_file"] is None
    assert _explain(1, rating={**RATING_1, "level": 36})["matches_rating_on_file"] is False
    assert _explain(1, rating={**RATING_1, "band": "mid"})["matches_rating_on_file"] is False
    assert _explain(1, rating=dict(RATING_1))["matches_rating_on_file"] is True
