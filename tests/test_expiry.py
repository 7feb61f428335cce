"""The expiry bound: no negative entry counts for more than 84 months by default
(218-FZ Art. 7; FCRA s.605), worked by hand with a calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import yaml

from socialrating.engine.score import score
from socialrating.policy.load import parse_policy

D = dt.date
POLICY = """
name: expiry-test
version: "1"
title: Expiry bound
description: test
effective_from: 2010-01-01
references: {law: {title: Test law}}
rating:
  status_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
  level_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
rules:
  - {id: never, event_type: fine.traffic, category: law, points: -10, reference: law}
  - {id: long, event_type: loan.overdue_90d, category: finance, points: -30, expires_after_months: 120, reference: law}
  - {id: short, event_type: tax.arrears, category: finance, points: -20, expires_after_months: 36, reference: law}
  - {id: award, event_type: award.state, category: awards, points: 25, reference: law}
"""
EVENTS = pl.DataFrame({
    "citizen_id": [1, 1, 1, 1],
    "event_type": ["fine.traffic", "loan.overdue_90d", "tax.arrears", "award.state"],
    "occurred_on": [D(2016, 2, 29), D(2017, 1, 31), D(2022, 5, 15), D(2010, 1, 1)],
    "amount": [None] * 4, "source": ["s"] * 4, "record_id": ["a", "b", "c", "d"],
}, schema_overrides={"amount": pl.Float64})


def _ledger(policy, as_of):
    r = score(EVENTS, policy, as_of, np.array([1]))
    led = r.ledger.sort("entry_id")
    return led["expires_on"].to_list(), led["state"].cast(pl.String).to_list(), r.ratings["balance_status"].item()


def test_default_bound_is_84_months():
    p = parse_policy(POLICY)
    assert p.rating.negative_expiry_bound_months == 84
    assert [p.expiry_months(r) for r in p.rules] == [84, 84, 36, None]
    # 2016-02-29 + 84 months = 2023-02-28 (no 29 Feb in 2023); 2017-01-31 + 84 = 2024-01-31
    expires, states, bal = _ledger(p, D(2024, 1, 30))
    assert expires == [D(2023, 2, 28), D(2024, 1, 31), D(2025, 5, 15), None]
    assert states == ["expired", "active", "active", "active"]
    assert bal == -30 - 20 + 25
    # on its expiry date the entry stops counting, and stays visible in the ledger
    expires, states, bal = _ledger(p, D(2024, 1, 31))
    assert states == ["expired", "expired", "active", "active"] and bal == -20 + 25


def test_bound_can_be_set_or_removed():
    d = yaml.safe_load(POLICY)
    d["rating"]["negative_expiry_bound_months"] = 60
    p = parse_policy(yaml.safe_dump(d))
    expires, _, _ = _ledger(p, D(2024, 1, 30))
    assert expires == [D(2021, 2, 28), D(2022, 1, 31), D(2025, 5, 15), None]
    d["rating"]["negative_expiry_bound_months"] = None
    p = parse_policy(yaml.safe_dump(d))
    expires, states, bal = _ledger(p, D(2024, 1, 30))
    assert expires == [None, D(2027, 1, 31), D(2025, 5, 15), None]
    assert bal == -10 - 30 - 20 + 25
