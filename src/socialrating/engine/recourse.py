"""Exact recourse for one citizen: why each consequence holds, and the shortest ways out.

For every restriction a citizen is under in their own right, `recourse` gives

1. ``condition``: the policy's condition with the citizen's actual numbers, e.g.
   ``status 12 < 25 (holds)``;
2. ``lifts_without_new_events``: the earliest date it lifts if nothing new happens (the
   consequence table's ``until``, computed exactly by the engine's timeline, renewable
   terms included) and the entries that end (expire or are closed) or leave the level
   window by then; ``null`` if it never lifts by itself;
3. ``overturn``: the smallest set of the citizen's counting entries that, if overturned
   on review, lifts it on the as-of date. Exact: entries that move the balances and flag
   counts identically are interchangeable, so the search runs over how many of each such
   class to remove (a bounded knapsack over the reachable (status balance, level
   balance, flag counts) states, keeping the fewest removals per state). Among sets of
   the smallest size, ties go to the earliest entries (occurred_on, entry_id) within a
   class; ``null`` if even overturning every counting entry leaves it in force (the
   condition holds with no entries at all);
4. ``offset``: the fewest points of new positive entries, dated the as-of date (so
   counting in status and level alike), after which the condition no longer holds, and
   for each positive rule in force how many events (or units) would supply them, with
   the rule's cap and what is left of it this period. Exact: the condition is evaluated
   for every point total up to the point where every scale and threshold is saturated.

Everything mirrors the engine: an overturned entry simply stops counting (caps were
applied before states, so later capped entries keep their capped points), and the
context is derived by the same `derive` and `evaluate` functions.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl

from ..policy import conditions as C
from ..policy.model import Consequence, Policy
from .dates import add_months_scalar, month_index, to_days
from .evaluate import derive, evaluate

MAX_STATES = 250_000  # guard for the exact search; beyond it the answer says exact: false
#: columns that move when an entry leaves the level window (and the band, if based on the level balance)
_LEVEL_SIDE = frozenset({"level", "balance_level"})


def counts_now(state: str, policy: Policy) -> bool:
    """An entry counts now: active, or contested where the policy does not suspend it."""
    return state == "active" or (state == "contested" and not policy.contest.suspend_while_contested)


class CitizenRecord:
    """One citizen's entries as arrays, and their context on the as-of date."""

    def __init__(self, policy: Policy, as_of: dt.date, ledger: pl.DataFrame):
        self.policy = policy
        self.as_of = as_of
        rs = policy.rating
        led = ledger.sort(["occurred_on", "entry_id"])
        self.rows = led.to_dicts()
        self.points = np.array([r["points"] for r in self.rows], dtype=np.int64)
        self.counting = np.array([counts_now(str(r["state"]), policy) for r in self.rows], dtype=bool)
        self.in_window = np.array(
            [as_of < add_months_scalar(r["occurred_on"], rs.level_window_months) for r in self.rows], dtype=bool)
        self.flag_types = policy.flag_event_types
        self.flag_of = np.array(
            [[str(r["event_type"]) == t for t in self.flag_types] for r in self.rows], dtype=np.int64
        ).reshape(len(self.rows), len(self.flag_types))
        w = np.where(self.counting, self.points, 0)
        self.bal_s = rs.base_status + int(w.sum())
        self.bal_l = rs.base_level + int((w * self.in_window).sum())
        self.flags = (self.flag_of * self.counting[:, None]).sum(axis=0) if len(self.rows) else \
            np.zeros(len(self.flag_types), np.int64)
        self.band_names = rs.bands.names if rs.bands else None
        self.ctx = self.contexts(np.array([self.bal_s]), np.array([self.bal_l]), self.flags[None, :])

    def contexts(self, bal_s: np.ndarray, bal_l: np.ndarray, flags: np.ndarray) -> dict:
        """Derived contexts for many (status balance, level balance, flag counts) at once."""
        fl = {t: flags[:, k].astype(np.int64) for k, t in enumerate(self.flag_types)}
        return derive(bal_s.astype(np.int64), bal_l.astype(np.int64), fl, self.policy)

    def holds(self, cond, ctx: dict) -> np.ndarray:
        return evaluate(cond, ctx, self.band_names)


# ---------------------------------------------------------------- the condition in numbers


def with_numbers(cond, ctx: dict, band_names: list[str] | None, i: int = 0) -> str:
    """The condition with the citizen's values, each part marked (holds) or (fails); each
    condition kind renders its own part (policy/conditions.py)."""
    if not isinstance(cond, C.ConditionKind):
        raise TypeError(f"not a condition: {cond!r}")
    return cond.with_numbers(ctx, band_names, i)


# ---------------------------------------------------------------- (b) overturn


def smallest_overturn(rec: CitizenRecord, cond) -> dict[str, Any] | None:
    """The fewest counting entries whose overturning makes `cond` false on the as-of date."""
    idx = np.flatnonzero(rec.counting)
    classes: dict[tuple, list[int]] = {}
    for j in idx:  # rows are in (occurred_on, entry_id) order: earliest first within a class
        sig = (int(rec.points[j]), int(rec.points[j]) * int(rec.in_window[j]), *map(int, rec.flag_of[j]))
        if any(sig):
            classes.setdefault(sig, []).append(int(j))
    dim = 2 + len(rec.flag_types)
    start = (0,) * dim
    # state (removed status pts, removed level pts, removed flags...) -> (count, picks per class)
    states: dict[tuple, tuple[int, tuple[int, ...]]] = {start: (0, ())}
    exact = True
    for sig, members in classes.items():
        nxt: dict[tuple, tuple[int, tuple[int, ...]]] = {}
        for key, (cnt, picks) in states.items():
            for k in range(len(members) + 1):
                nk = tuple(a + k * b for a, b in zip(key, sig))
                cand = (cnt + k, picks + (k,))
                if nk not in nxt or cand < nxt[nk]:
                    nxt[nk] = cand
        states = nxt
        if len(states) > MAX_STATES:  # pragma: no cover - far beyond one citizen's record
            exact = False
            states = dict(sorted(states.items(), key=lambda kv: kv[1])[:MAX_STATES])
    keys = np.array(list(states), dtype=np.int64).reshape(len(states), dim)
    vals = list(states.values())
    ctx = rec.contexts(rec.bal_s - keys[:, 0], rec.bal_l - keys[:, 1], rec.flags[None, :] - keys[:, 2:])
    lifted = np.flatnonzero(~rec.holds(cond, ctx))
    if not len(lifted):
        return None
    sig_list = list(classes)

    def chosen(i: int) -> list[int]:
        picks = vals[i][1]
        rows = [m for s, k in zip(sig_list, picks) for m in classes[s][:k]]
        return sorted(rows)

    best_i = min(lifted, key=lambda i: (vals[i][0], chosen(i)))
    rows = chosen(best_i)
    after = {"balance_status": int(ctx["balance_status"][best_i]), "balance_level": int(ctx["balance_level"][best_i]),
             "status": int(ctx["status"][best_i]), "level": int(ctx["level"][best_i])}
    if rec.band_names:
        after["band"] = rec.band_names[int(ctx["band"][best_i])]
    return {
        "size": len(rows),
        "entries": [_entry_ref(rec.rows[j]) for j in rows],
        "after": after,
        "exact": exact,
    }


def _entry_ref(row: dict) -> dict[str, Any]:
    return {"entry_id": row["entry_id"], "rule_id": str(row["rule_id"]), "points": int(row["points"]),
            "occurred_on": row["occurred_on"].isoformat(), "state": str(row["state"])}


# ---------------------------------------------------------------- (c) offset


def _thresholds(policy: Policy, cond) -> list[int]:
    rs = policy.rating
    out = [p.balance for p in rs.status_scale.breakpoints] + [p.balance for p in rs.level_scale.breakpoints]
    if rs.bands:
        out += [c.min_balance for c in rs.bands.cutoffs if c.min_balance is not None]
    out += [v for c in C.walk(cond) for _, v in c.balance_bounds()]
    return out


def offset(rec: CitizenRecord, cond, ledger: pl.DataFrame) -> dict[str, Any] | None:
    """The fewest new positive points after which `cond` fails, and who could supply them."""
    policy = rec.policy
    top = max(_thresholds(policy, cond)) - min(rec.bal_s, rec.bal_l) + 2
    xs = np.arange(1, max(top, 1) + 1, dtype=np.int64)

    def fails(points: np.ndarray) -> np.ndarray:
        ctx = rec.contexts(rec.bal_s + points, rec.bal_l + points, np.repeat(rec.flags[None, :], len(points), 0))
        return ~rec.holds(cond, ctx)

    f = fails(xs)
    if not f.any():
        return None
    need = int(xs[np.argmax(f)])
    asof = rec.as_of
    rules = []
    for r in policy.rules:
        if r.sign < 0 or (r.valid_from and asof < r.valid_from) or (r.valid_until and asof >= r.valid_until):
            continue
        per = r.points if r.points is not None else r.points_per_unit
        left = None
        if r.cap is not None:
            period = int(month_index(np.array([to_days(asof)]))[0]) // r.cap.period_months
            mine = ledger.filter(pl.col("rule_id").cast(pl.String) == r.id)
            used = sum(int(p) for p, o in zip(mine["points"], mine["occurred_on"])
                       if int(month_index(np.array([to_days(o)]))[0]) // r.cap.period_months == period)
            left = max(r.cap.points - used, 0)
        # k events (fixed) or k units in one event (per-unit) supply min(k x per, cap left)
        kmax = math.ceil(top / per) if left is None else math.ceil(min(top, left) / per) + 1
        ks = np.arange(1, max(kmax, 1) + 1, dtype=np.int64)
        pts = np.trunc(ks * per).astype(np.int64)
        if left is not None:
            pts = np.minimum(pts, left)
        ok = fails(pts)
        item: dict[str, Any] = {"rule_id": r.id, "description": r.description}
        if r.points is not None:
            item["points_per_event"] = r.points
        else:
            item["points_per_unit"] = r.points_per_unit
            item["unit"] = r.unit
        if left is not None:
            item["cap_left_this_period"] = left
        if ok.any():
            k = int(ks[np.argmax(ok)])
            item["events" if r.points is not None else "units"] = k
            item["supplies"] = int(pts[np.argmax(ok)])
        else:
            item["events" if r.points is not None else "units"] = None
            item["why_not"] = f"its cap leaves {left} points this period"
        rules.append(item)
    return {"points": need, "rules": rules}


# ---------------------------------------------------------------- (a) and the whole


def recourse(policy: Policy, as_of: dt.date, ledger: pl.DataFrame, consequence: dict,
             rec: CitizenRecord | None = None) -> dict[str, Any]:
    """Why `consequence` (a row of the consequences table for this citizen) holds, and the
    shortest ways out; `ledger` is the citizen's rows of the ledger table."""
    rec = rec or CitizenRecord(policy, as_of, ledger)
    c: Consequence = policy.consequence(str(consequence["consequence_id"]))
    until = consequence.get("until")
    out: dict[str, Any] = {
        "consequence_id": c.id,
        "kind": c.kind,
        "condition": with_numbers(c.when, rec.ctx, rec.band_names),
    }
    if consequence.get("via_citizen_id") is not None:
        out["via_household_member"] = consequence["via_citizen_id"]
        out["note"] = (f"held because household member {consequence['via_citizen_id']} is under it; "
                       f"it lifts for this citizen when it lifts for them"
                       + (f" ({until})" if until else "") + "; their record shows their way out")
        return out
    out["lifts_without_new_events"] = _lifts(rec, until, _uses_level(policy, c.when))
    if c.kind == "privilege":
        return out
    out["overturn"] = smallest_overturn(rec, c.when)
    out["offset"] = offset(rec, c.when, ledger)
    return out


def _uses_level(policy: Policy, cond) -> bool:
    bands = policy.rating.bands
    conds = list(C.walk(cond)) + ([x for cap in bands.caps for x in C.walk(cap.when)] if bands else [])
    return any(x.reads() & _LEVEL_SIDE for x in conds) or (
        bands is not None and bands.basis == "balance_level" and C.uses_band(cond))


def _lifts(rec: CitizenRecord, until: dt.date | None, level: bool) -> dict[str, Any] | None:
    """When it lifts by itself, and the entries that end (or, for conditions on the level,
    leave the level window) after the as-of date and on or before that day."""
    if until is None:
        never = [r for r, cnt in zip(rec.rows, rec.counting) if cnt and r["expires_on"] is None
                 and r["closed_on"] is None and r["points"] < 0]
        return {"on": None, "never_ending_entries": [_entry_ref(r) for r in never]}
    ending, leaving = [], []
    window = rec.policy.rating.level_window_months
    for r, cnt in zip(rec.rows, rec.counting):
        if not cnt:
            continue
        ends = min(d for d in (r["expires_on"], r["closed_on"], dt.date.max) if d is not None)
        if rec.as_of < ends <= until:
            ending.append({**_entry_ref(r), "ends_on": ends.isoformat()})
        else:
            w = add_months_scalar(r["occurred_on"], window)
            if level and rec.as_of < w <= until and w < ends:
                leaving.append({**_entry_ref(r), "leaves_level_window_on": w.isoformat()})
    return {"on": until.isoformat(), "entries_ending": ending, "entries_leaving_level_window": leaving}
