"""engine/recourse.py pinned where mutation testing found it loose (scripts/mutation.py):
offsets by rules of every kind (fixed, per unit below one point, capped, a cap used up, valid
from or until the as-of date), the search ranges' edges, the level window in `lifts` for
bands on the level and band caps on the level, the exact search's state bound, and the
helpers' contracts. Hand-worked on the policy below (base 50; status = balance // 2 up to
balance 198; level = balance up to 99; bands: high from 60, mid from 30, low below, on the
status balance). As of 2025-06-01:

  citizen 1: fines 2024-09-01 and 2025-02-01 (-10 each, 2 years), a check-up 2025-01-10 (+4,
      the 'full' rule's whole cap for 2025): balance 34 (status 17);
  citizen 2: six fines, weekly from 2025-01-01: balance -10 (status 0, band low);
  citizen 3: an exit ban 2025-03-01 (-5, never ends) and two check-ups (+4, then 0: capped):
      balance 49;
  citizen 4: two fines in March 2025: balance 30;
  citizen 5: fines 2024-03-01 and 2024-04-01 (out of the 12-month level window) and
      2025-03-01 and 2025-04-01: status balance 10, level balance 30;
  citizen 6: 16 fines in the level window, 16 out of it (still in force) and 16 exit bans
      (-5, never end): status balance 50 - 160 - 160 - 80 = -350, level 50 - 160 - 80 = -190.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.engine import recourse as R
from socialrating.engine.recourse import CitizenRecord, counts_now, recourse, smallest_overturn, with_numbers
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy
from socialrating.policy.model import Bands, ContestSpec

D = dt.date
AS_OF = D(2025, 6, 1)
POLICY = """
name: offset-test
version: "1"
title: Offset test policy
description: recourse's offsets and lifts, worked by hand
effective_from: 2024-01-01
references:
  law: {title: Test law}
rating:
  base_status: 50
  base_level: 50
  level_window_months: 12
  negative_expiry_bound_months: null
  status_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 198, score: 99}]}
  level_scale: {breakpoints: [{balance: 0, score: 0}, {balance: 99, score: 99}]}
  bands: {basis: balance_status, reference: law, cutoffs: [{band: high, min_balance: 60}, {band: mid, min_balance: 30}, {band: low}]}
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 24, reference: law, description: a fine}
  - {id: ban, event_type: enforcement.exit_ban, category: law, points: -5, reference: law, description: a ban}
  - {id: half, event_type: volunteer.hours, category: civic, points_per_unit: 0.5, unit: hours, cap: {points: 6, period_months: 12}, expires_after_months: 24, reference: law, description: half a point an hour}
  - {id: quarter, event_type: civic.blood_donation, category: civic, points_per_unit: 0.25, unit: donations, expires_after_months: 24, reference: law, description: a quarter point a donation}
  - {id: award, event_type: award.state, category: awards, points: 25, valid_from: 2025-06-01, expires_after_months: 60, reference: law, description: an award from the as-of date}
  - {id: late, event_type: civic.heroic_act, category: awards, points: 5, valid_from: 2025-06-02, reference: law, description: an award from the day after}
  - {id: ended, event_type: sport.gto_badge, category: sport, points: 5, valid_until: 2025-06-01, reference: law, description: a badge until the as-of date}
  - {id: full, event_type: health.checkup, category: civic, points: 4, cap: {points: 4, period_months: 12}, reference: law, description: a capped donation}
consequences:
  - {id: low-status, kind: restriction, context: credit, description: status below 40, when: {status: {lt: 40}}, reference: law}
  - {id: low-balance, kind: restriction, context: credit, description: balance below 40, when: {balance_status: {lt: 40}}, reference: law}
  - {id: edge, kind: restriction, context: credit, description: balance below 31, when: {balance_status: {lt: 31}}, reference: law}
  - {id: far, kind: restriction, context: credit, description: balance at most 220, when: {balance_status: {lte: 220}}, reference: law}
  - {id: fined-low, kind: restriction, context: employment, description: fined and low, when: {all: [{balance_status: {lt: 40}}, {has_active: fine.traffic}]}, reference: law}
  - {id: banned, kind: restriction, context: travel, description: banned, when: {has_active: enforcement.exit_ban}, reference: law}
  - {id: below-25, kind: restriction, context: leisure, description: balance below 25, when: {balance_status: {lt: 25}}, reference: law}
  - {id: low-band, kind: restriction, context: housing, description: band low, when: {band: {in: [low]}}, reference: law}
"""
P = parse_policy(POLICY)
rows = [
    (1, "fine.traffic", D(2024, 9, 1), None), (1, "fine.traffic", D(2025, 2, 1), None),
    (1, "health.checkup", D(2025, 1, 10), None),
] + [(2, "fine.traffic", D(2025, 1, 1) + dt.timedelta(days=7 * k), None) for k in range(6)] + [
    (3, "enforcement.exit_ban", D(2025, 3, 1), None), (3, "health.checkup", D(2025, 1, 10), None),
    (3, "health.checkup", D(2025, 2, 10), None),
    (4, "fine.traffic", D(2025, 3, 1), None), (4, "fine.traffic", D(2025, 3, 2), None),
    (5, "fine.traffic", D(2024, 3, 1), None), (5, "fine.traffic", D(2024, 4, 1), None),
    (5, "fine.traffic", D(2025, 3, 1), None), (5, "fine.traffic", D(2025, 4, 1), None),
] + [(6, "fine.traffic", D(2024, 12, 16) + dt.timedelta(days=10 * k), None) for k in range(16)] + [
    (6, "fine.traffic", D(2023, 7, 1) + dt.timedelta(days=20 * k), None) for k in range(16)] + [
    (6, "enforcement.exit_ban", D(2025, 1, 1) + dt.timedelta(days=k), None) for k in range(16)]
EVENTS = pl.DataFrame({"citizen_id": [r[0] for r in rows], "event_type": [r[1] for r in rows],
                       "occurred_on": [r[2] for r in rows], "amount": [r[3] for r in rows],
                       "source": ["s"] * len(rows), "record_id": [f"r{i}" for i in range(len(rows))]},
                      schema_overrides={"amount": pl.Float64})


_SCORED: dict[int, object] = {}


def _scored(policy=P):
    """Scored in the first test that needs it, not at import (mutmut forks after importing)."""
    if id(policy) not in _SCORED:
        _SCORED[id(policy)] = score(EVENTS, policy, AS_OF, np.array([1, 2, 3, 4, 5, 6]))
    return _SCORED[id(policy)]


def _recourse(cid, cons_id, policy=P):
    r = _scored(policy)
    led = r.ledger.filter(pl.col("citizen_id") == cid)
    row = r.consequences.filter((pl.col("citizen_id") == cid) & (pl.col("consequence_id") == cons_id)).row(0, named=True)
    return recourse(policy, AS_OF, led, row)


def _offer(out):
    return {w["rule_id"]: w for w in out["offset"]["rules"]}


HALF = {"rule_id": "half", "description": "half a point an hour", "points_per_unit": 0.5, "unit": "hours"}
QUARTER = {"rule_id": "quarter", "description": "a quarter point a donation", "points_per_unit": 0.25,
           "unit": "donations"}
AWARD = {"rule_id": "award", "description": "an award from the as-of date", "points_per_event": 25}
FULL = {"rule_id": "full", "description": "a capped donation", "points_per_event": 4}


def test_offset_every_kind_of_rule():
    """Citizen 1, balance 34 < 40: 6 points. Half a point an hour: 12 hours, exactly the 6
    points left of its cap; a quarter point: 24 donations; an award (valid from the as-of
    date): one event of 25; the check-up's cap is used up this year. The award valid from
    the day after and the badge valid until the as-of date are not offered."""
    out = _recourse(1, "low-balance")
    assert out["offset"] == {"points": 6, "rules": [
        {**HALF, "cap_left_this_period": 6, "units": 12, "supplies": 6},
        {**QUARTER, "units": 24, "supplies": 6},
        {**AWARD, "events": 1, "supplies": 25},
        {**FULL, "cap_left_this_period": 0, "events": None, "why_not": "its cap leaves 0 points this period"},
    ]}


def test_offset_beyond_a_cap_and_with_a_cap_left():
    """Citizen 1, status 17 < 40: status 40 needs balance 80, 46 points: more than the 6 the
    hours' cap leaves; 184 donations (46 points), two awards. Citizen 4 (30 < 31): 1 point,
    which one check-up (4 points, its cap untouched) supplies."""
    out = _recourse(1, "low-status")
    assert out["offset"]["points"] == 46
    assert _offer(out)["half"] == {**HALF, "cap_left_this_period": 6, "units": None,
                                   "why_not": "its cap leaves 6 points this period"}
    assert _offer(out)["quarter"] == {**QUARTER, "units": 184, "supplies": 46}
    assert _offer(out)["award"] == {**AWARD, "events": 2, "supplies": 50}
    edge = _recourse(4, "edge")
    assert edge["offset"] == {"points": 1, "rules": [
        {**HALF, "cap_left_this_period": 6, "units": 2, "supplies": 1},
        {**QUARTER, "units": 4, "supplies": 1},
        {**AWARD, "events": 1, "supplies": 25},
        {**FULL, "cap_left_this_period": 4, "events": 1, "supplies": 4},
    ]}


def test_offset_at_the_far_end_of_the_search():
    """Citizen 2 (balance -10), balance <= 220: 231 points, one short of the search's end
    (220 - (-10) + 2 = 232): 924 donations or ten awards."""
    out = _recourse(2, "far")
    assert out["offset"]["points"] == 231
    assert _offer(out)["quarter"] == {**QUARTER, "units": 924, "supplies": 231}
    assert _offer(out)["award"] == {**AWARD, "events": 10, "supplies": 250}


def test_offset_reads_the_second_flag_type_as_its_own():
    """fined-low needs a fine in force (the second flag type; citizen 1 has no exit ban, the
    first): points lift it only through the balance, 6 points as for low-balance."""
    out = _recourse(1, "fined-low")
    assert P.flag_event_types == ["enforcement.exit_ban", "fine.traffic"]
    assert out["offset"]["points"] == 6


def test_never_ending_entries_are_the_negative_ones():
    """Citizen 3's ban never ends; so do the two check-ups (+4, and 0 once capped), which do
    not hold the restriction and are not listed."""
    out = _recourse(3, "banned")
    assert out["lifts_without_new_events"] == {"on": None, "never_ending_entries": [
        {"entry_id": 72, "rule_id": "ban", "points": -5, "occurred_on": "2025-03-01", "state": "active"}]}


def _leaving(out):
    return [(e["entry_id"], e["leaves_level_window_on"]) for e in out["lifts_without_new_events"]["entries_leaving_level_window"]]


def test_band_on_the_status_balance_lists_no_level_window_exits():
    """Citizen 2's band (status balance -10) lifts when the fourth fine expires, 2027-01-22;
    the level window does not move it, so the fines leaving it are not listed."""
    out = _recourse(2, "low-band")
    assert out["lifts_without_new_events"]["on"] == "2027-01-22"
    assert [e["entry_id"] for e in out["lifts_without_new_events"]["entries_ending"]] == [24, 32, 40, 48]
    assert _leaving(out) == []


def _bands(**kw):
    b = P.rating.bands.model_dump()
    b.update(kw)
    return P.model_copy(update={"rating": P.rating.model_copy(update={"bands": Bands(**b)})})


P_LEVEL = _bands(basis="balance_level")
P_CAP = _bands(caps=[{"when": {"level": {"lt": 5}}, "band": "low", "reference": "law"}])


def test_band_on_the_level_lists_the_entries_leaving_the_window():
    """Bands on the level balance: citizen 2's level (-10) reaches 30 when the fourth fine
    leaves the window, 2026-01-22; no entry ends by then."""
    out = _recourse(2, "low-band", P_LEVEL)
    assert out["lifts_without_new_events"]["on"] == "2026-01-22"
    assert out["lifts_without_new_events"]["entries_ending"] == []
    assert _leaving(out) == [(24, "2026-01-01"), (32, "2026-01-08"), (40, "2026-01-15"), (48, "2026-01-22")]


def test_band_capped_by_the_level_lists_the_entries_leaving_the_window():
    """Bands on the status balance, capped at low while the level is below 5: citizen 2
    lifts on 2027-01-22 (status balance 30; the level is back to 50 by then). The four fines
    that expire by then are listed as ending; the two that end later left the window in
    early 2026 and are listed as leaving it."""
    out = _recourse(2, "low-band", P_CAP)
    assert out["lifts_without_new_events"]["on"] == "2027-01-22"
    assert [e["entry_id"] for e in out["lifts_without_new_events"]["entries_ending"]] == [24, 32, 40, 48]
    assert _leaving(out) == [(56, "2026-01-29"), (64, "2026-02-05")]


def test_smallest_overturn_keeps_the_fewest_removals_when_bounded(monkeypatch):
    """Citizen 5, balance 10 < 25: two removals lift it. Its fines form two classes (two out
    of the level window, two in). Bounded to 3 states the search keeps those of 0 and 1
    removals, none of which lifts: no answer, and none said to be exact. Citizen 2's six
    fines are one class: 7 states; bounded to 6 (0-5 removals) five still lift it, not exact;
    bounded to 7 nothing is cut: exact."""
    r = _scored()
    led5 = r.ledger.filter(pl.col("citizen_id") == 5)
    rec5 = CitizenRecord(P, AS_OF, led5)
    cond5 = P.consequence("below-25").when
    assert smallest_overturn(rec5, cond5)["size"] == 2
    monkeypatch.setattr(R, "MAX_STATES", 3)
    assert smallest_overturn(rec5, cond5) is None
    rec2 = CitizenRecord(P, AS_OF, r.ledger.filter(pl.col("citizen_id") == 2))
    cond2 = P.consequence("low-balance").when
    monkeypatch.setattr(R, "MAX_STATES", 6)
    got = smallest_overturn(rec2, cond2)
    assert (got["size"], got["exact"]) == (5, False)
    assert [e["entry_id"] for e in got["entries"]] == [24, 32, 40, 48, 56]
    monkeypatch.setattr(R, "MAX_STATES", 2)
    assert smallest_overturn(rec2, cond2) is None
    monkeypatch.setattr(R, "MAX_STATES", 7)
    assert smallest_overturn(rec2, cond2)["exact"] is True


def test_smallest_overturn_over_thousands_of_states():
    """Citizen 6: three classes of 16 entries, 17**3 = 4,913 states, enough for the scales'
    lookup-table path. Balance below 25 needs 375 points back: all 32 fines (320) and the
    11 earliest bans (55), 43 entries; after: status balance 25 (status 12), level
    -190 + 160 + 55 = 25, band low."""
    r = _scored()
    rec = CitizenRecord(P, AS_OF, r.ledger.filter(pl.col("citizen_id") == 6))
    assert (rec.bal_s, rec.bal_l) == (-350, -190)
    got = smallest_overturn(rec, P.consequence("below-25").when)
    bans = r.ledger.filter((pl.col("citizen_id") == 6) & (pl.col("rule_id") == "ban")).sort("occurred_on")
    fines = r.ledger.filter((pl.col("citizen_id") == 6) & (pl.col("rule_id") == "fine"))
    assert got["size"] == 43 and got["exact"] is True
    assert sorted(e["entry_id"] for e in got["entries"]) == sorted(fines["entry_id"].to_list()
                                                                   + bans["entry_id"].to_list()[:11])
    assert got["after"] == {"balance_status": 25, "balance_level": 25, "status": 12, "level": 25, "band": "low"}


def test_recourse_builds_the_record_itself_when_not_given_one():
    r = _scored()
    led = r.ledger.filter(pl.col("citizen_id") == 1)
    for row in r.consequences.filter(pl.col("citizen_id") == 1).iter_rows(named=True):
        assert recourse(P, AS_OF, led, row) == recourse(P, AS_OF, led, row, CitizenRecord(P, AS_OF, led))
    assert _recourse(1, "low-balance")["condition"] == "status balance 34 < 40 (holds)"


def test_household_note_without_a_lift_date():
    r = _scored()
    out = recourse(P, AS_OF, r.ledger.filter(pl.col("citizen_id") == 4),
                   {"consequence_id": "banned", "via_citizen_id": 3, "until": None})
    assert out == {"consequence_id": "banned", "kind": "restriction",
                   "condition": "0 'enforcement.exit_ban' entries in force >= 1 (fails)", "via_household_member": 3,
                   "note": "held because household member 3 is under it; it lifts for this citizen when it lifts "
                           "for them; their record shows their way out"}


def test_counts_now_by_state_and_policy():
    suspend = P.model_copy(update={"contest": ContestSpec(suspend_while_contested=True)})
    assert [counts_now(s, P) for s in ("active", "contested", "overturned", "expired", "closed")] == [
        True, True, False, False, False]
    assert [counts_now(s, suspend) for s in ("active", "contested")] == [True, False]


def test_with_numbers_reads_the_row_asked_for_and_refuses_what_is_not_a_condition():
    rec = CitizenRecord(P, AS_OF, _scored().ledger.filter(pl.col("citizen_id") == 1))
    ctx = rec.contexts(np.array([34, 45]), np.array([34, 45]), np.zeros((2, 2), np.int64))
    cond = P.consequence("low-balance").when
    assert with_numbers(cond, ctx, None, 1) == "status balance 45 < 40 (fails)"
    assert with_numbers(cond, ctx, None) == "status balance 34 < 40 (holds)"
    with pytest.raises(TypeError, match=r"^not a condition: 'status < 40'$"):
        with_numbers("status < 40", ctx, None)
