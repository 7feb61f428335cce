"""Events -> point ledger: one entry per (event, rule) that scored, over whole columns.

Each entry keeps its provenance (source, record_id, rule_id) so that every point can be
traced back to the record that caused it and the rule that priced it. The work is done
with NumPy over the full arrays; the only Python loops run over the policy's rules and
closures, never over events or citizens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from ..policy.model import Policy
from .dates import add_months, month_index, to_days
from .events import check_columns, event_type_codes, refuse_categories

NEVER = np.iinfo(np.int32).max  # "no expiry" / "not closed" inside the engine
STATES = ["active", "expired", "closed", "contested", "overturned"]
STATE_DTYPE = pl.Enum(STATES)
SLOT_BITS = 3  # entry_id = event_row * 8 + rule slot: stable for a given events table


@dataclass
class LedgerArrays:
    """The ledger as NumPy columns (the engine's working form), plus the input's encodings."""

    event_row: np.ndarray      # int64 row in the events table
    citizen_idx: np.ndarray    # int32 position in the citizens array
    rule_idx: np.ndarray       # int16 position in policy.rules
    occurred: np.ndarray       # int32 days
    points_raw: np.ndarray     # int16
    points: np.ndarray         # int16 (after caps)
    expires: np.ndarray        # int32 days, NEVER if none
    closed: np.ndarray         # int32 days, NEVER if not closed
    closed_by_row: np.ndarray  # int64 events row of the closing event, -1 if none
    slot: np.ndarray           # int8 rule slot for the event type
    counts: dict = field(default_factory=dict)
    quarantine: pl.DataFrame | None = None
    inputs: dict = field(default_factory=dict)  # per events row: codes, categories, occ, cidx (for reuse)

    def __len__(self) -> int:
        return len(self.event_row)


def citizen_index(ids: np.ndarray, citizens: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted `citizens` array, -1 where unknown."""
    n = len(citizens)
    if n and citizens[0] == 0 and citizens[-1] == n - 1:  # dense ids 0..n-1: the common case
        ok = (ids >= 0) & (ids < n)
        return np.where(ok, ids, -1).astype(np.int32)
    pos = np.searchsorted(citizens, ids)
    pos_c = np.minimum(pos, max(n - 1, 0))
    ok = (pos < n) & (citizens[pos_c] == ids) if n else np.zeros(len(ids), bool)
    return np.where(ok, pos, -1).astype(np.int32)


def build_ledger(events: pl.DataFrame, policy: Policy, as_of: dt.date, citizens: np.ndarray,
                 *, cap_prior: dict[int, np.ndarray] | None = None) -> LedgerArrays:
    """Score every event against the policy's rules as of `as_of`.

    cap_prior: for incremental (monthly) scoring, points already used per citizen under
    each capped rule (by rule index) in the period these events fall in.
    """
    check_columns(events)
    n_in = events.height
    codes, cats = event_type_codes(events)
    refuse_categories(cats, codes)
    cat_pos = {c: i for i, c in enumerate(cats)}

    cid_raw = events["citizen_id"]
    occ_raw = events["occurred_on"]
    amount = events["amount"].cast(pl.Float64).to_numpy()
    cid = cid_raw.fill_null(-1).cast(pl.Int64).to_numpy()
    occ = occ_raw.cast(pl.Int32).fill_null(NEVER).to_numpy()
    cidx = citizen_index(cid, citizens)
    asof = to_days(as_of)

    # Quarantine reasons, first that applies wins; 0 = fine.
    reason = np.zeros(n_in, dtype=np.int8)
    reasons = ["", "missing citizen_id", "missing occurred_on", "unknown citizen_id",
               "missing event_type", "per-unit rule needs a non-negative amount"]
    reason[(reason == 0) & cid_raw.is_null().to_numpy()] = 1
    reason[(reason == 0) & occ_raw.is_null().to_numpy()] = 2
    reason[(reason == 0) & (cidx < 0)] = 3
    if "" in cat_pos:
        reason[(reason == 0) & (codes == cat_pos[""])] = 4

    # Rule lookup per event-type code; an event type can feed several rules (slots).
    by_type: dict[int, list[int]] = {}
    for r_i, rule in enumerate(policy.rules):
        if rule.event_type in cat_pos:
            by_type.setdefault(cat_pos[rule.event_type], []).append(r_i)
    n_slots = max((len(v) for v in by_type.values()), default=0)
    if n_slots > 2**SLOT_BITS:
        raise ValueError(f"at most {2**SLOT_BITS} rules may score the same event type")

    fixed = np.array([r.points if r.points is not None else 0 for r in policy.rules], dtype=np.int64)
    per_unit = np.array([r.points_per_unit or 0.0 for r in policy.rules], dtype=np.float64)
    is_unit = np.array([r.points_per_unit is not None for r in policy.rules])
    exp_m = np.array([policy.expiry_months(r) or 0 for r in policy.rules], dtype=np.int32)  # bounded
    vfrom = np.array([to_days(r.valid_from) if r.valid_from else -NEVER for r in policy.rules], dtype=np.int32)
    vuntil = np.array([to_days(r.valid_until) if r.valid_until else NEVER for r in policy.rules], dtype=np.int32)

    # Per-unit rules need an amount: quarantine the event rather than guess.
    unit_types = np.zeros(len(cats), dtype=bool)
    for code, rs in by_type.items():
        unit_types[code] = any(is_unit[r] for r in rs)
    bad_amount = unit_types[codes] & ~(amount >= 0)  # NaN compares False
    reason[(reason == 0) & bad_amount] = 5

    ok = reason == 0
    rule_type = np.zeros(len(cats), dtype=bool)
    rule_type[list(by_type)] = True
    closure_type = np.zeros(len(cats), dtype=bool)
    closure_type[[cat_pos[c.event_type] for c in policy.closures if c.event_type in cat_pos]] = True
    is_rule, is_closure = rule_type[codes], closure_type[codes]
    future = ok & (is_rule | is_closure) & (occ > asof)

    parts = []
    for s in range(n_slots):
        lut = np.full(len(cats), -1, dtype=np.int16)
        for code, rs in by_type.items():
            if s < len(rs):
                lut[code] = rs[s]
        r_all = lut[codes]
        sel = ok & (r_all >= 0) & (occ <= asof)
        rows = np.flatnonzero(sel)
        r = r_all[rows]
        o = occ[rows]
        in_dates = (o >= vfrom[r]) & (o < vuntil[r])
        rows, r, o = rows[in_dates], r[in_dates], o[in_dates]
        parts.append((rows, r, o, np.full(len(rows), s, dtype=np.int8)))

    if parts:
        rows = np.concatenate([p[0] for p in parts])
        r = np.concatenate([p[1] for p in parts]).astype(np.int16)
        o = np.concatenate([p[2] for p in parts]).astype(np.int32)
        slot = np.concatenate([p[3] for p in parts])
    else:
        rows = np.zeros(0, np.int64); r = np.zeros(0, np.int16); o = np.zeros(0, np.int32); slot = np.zeros(0, np.int8)
    if n_slots > 1:  # keep entries in event order, whatever the slot
        order = np.lexsort((slot, rows))
        rows, r, o, slot = rows[order], r[order], o[order], slot[order]

    raw = fixed[r]
    if is_unit.any():
        u = np.flatnonzero(is_unit[r])
        raw[u] = np.trunc(amount[rows[u]] * per_unit[r[u]])
    raw = np.clip(raw, -32768, 32767).astype(np.int16)
    ci = cidx[rows]
    pts = apply_caps(policy, ci, r, o, rows, raw, cap_prior)
    expires = np.where(exp_m[r] > 0, add_months(o, exp_m[r]), NEVER).astype(np.int32)
    closed, closed_by = apply_closures(policy, cats, codes, ok, occ, cidx, asof, ci, r, o, expires)

    q_rows = np.flatnonzero(~ok)
    quarantine = events[q_rows].with_columns(
        reason=pl.Series(np.array(reasons, dtype=object)[reason[q_rows]].tolist(), dtype=pl.String)
    ) if len(q_rows) else events.clear().with_columns(reason=pl.lit(None, pl.String))
    scored = int(len(rows) and 1 + np.count_nonzero(rows[1:] != rows[:-1]))
    counts = {
        "events_in": n_in,
        "quarantined": int(len(q_rows)),
        "accepted": int(ok.sum()),
        "accepted_scored": scored,
        "accepted_closing": int((ok & is_closure & ~is_rule & ~future).sum()),
        "accepted_no_rule": int((ok & ~is_rule & ~is_closure).sum()),
        "accepted_after_as_of": int(future.sum()),
        "accepted_outside_rule_dates": int((ok & is_rule & ~future).sum()) - scored,
        "entries": int(len(rows)),
    }
    return LedgerArrays(
        event_row=rows.astype(np.int64), citizen_idx=ci, rule_idx=r, occurred=o,
        points_raw=raw, points=pts, expires=expires, closed=closed, closed_by_row=closed_by,
        slot=slot, counts=counts, quarantine=quarantine,
        inputs={"codes": codes, "cats": cats, "occ": occ, "cidx": cidx, "ok": ok},
    )


def apply_caps(policy: Policy, ci, r, o, rows, raw, prior: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Cap each capped rule's points per citizen per calendar period, in event order.

    Within a (citizen, rule, period) group, entries are taken in date order (then input
    order); an entry gets what is left under the cap, so the first events score in full
    and later ones are cut, and the group total is exactly min(sum, cap). Only groups
    whose total exceeds the cap need ordering, so only their entries are sorted.
    """
    pts = raw.astype(np.int64)
    capped = [(i, rule.cap) for i, rule in enumerate(policy.rules) if rule.cap is not None]
    for r_i, cap in capped:
        sel = np.flatnonzero(r == r_i)
        if not len(sel):
            continue
        period = month_index(o[sel]) // cap.period_months
        p0 = int(period.min())
        n_p = int(period.max()) - p0 + 1
        group = ci[sel].astype(np.int64) * n_p + (period - p0)
        sign = 1 if cap.points > 0 else -1
        lim = abs(cap.points)
        used = prior[r_i][ci[sel]].astype(np.int64) if prior and r_i in prior else np.zeros(len(sel), np.int64)
        totals = np.bincount(group, weights=pts[sel] * sign)
        over = np.flatnonzero(totals[group] + used > lim)
        if not len(over):
            continue
        sel, group, used = sel[over], group[over], used[over]
        # stable sort by (group, date); input order breaks ties
        order = np.lexsort((o[sel], group))
        idx, key = sel[order], group[order]
        v = pts[idx] * sign  # work with magnitudes
        cs = np.cumsum(v)
        start = np.ones(len(idx), dtype=bool)
        start[1:] = key[1:] != key[:-1]
        grp = np.cumsum(start) - 1
        cum = cs - (cs - v)[start][grp] + used[order]
        got = np.minimum(cum, lim) - np.minimum(cum - v, lim)
        pts[idx] = got * sign
    return pts.astype(np.int16)


def apply_closures(policy: Policy, cats, codes, ok, occ, cidx, asof, ci, r, o, expires):
    """End open entries when a closing event (e.g. the debt paid) follows them.

    An entry of a closed type ends `within_days` after the first closing event for the
    same citizen on or after the entry's date (and on or before as_of).
    """
    closed = np.full(len(ci), NEVER, dtype=np.int32)
    closed_by = np.full(len(ci), -1, dtype=np.int64)
    if not policy.closures:
        return closed, closed_by
    cat_pos = {c: i for i, c in enumerate(cats)}
    rule_type = np.array([cat_pos.get(x.event_type, -1) for x in policy.rules], dtype=np.int32)
    for cl in policy.closures:
        if cl.event_type not in cat_pos:
            continue
        crow = np.flatnonzero(ok & (codes == cat_pos[cl.event_type]) & (occ <= asof))
        if not len(crow):
            continue
        key_close = (cidx[crow].astype(np.int64) << 32) | occ[crow].astype(np.int64)
        order = np.argsort(key_close, kind="stable")
        key_close, crow = key_close[order], crow[order]
        targets = [cat_pos[t] for t in cl.closes if t in cat_pos]
        tsel = np.flatnonzero(np.isin(rule_type[r], targets))
        if not len(tsel):
            continue
        key_t = (ci[tsel].astype(np.int64) << 32) | o[tsel].astype(np.int64)
        j = np.searchsorted(key_close, key_t, side="left")
        jc = np.minimum(j, len(key_close) - 1)
        hit = (j < len(key_close)) & ((key_close[jc] >> 32) == ci[tsel])
        when = (key_close[jc] & 0xFFFFFFFF).astype(np.int64) + cl.within_days
        better = hit & (when < closed[tsel]) & (when < expires[tsel])
        closed[tsel[better]] = when[better]
        closed_by[tsel[better]] = crow[jc[better]]
    return closed, closed_by


def entry_states(led: LedgerArrays, as_of: dt.date) -> np.ndarray:
    """State codes (index into STATES) as of the date, before any contest or review."""
    asof = to_days(as_of)
    state = np.zeros(len(led), dtype=np.int8)  # active
    state[led.expires <= asof] = 1
    state[(led.closed <= asof) & (led.closed < led.expires)] = 2
    return state


def enum_from_codes(codes: np.ndarray, categories: list[str]) -> pl.Series:
    """A polars Enum column from integer codes into `categories`, without Python objects."""
    return pl.Series(np.asarray(codes, dtype=np.uint32)).cat.to(pl.Enum(categories))


def nullable_dates(days: np.ndarray, missing: np.ndarray) -> pl.Series:
    return pl.from_arrow(pa.array(days, mask=missing).cast(pa.date32()))


def ledger_frame(led: LedgerArrays, events: pl.DataFrame, policy: Policy, citizens: np.ndarray,
                 states: np.ndarray, row_offset: int = 0) -> pl.DataFrame:
    """The ledger as a table with provenance columns (what is written to ledger.parquet)."""
    rules = policy.rules
    types = sorted({x.event_type for x in rules})
    cats = sorted({x.category for x in rules})
    type_of_rule = np.array([types.index(x.event_type) for x in rules], dtype=np.uint32)
    cat_of_rule = np.array([cats.index(x.category) for x in rules], dtype=np.uint32)
    r = led.rule_idx
    src = events.select("source", "record_id")[led.event_row]
    closing = pl.from_arrow(pa.array(led.closed_by_row, mask=led.closed_by_row < 0))
    return pl.DataFrame({
        "entry_id": (led.event_row + row_offset) * (1 << SLOT_BITS) + led.slot,
        "citizen_id": citizens[led.citizen_idx],
        "rule_id": enum_from_codes(r, [x.id for x in rules]),
        "event_type": enum_from_codes(type_of_rule[r], types),
        "category": enum_from_codes(cat_of_rule[r], cats),
        "occurred_on": pl.Series(led.occurred, dtype=pl.Int32).cast(pl.Date),
        "points": pl.Series(led.points, dtype=pl.Int16),
        "points_raw": pl.Series(led.points_raw, dtype=pl.Int16),
        "expires_on": nullable_dates(led.expires, led.expires == NEVER),
        "closed_on": nullable_dates(led.closed, led.closed == NEVER),
        "closed_by": events["record_id"].cast(pl.String).gather(closing),
        "source": src["source"],
        "record_id": src["record_id"],
        "state": enum_from_codes(states, STATES),
    })
