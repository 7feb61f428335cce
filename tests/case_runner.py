"""Runs the OpenFisca-style YAML rule tests in tests/cases/*.yaml.

A case gives citizens, events and the as-of date, and the exact ledger points, ratings
and consequences worked out by hand. Event i gets record_id "r<i>" and source "test".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from socialrating.engine.score import score
from socialrating.policy.load import load_policy

CASES = Path(__file__).parent / "cases"


def load_cases():
    out = []
    for f in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        for case in doc["cases"]:
            out.append((doc["policy"], case))
    return out


def expand_events(specs) -> list[dict]:
    rows = []
    for spec in specs:
        n = spec.get("repeat", 1)
        for k in range(n):
            d = dt.date.fromisoformat(str(spec["date"])) + dt.timedelta(days=k * spec.get("every_days", 1))
            rows.append({"citizen_id": spec.get("citizen", 1), "event_type": spec["type"], "occurred_on": d,
                         "amount": spec.get("amount")})
    return rows


def run_case(policy_name: str, case: dict):
    policy = load_policy(policy_name)
    rows = expand_events(case.get("events", []))
    events = pl.DataFrame(
        {
            "citizen_id": [r["citizen_id"] for r in rows],
            "event_type": [r["event_type"] for r in rows],
            "occurred_on": [r["occurred_on"] for r in rows],
            "amount": [None if r["amount"] is None else float(r["amount"]) for r in rows],
            "source": ["test"] * len(rows),
            "record_id": [f"r{i}" for i in range(len(rows))],
        },
        schema={"citizen_id": pl.Int64, "event_type": pl.String, "occurred_on": pl.Date,
                "amount": pl.Float64, "source": pl.String, "record_id": pl.String},
    )
    cit_spec = case.get("citizens", [1])
    if isinstance(cit_spec, dict):
        citizens = np.array(sorted(cit_spec), dtype=np.int64)
        households = np.array([cit_spec[c]["household"] for c in sorted(cit_spec)], dtype=np.int64)
    else:
        citizens = np.array(sorted(cit_spec), dtype=np.int64)
        households = citizens.copy()
    overrides = None
    if case.get("overrides"):
        ov = case["overrides"]  # {event index: state}
        overrides = pl.DataFrame({"entry_id": [int(i) * 8 for i in ov], "state": list(ov.values())})
    as_of = dt.date.fromisoformat(str(case["as_of"]))
    return score(events, policy, as_of, citizens, households=households, overrides=overrides)


def events_frame(rows) -> pl.DataFrame:
    """Events from (citizen_id, event_type, occurred_on, amount) tuples; row i gets record_id r<i>."""
    return pl.DataFrame({
        "citizen_id": [r[0] for r in rows], "event_type": [r[1] for r in rows],
        "occurred_on": [r[2] for r in rows], "amount": [r[3] for r in rows],
        "source": ["test"] * len(rows), "record_id": [f"r{i}" for i in range(len(rows))],
    }, schema={"citizen_id": pl.Int64, "event_type": pl.String, "occurred_on": pl.Date,
               "amount": pl.Float64, "source": pl.String, "record_id": pl.String})


def policy_head(name: str, title: str, description: str) -> str:
    """The YAML of a small hand-worked policy up to its rules: one reference (`law`), a level
    window of 3 months and both scales linear from balance -100 (score 0) to 100 (score 99),
    so a case's expected scores can be worked out by hand."""
    return f"""
name: {name}
version: "1"
title: {title}
description: {description}
effective_from: 2020-01-01
references: {{law: {{title: Test law}}}}
rating:
  level_window_months: 3
  negative_expiry_bound_months: 60
  status_scale: {{breakpoints: [{{balance: -100, score: 0}}, {{balance: 100, score: 99}}]}}
  level_scale: {{breakpoints: [{{balance: -100, score: 0}}, {{balance: 100, score: 99}}]}}
"""
