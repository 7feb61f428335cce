"""The citizen's record: every entry, the arithmetic from entries to the two numbers, and
each consequence with the condition that holds.

`explain` recomputes status and level from the entries it shows (never from stored
totals) and says whether they match the rating on file, so a reader can check every
point by hand. Each consequence carries its recourse (`engine.recourse`): the condition
with the citizen's numbers, when it lifts by itself, the smallest set of entries whose
overturning lifts it now, and the positive points that would offset it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from ..policy.conditions import describe
from ..policy.model import Policy
from .dates import add_months_scalar
from .evaluate import derive, evaluate
from .recourse import CitizenRecord, counts_now, recourse
from .scales import scale_one

__all__ = ["counts_now", "explain"]


def explain(policy: Policy, as_of: dt.date, citizen_id: int, ledger: pl.DataFrame,
            rating: dict | None, consequences: pl.DataFrame) -> dict[str, Any]:
    """Everything about one citizen, as plain data (the CLI prints it or dumps it as JSON).

    `ledger` and `consequences` may hold other citizens' rows; only `citizen_id`'s are used.
    """
    led = ledger.filter(pl.col("citizen_id") == citizen_id).sort(["occurred_on", "entry_id"])
    cons = consequences.filter(pl.col("citizen_id") == citizen_id)
    rs = policy.rating
    entries, (bal_s, bal_l, flags) = _entries(policy, as_of, led)
    status, status_how = scale_one(bal_s, rs.status_scale)
    level, level_how = scale_one(bal_l, rs.level_scale)
    ctx = derive(np.array([bal_s]), np.array([bal_l]), {k: np.array([v]) for k, v in flags.items()}, policy)
    band = rs.bands.names[int(ctx["band"][0])] if rs.bands else None
    out_cons = _consequences(policy, as_of, led, cons, ctx)
    recomputed = {"balance_status": bal_s, "balance_level": bal_l, "status": status, "level": level}
    if band is not None:
        recomputed["band"] = band
    matches = None
    if rating is not None:
        matches = all(rating.get(k) == v for k, v in recomputed.items())
    return {
        "citizen_id": citizen_id,
        "as_of": as_of.isoformat(),
        "policy": f"{policy.name} {policy.version}",
        "rating_on_file": rating,
        "recomputed": recomputed,
        "matches_rating_on_file": matches,
        "arithmetic": {
            "status": f"base {rs.base_status} + {sum(e['points'] for e in entries if e['counts_in_status'])} "
                      f"(entries in force) = {bal_s}; {status_how}",
            "level": f"base {rs.base_level} + {sum(e['points'] for e in entries if e['counts_in_level'])} "
                     f"(entries in force from the last {rs.level_window_months} months) = {bal_l}; {level_how}",
        },
        "entries": entries,
        "consequences": out_cons,
        "consequences_not_held": [
            {"consequence_id": c.id, "kind": c.kind, "condition": describe(c.when)}
            for c in policy.consequences if c.id not in {x["consequence_id"] for x in out_cons}
        ],
    }


def _entries(policy: Policy, as_of: dt.date, led: pl.DataFrame) -> tuple[list[dict], tuple[int, int, dict]]:
    """The citizen's entries as shown, and the balances and flag counts summed from them
    (in the order shown, so the arithmetic reads from the list)."""
    rs = policy.rating
    entries = []
    bal_s, bal_l = rs.base_status, rs.base_level
    flags: dict[str, int] = {t: 0 for t in policy.flag_event_types}
    for row in led.iter_rows(named=True):  # one citizen's entries: a handful of rows
        rule = policy.rule(str(row["rule_id"]))
        ref = policy.references[rule.reference]
        state = str(row["state"])
        counting = counts_now(state, policy)
        in_window = as_of < add_months_scalar(row["occurred_on"], rs.level_window_months)
        if counting:
            bal_s += row["points"]
            if in_window:
                bal_l += row["points"]
            if row["event_type"] in flags:
                flags[str(row["event_type"])] += 1
        entries.append({
            "entry_id": row["entry_id"],
            "occurred_on": row["occurred_on"].isoformat(),
            "event_type": str(row["event_type"]),
            "source": str(row["source"]),
            "record_id": row["record_id"],
            "rule_id": rule.id,
            "rule": rule.description,
            "reference": ref.title + (f" ({ref.publisher}, {ref.year})" if ref.publisher else ""),
            "points": row["points"],
            "points_before_cap": row["points_raw"],
            "expires_on": row["expires_on"].isoformat() if row["expires_on"] else None,
            "closed_on": row["closed_on"].isoformat() if row["closed_on"] else None,
            "state": state,
            "counts_in_status": counting,
            "counts_in_level": counting and in_window,
        })
    return entries, (bal_s, bal_l, flags)


def _consequences(policy: Policy, as_of: dt.date, led: pl.DataFrame, cons: pl.DataFrame, ctx: dict) -> list[dict]:
    """Each consequence the citizen is under, with whether its condition holds on the
    recomputed numbers and its recourse."""
    names = policy.rating.bands.names if policy.rating.bands else None
    out_cons = []
    rec = CitizenRecord(policy, as_of, led)
    for row in cons.sort("consequence_id").iter_rows(named=True):
        c = policy.consequence(str(row["consequence_id"]))
        ref = policy.references[c.reference]
        holds = bool(evaluate(c.when, ctx, names)[0])
        out_cons.append({
            "consequence_id": c.id, "kind": c.kind, "context": c.context,
            "description": c.description, "because": row["because"],
            "condition_holds_on_recomputation": holds if row["via_citizen_id"] is None else None,
            "via_household_member": row["via_citizen_id"],
            "since": row["since"].isoformat() if row["since"] else None,
            "until": row["until"].isoformat() if row["until"] else None,
            "human_review": c.human_review,
            "reference": ref.title,
            "recourse": recourse(policy, as_of, led, row, rec),
        })
    return out_cons
