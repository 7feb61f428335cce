"""The compiled policy (engine/compiled.py): the arrays the engine runs, worked by hand on a
small policy; built once per policy however many calls and months use it; and scoring
with it gives exactly what scoring with the Policy gives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from case_runner import events_frame
from socialrating.engine import compiled as C
from socialrating.engine.monthly import MonthlyEngine
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy

D = dt.date
TEXT = """
name: compiled
version: "1"
title: Compiled
description: one rule of each kind, worked by hand
effective_from: 2020-01-01
references: {law: {title: Test law}}
rating:
  level_window_months: 3
  negative_expiry_bound_months: 60
  status_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
  level_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 6,
     valid_from: 2025-03-01, valid_until: 2025-09-01, reference: law}
  - {id: hours, event_type: volunteer.hours, category: civic, points_per_unit: 1.5, unit: hours,
     cap: {points: 10, period_months: 3}, expires_after_months: 24, reference: law}
  - {id: debt, event_type: enforcement.proceeding, category: law, points: -20, reference: law}
  - {id: late, event_type: enforcement.proceeding, category: finance, points: -5, expires_after_months: 120,
     cap: {points: -8, period_months: 12}, reference: law}
closures:
  - {id: paid, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 0,
     reference: law}
consequences:
  - {id: watch, kind: restriction, context: credit, description: under watch,
     when: {has_active: enforcement.proceeding}, reference: law}
  - {id: fined, kind: restriction, context: travel, description: fined, when: {has_active: fine.traffic},
     reference: law}
"""
POLICY = parse_policy(TEXT)


def test_rule_arrays_by_hand():
    cp = C.compile_policy(POLICY)
    r = cp.rules
    assert r.fixed.tolist() == [-10, 0, -20, -5] and r.fixed.dtype == np.int16
    assert r.per_unit.tolist() == [0.0, 1.5, 0.0, 0.0]
    assert r.is_unit.tolist() == [False, True, False, False]
    # debt: no expiry of its own, so the negative bound (60); late: 120 bounded to 60
    assert r.exp_m.tolist() == [6, 24, 60, 60]
    # 2025-03-01 is day 20148 (2025-01-01 = 20089, + 31 + 28); 2025-09-01 is 184 days later
    assert r.vfrom.tolist() == [20148, -C.NEVER, -C.NEVER, -C.NEVER]
    assert r.vuntil.tolist() == [20332, C.NEVER, C.NEVER, C.NEVER]
    assert cp.max_expiry_months == 60


def test_flags_caps_closures_and_codes_by_hand():
    cp = C.compile_policy(POLICY)
    assert cp.flag_types == ("enforcement.proceeding", "fine.traffic")
    assert cp.flag_of_rule.tolist() == [1, -1, 0, 0]
    assert cp.caps.rules == (1, 3)
    assert cp.caps.capk.tolist() == [-1, 0, -1, 1]
    assert cp.caps.period_months.tolist() == [3, 12]
    assert cp.caps.lim.tolist() == [10, 8] and cp.caps.sign.tolist() == [1, -1]
    assert [c.closure.id for c in cp.closures] == ["paid"]
    assert cp.closures[0].targets.tolist() == [False, False, True, True]
    assert cp.closable_rules.tolist() == [False, False, True, True]
    assert cp.types == ("enforcement.proceeding", "fine.traffic", "volunteer.hours")
    assert cp.type_of_rule.tolist() == [1, 2, 0, 0]
    assert cp.categories == ("civic", "finance", "law")
    assert cp.cat_of_rule.tolist() == [2, 0, 2, 1]
    assert cp.because == ("an active 'enforcement.proceeding' entry", "an active 'fine.traffic' entry")


def test_cached_on_the_policy_hash():
    a = C.compile_policy(POLICY)
    assert C.compile_policy(POLICY) is a
    assert C.compile_policy(parse_policy(TEXT)) is a  # the same rules parsed again
    assert C.compile_policy(a) is a
    changed = parse_policy(TEXT.replace("points: -20", "points: -25"))
    b = C.compile_policy(changed)
    assert b is not a and b.rules.fixed.tolist() == [-10, 0, -25, -5]


ROWS = [
    (1, "fine.traffic", D(2025, 4, 2), None),
    (1, "volunteer.hours", D(2025, 4, 3), 4.0),
    (1, "volunteer.hours", D(2025, 5, 3), 4.0),   # 6 + 6 > cap 10: cut to 4
    (2, "enforcement.proceeding", D(2025, 2, 1), None),
    (2, "enforcement.proceeding", D(2025, 3, 1), None),
    (2, "enforcement.debt_paid", D(2025, 6, 1), None),
    (3, "fine.traffic", D(2025, 9, 1), None),      # on valid_until: no entry
]


def test_score_with_the_compiled_policy_is_the_same():
    ev = events_frame(ROWS)
    cit = np.array([1, 2, 3])
    a = score(ev, POLICY, D(2025, 7, 1), cit)
    b = score(ev, C.compile_policy(POLICY), D(2025, 7, 1), cit)
    for x, y in ((a.ledger, b.ledger), (a.ratings, b.ratings), (a.consequences, b.consequences)):
        assert x.equals(y)
    # hand-worked: citizen 1: fine -10, hours 6 then 4 (cap 10); citizen 2: two debts
    # (-20 and -5 each) closed by the payment on 2025-06-01; the late rule's cap (-8 a year)
    # cuts the second -5 to -3
    pts = {(r["record_id"], r["rule_id"]): (r["points"], str(r["state"])) for r in a.ledger.iter_rows(named=True)}
    assert pts == {
        ("r0", "fine"): (-10, "active"), ("r1", "hours"): (6, "active"), ("r2", "hours"): (4, "active"),
        ("r3", "debt"): (-20, "closed"), ("r3", "late"): (-5, "closed"),
        ("r4", "debt"): (-20, "closed"), ("r4", "late"): (-3, "closed"),
    }
    assert a.ratings["balance_status"].to_list() == [0, 0, 0]
    assert a.consequences["consequence_id"].cast(str).to_list() == ["fined"]


def test_built_once_for_every_call_and_month(monkeypatch: pytest.MonkeyPatch):
    text = TEXT.replace('version: "1"', 'version: "once"')  # a policy no other test has compiled
    calls = []
    real = C.build_compiled
    monkeypatch.setattr(C, "build_compiled", lambda p: calls.append(p) or real(p))
    policy = parse_policy(text)
    cit = np.array([1, 2, 3])
    eng = MonthlyEngine(policy, cit, D(2025, 2, 1), 4)
    ev = events_frame(ROWS)
    for month in range(4):
        lo, hi = dt.date(2025, 2 + month, 1), dt.date(2025, 3 + month, 1)
        eng.step(ev.filter((ev["occurred_on"] >= lo) & (ev["occurred_on"] < hi)), with_ledger=True)
        score(ev, policy, D(2025, 7, 1), cit)
    assert len(calls) == 1
