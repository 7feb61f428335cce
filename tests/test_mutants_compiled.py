"""engine/compiled.py pinned where mutation testing found it loose (scripts/mutation.py).

The compiled policy's arrays are what the numba kernels read: their dtypes are part of
the contract (narrow columns, one compiled signature), also for a policy with nothing
capped, closed or flagged, where an array is empty or all False. The cache keeps the
most recently used policies, and a cap's sign is taken from the cap even at its edges
(a cap of 1 point; a cap of 0 on a penalty, which the model allows: no points at all).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict

import numpy as np
import pytest

from case_runner import events_frame
from case_runner import policy_head
from socialrating.engine import compiled as C
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy, policy_hash

D = dt.date
HEAD = policy_head("pins", "Pins", "small policies for the compiled arrays")
FULL = parse_policy(HEAD + """
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 6,
     valid_from: 2025-03-01, valid_until: 2025-09-01, reference: law}
  - {id: hours, event_type: volunteer.hours, category: civic, points_per_unit: 1.5, unit: hours,
     cap: {points: 10, period_months: 3}, expires_after_months: 24, reference: law}
  - {id: debt, event_type: enforcement.proceeding, category: law, points: -20, reference: law}
closures:
  - {id: paid, event_type: enforcement.debt_paid, closes: [enforcement.proceeding], within_days: 0,
     reference: law}
consequences:
  - {id: watch, kind: restriction, context: credit, description: under watch,
     when: {has_active: enforcement.proceeding}, reference: law}
""")
# one rule that never expires, nothing capped, closed or tested with has_active
BARE = parse_policy(HEAD + """
rules:
  - {id: good, event_type: civic.blood_donation, category: civic, points: 5, reference: law}
""")


def test_full_policy_array_dtypes():
    cp = C.compile_policy(FULL)
    r = cp.rules
    assert (r.fixed.dtype, r.per_unit.dtype, r.is_unit.dtype) == (np.int16, np.float64, np.bool_)
    assert (r.exp_m.dtype, r.vfrom.dtype, r.vuntil.dtype) == (np.int32, np.int32, np.int32)
    assert cp.caps.capk.dtype == np.int8 and cp.caps.capk.tolist() == [-1, 0, -1]
    assert [a.dtype for a in (cp.caps.period_months, cp.caps.lim, cp.caps.sign)] == [np.int64] * 3
    assert cp.flag_of_rule.dtype == np.int8 and cp.flag_of_rule.tolist() == [-1, -1, 0]
    assert cp.closures[0].targets.dtype == np.bool_ and cp.closable_rules.dtype == np.bool_
    assert cp.closable_rules.tolist() == [False, False, True]
    assert cp.type_of_rule.dtype == np.uint8 and cp.cat_of_rule.dtype == np.uint8
    assert cp.digest == policy_hash(FULL)


def test_bare_policy_has_empty_typed_tables():
    cp = C.compile_policy(BARE)
    # no caps: empty, but still the int64 columns the cap kernels take
    assert cp.caps.rules == () and cp.caps.capk.tolist() == [-1]
    for a in (cp.caps.period_months, cp.caps.lim, cp.caps.sign):
        assert a.dtype == np.int64 and a.shape == (0,)
    # no closures: one False per rule (an array, not numpy's scalar identity of `or`)
    assert isinstance(cp.closable_rules, np.ndarray) and cp.closable_rules.dtype == np.bool_
    assert cp.closable_rules.tolist() == [False]
    assert cp.flag_types == () and cp.flag_of_rule.tolist() == [-1] and cp.flag_of_rule.dtype == np.int8
    # a reward with no expiry of its own never expires: nothing to look ahead for
    assert cp.rules.exp_m.tolist() == [0] and cp.max_expiry_months == 0


def test_code_dtype_edges():
    # codes 0..n-1 of an Enum: 255 values fit in uint8, 256 need the next width
    assert C.code_dtype(1) is np.uint8
    assert C.code_dtype(255) is np.uint8
    assert C.code_dtype(256) is np.uint32


def _capped(points: int, cap: int) -> str:
    etype = "civic.blood_donation" if points > 0 else "fine.traffic"
    return HEAD + f"""
rules:
  - {{id: r, event_type: {etype}, category: civic, points: {points}, expires_after_months: 12,
     cap: {{points: {cap}, period_months: 12}}, reference: law}}
"""


def test_cap_of_one_point_is_a_reward_cap():
    policy = parse_policy(_capped(5, 1))
    assert C.compile_policy(policy).caps.sign.tolist() == [1]
    # two +5 events in one year under a cap of 1: the first gets 1, the second nothing
    ev = events_frame([(1, "civic.blood_donation", D(2025, 2, 1), None),
                       (1, "civic.blood_donation", D(2025, 3, 1), None)])
    led = score(ev, policy, D(2025, 6, 1), np.array([1])).ledger
    assert led["points"].to_list() == [1, 0] and led["points_raw"].to_list() == [5, 5]


def test_cap_of_zero_on_a_penalty_takes_every_point():
    policy = parse_policy(_capped(-5, 0))
    assert C.compile_policy(policy).caps.sign.tolist() == [-1]
    ev = events_frame([(1, "fine.traffic", D(2025, 2, 1), None), (1, "fine.traffic", D(2025, 3, 1), None)])
    res = score(ev, policy, D(2025, 6, 1), np.array([1]))
    assert res.ledger["points"].to_list() == [0, 0] and res.ledger["points_raw"].to_list() == [-5, -5]
    assert res.ratings["balance_status"].to_list() == [0]


def test_cache_keeps_the_most_recently_used(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(C, "_CACHE", OrderedDict())
    policies = [parse_policy(BARE_TEXT.replace('version: "1"', f'version: "v{i}"')) for i in range(C._CACHE_SIZE + 1)]
    first = C.compile_policy(policies[0])
    for p in policies[1:C._CACHE_SIZE]:
        C.compile_policy(p)
    assert C.compile_policy(policies[0]) is first  # used again: now the most recent
    last = C.compile_policy(policies[-1])            # one too many: policies[1] goes
    assert len(C._CACHE) == C._CACHE_SIZE
    assert policy_hash(policies[1]) not in C._CACHE
    assert C.compile_policy(policies[0]) is first and C.compile_policy(policies[-1]) is last


BARE_TEXT = HEAD + """
rules:
  - {id: good, event_type: civic.blood_donation, category: civic, points: 5, reference: law}
"""
