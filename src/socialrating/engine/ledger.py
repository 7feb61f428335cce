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
from .dates import to_days
from . import kernels as K
from .events import check_columns, event_type_codes, refuse_categories

NEVER = np.iinfo(np.int32).max  # "no expiry" / "not closed" inside the engine
STATES = ["active", "expired", "closed", "contested", "overturned"]
STATE_DTYPE = pl.Enum(STATES)
SLOT_BITS = 3  # entry_id = event_row * 8 + rule slot: stable for a given events table


@dataclass
class LedgerArrays:
    """The ledger as NumPy columns (the engine's working form), plus the input's encodings."""

    event_row: np.ndarray      # int32 row in the events table (entry_ids() for ids)
    citizen_idx: np.ndarray    # int32 position in the citizens array
    rule_idx: np.ndarray       # int16 position in policy.rules
    occurred: np.ndarray       # int32 days
    points_raw: np.ndarray     # int16
    points: np.ndarray         # int16 (after caps)
    expires: np.ndarray        # int32 days, NEVER if none
    closed: np.ndarray         # int32 days, NEVER if not closed
    closed_by_row: np.ndarray  # int32 events row of the closing event, -1 if none
    slot: np.ndarray           # int8 rule slot for the event type
    counts: dict = field(default_factory=dict)
    quarantine: pl.DataFrame | None = None
    inputs: dict = field(default_factory=dict)  # per events row: codes, categories, occ, cid, reason (for reuse)
    slots: int = 1  # most rules scoring one event type (1: ledger rows follow the events' order)
    provenance: object = None  # Future of provenance_columns(), when started early
    dates: tuple = ()  # civil-month tables over the entries' dates (kernels' add_months)

    def __len__(self) -> int:
        return len(self.event_row)

    def entry_ids(self, row_offset: int = 0, sel=slice(None)) -> np.ndarray:
        """entry_id = (events row + row_offset) * 8 + slot, in int64, for entries `sel`."""
        return (self.event_row[sel].astype(np.int64) + row_offset) * (1 << SLOT_BITS) + self.slot[sel]


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


def arrow_column(s: pl.Series, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, validity bitmap, bit offset) of a column, without copying it.

    The bitmap is Arrow's (bit i set = row i present) and empty when there are no nulls,
    so the kernels read nulls where they are instead of materialising a mask.
    """
    if s.n_chunks() > 1:
        s = s.rechunk()
    arr = s.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n, off = len(arr), arr.offset
    validity, data = arr.buffers()[:2]
    values = np.frombuffer(data, dtype=dtype, count=off + n)[off:] if n else np.zeros(0, dtype)
    if arr.null_count == 0 or validity is None:
        return values, np.zeros(0, np.uint8), 0
    return values, np.frombuffer(validity, dtype=np.uint8), off


def date_tables(day_lo: int, day_hi: int, months_after: int):
    """Lookup tables for civil month arithmetic over days day_lo..day_hi.

    (month index per day, day of month per day (0-based), first month index, first day of
    each month from there to months_after months past day_hi's month, plus one).
    """
    d = np.arange(day_lo, day_hi + 1, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    mi_t = m.astype(np.int64).astype(np.int32)
    dom_t = (d - m.astype("datetime64[D]")).astype(np.int32)
    m_lo = int(mi_t[0])
    months = np.arange(m_lo, int(mi_t[-1]) + months_after + 2, dtype=np.int64)
    mstart = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64).astype(np.int32)
    return mi_t, dom_t, m_lo, mstart


def build_ledger(events: pl.DataFrame, policy: Policy, as_of: dt.date, citizens: np.ndarray,
                 *, cap_prior: dict[int, np.ndarray] | None = None, with_provenance: bool = False) -> LedgerArrays:
    """Score every event against the policy's rules as of `as_of`.

    Two compiled passes over the events (kernels.classify counts, kernels.emit writes),
    each split over the thread pool; then caps and closures on the entries they touch.
    cap_prior: for incremental (monthly) scoring, points already used per citizen under
    each capped rule (by rule index) in the period these events fall in. with_provenance:
    start gathering the entries' source and record_id (for ledger_frame) on another thread
    while caps and closures are applied.
    """
    check_columns(events)
    n_in = events.height
    if n_in >= 2**31 - 1:
        raise ValueError(f"{n_in:,} events in one call; score at most 2,147,483,646 at a time (in shards)")
    codes, cats = event_type_codes(events)
    refuse_categories(cats, codes)
    cat_pos = {c: i for i, c in enumerate(cats)}
    rules = policy.rules

    cid_s = events["citizen_id"]
    cid, cid_bits, cid_off = arrow_column(cid_s if cid_s.dtype == pl.Int64 else cid_s.cast(pl.Int64), np.int64)
    occ, occ_bits, occ_off = arrow_column(events["occurred_on"], np.int32)
    amt_s = events["amount"]
    amount, amt_bits, amt_off = arrow_column(amt_s if amt_s.dtype == pl.Float64 else amt_s.cast(pl.Float64),
                                             np.float64)
    n_cit = len(citizens)
    dense = n_cit if n_cit and citizens[0] == 0 and citizens[-1] == n_cit - 1 else -1
    asof = to_days(as_of)

    # Rule lookup per event-type code; an event type can feed several rules (slots).
    by_type: dict[int, list[int]] = {}
    for r_i, rule in enumerate(rules):
        if rule.event_type in cat_pos:
            by_type.setdefault(cat_pos[rule.event_type], []).append(r_i)
    n_slots = max((len(v) for v in by_type.values()), default=0)
    if n_slots > 2**SLOT_BITS:
        raise ValueError(f"at most {2**SLOT_BITS} rules may score the same event type")
    lut = np.full((len(cats), n_slots), -1, dtype=np.int16)
    for code, rs in by_type.items():
        lut[code, :len(rs)] = rs

    fixed = np.clip([r.points if r.points is not None else 0 for r in rules], -32768, 32767).astype(np.int16)
    per_unit = np.array([r.points_per_unit or 0.0 for r in rules], dtype=np.float64)
    is_unit = np.array([r.points_per_unit is not None for r in rules], dtype=np.bool_)
    exp_m = np.array([policy.expiry_months(r) or 0 for r in rules], dtype=np.int32)  # bounded
    vfrom = np.array([to_days(r.valid_from) if r.valid_from else -NEVER for r in rules], dtype=np.int32)
    vuntil = np.array([to_days(r.valid_until) if r.valid_until else NEVER for r in rules], dtype=np.int32)

    cat_flags = np.zeros(len(cats), dtype=np.uint8)
    for code, rs in by_type.items():
        cat_flags[code] |= K.RULE_TYPE | (K.UNIT_TYPE if is_unit[rs].any() else 0)
    for c in policy.closures:
        if c.event_type in cat_pos:
            cat_flags[cat_pos[c.event_type]] |= K.CLOSURE_TYPE
    if "" in cat_pos:
        cat_flags[cat_pos[""]] = K.EMPTY_TYPE

    reason = np.empty(n_in, dtype=np.int8)
    closes = np.empty(n_in, dtype=np.bool_)
    scored = np.empty(n_in, dtype=np.bool_)
    parts = K.chunks(n_in)
    cnt = np.array(K.run_chunks(K.classify, parts, cid, cid_bits, cid_off, codes, occ, occ_bits, occ_off,
                                amount, amt_bits, amt_off, dense, citizens, cat_flags, lut, vfrom, vuntil,
                                asof, reason, closes, scored), dtype=np.int64).reshape(len(parts), K.N_COUNTERS)
    per_chunk = cnt[:, K.C_ENTRIES]
    n_e = int(per_chunk.sum())
    at = np.concatenate([[0], np.cumsum(per_chunk)[:-1]])
    day_lo = int(cnt[:, K.C_DAY_MIN].min()) if n_e else asof
    day_hi = int(cnt[:, K.C_DAY_MAX].max()) if n_e else asof
    months_after = max(int(exp_m.max(initial=0)), policy.rating.level_window_months)
    mi_t, dom_t, m_lo, mstart = date_tables(day_lo, day_hi, months_after)

    e_row = np.empty(n_e, np.int32)  # rows < 2**31 per call (checked above)
    ci = np.empty(n_e, np.int32)
    r = np.empty(n_e, np.int16)
    o = np.empty(n_e, np.int32)
    raw = np.empty(n_e, np.int16)
    expires = np.empty(n_e, np.int32)
    slot = np.zeros(n_e, np.int8)
    K.run_chunks(K.emit, [(lo, hi, int(a)) for (lo, hi), a in zip(parts, at)], codes, occ, amount, cid, scored,
                 dense, citizens, lut, vfrom, vuntil, asof, fixed, per_unit, is_unit, exp_m, day_lo, mi_t, dom_t,
                 m_lo, mstart, NEVER, e_row, ci, r, o, raw, expires, slot)

    provenance = K.in_background(provenance_columns, events, e_row, n_slots, scored) if with_provenance else None
    closing = K.in_background(apply_closures, policy, cat_pos, codes, closes, occ, cid, citizens, ci, r, o, expires)
    pts = apply_caps(policy, ci, r, o, raw, n_cit, (day_lo, day_hi, mi_t), cap_prior)
    closed, closed_by = closing.result()

    tot = cnt.sum(axis=0)
    n_q = n_in - int(tot[K.C_ACCEPTED])
    if n_q:
        q_rows = np.flatnonzero(reason)
        why = np.array(K.REASONS, dtype=object)[reason[q_rows]].tolist()
        quarantine = events[q_rows].with_columns(reason=pl.Series(why, dtype=pl.String))
    else:
        quarantine = events.clear().with_columns(reason=pl.lit(None, pl.String))
    counts = {
        "events_in": n_in,
        "quarantined": n_q,
        "accepted": int(tot[K.C_ACCEPTED]),
        "accepted_scored": int(tot[K.C_SCORED]),
        "accepted_closing": int(tot[K.C_CLOSING]),
        "accepted_no_rule": int(tot[K.C_NO_RULE]),
        "accepted_after_as_of": int(tot[K.C_FUTURE]),
        "accepted_outside_rule_dates": int(tot[K.C_RULE_NOW] - tot[K.C_SCORED]),
        "entries": n_e,
    }
    occ_in = occ if not len(occ_bits) else np.where(reason == 2, NEVER, occ).astype(np.int32)
    return LedgerArrays(
        event_row=e_row, citizen_idx=ci, rule_idx=r, occurred=o,
        points_raw=raw, points=pts, expires=expires, closed=closed, closed_by_row=closed_by,
        slot=slot, counts=counts, quarantine=quarantine,
        dates=(day_lo, mi_t, dom_t, m_lo, mstart), slots=n_slots, provenance=provenance,
        inputs={"codes": codes, "cats": cats, "occ": occ_in, "cid": cid, "reason": reason, "citizens": citizens},
    )


MAX_CAP_CELLS = 2**28  # largest (capped rule and period, citizen) totals table: 1 GiB of int32
CAP_SATURATED = 2**30  # int32 group totals stop here; if one does, every capped entry is sorted


def apply_caps(policy: Policy, ci, r, o, raw, n_cit: int, days,
               prior: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Cap each capped rule's points per citizen per calendar period, in event order.

    Within a (citizen, rule, period) group, entries are taken in date order (then input
    order); an entry gets what is left under the cap, so the first events score in full
    and later ones are cut, and the group total is exactly min(sum, cap). A compiled pass
    totals every group; only the entries of groups over the cap are then sorted.
    """
    rules = policy.rules
    capped_rules = [i for i, rule in enumerate(rules) if rule.cap is not None]
    if not capped_rules or not len(r):
        return raw.copy()
    day_lo, _, mi_t = days
    caps = [rules[i].cap for i in capped_rules]
    capk = np.full(len(rules), -1, np.int8)
    capk[capped_rules] = np.arange(len(capped_rules))
    pm = np.array([cap.period_months for cap in caps], np.int64)
    period = mi_t[None, :] // pm[:, None]
    period -= period[:, :1]
    n_p = int(period[:, -1].max()) + 1
    period_t = (period + np.arange(len(caps))[:, None] * n_p).astype(np.int32)  # row of the totals table
    lim = np.array([abs(cap.points) for cap in caps], np.int64)
    sign = np.array([1 if cap.points > 0 else -1 for cap in caps], np.int64)
    used = np.zeros((len(caps), n_cit), np.int64)
    for k, i in enumerate(capped_rules):
        if prior and i in prior:
            used[k] = prior[i]
    if len(caps) * n_p * n_cit > MAX_CAP_CELLS or lim.max() >= CAP_SATURATED:
        capped = capk[r] >= 0  # stray dates (too many periods) or a huge cap: sort every capped entry
    else:
        capped = _over_cap(r, ci, o, raw, capk, period_t, day_lo, sign, lim, used, n_cit)
    pts = raw.copy()
    # entries of a group are all on one side of the citizen split, so the halves run at once
    sel = np.flatnonzero(capped)
    mid = n_cit // 2
    halves = [sel] if len(sel) < K.MIN_CHUNK // 4 else [sel[ci[sel] < mid], sel[ci[sel] >= mid]]
    K.run_chunks(K.cap_points, [(h,) for h in halves], r, ci, o, pts, capk, period_t, day_lo, lim, sign, used, n_cit)
    return pts


def _over_cap(r, ci, o, raw, capk, period_t, day_lo, sign, lim, used, n_cit: int) -> np.ndarray:
    """Entries in groups whose total exceeds the cap (every capped entry if a total saturated)."""
    totals = np.zeros((period_t.max() + 1, n_cit), np.int32)
    parts = K.chunks(n_cit) if len(r) >= K.MIN_CHUNK else [(0, n_cit)]
    if any(K.run_chunks(K.cap_totals, parts, r, ci, o, raw, capk, period_t, day_lo, sign, CAP_SATURATED, totals)):
        return capk[r] >= 0  # a group total left int32's safe range: sort them all
    over = np.empty(len(r), np.bool_)
    K.run_chunks(K.cap_over, K.chunks(len(r)), r, ci, o, capk, period_t, day_lo, totals, used, lim, over)
    return over


def apply_closures(policy: Policy, cat_pos: dict, codes, closes, occ, cid, citizens, ci, r, o, expires):
    """End open entries when a closing event (e.g. the debt paid) follows them.

    An entry of a closed type ends `within_days` after the first closing event for the
    same citizen on or after the entry's date (and on or before as_of). closes: the rows
    that are accepted closing records dated on or before as_of (marked by classify).
    """
    closed = np.full(len(ci), NEVER, dtype=np.int32)
    closed_by = np.full(len(ci), -1, dtype=np.int32)
    rows = np.flatnonzero(closes) if policy.closures else np.zeros(0, np.int64)
    for cl in policy.closures:
        if cl.event_type not in cat_pos:
            continue
        crow = rows[codes[rows] == cat_pos[cl.event_type]]
        if not len(crow):
            continue
        key_close = K.day_keys(citizen_index(cid[crow], citizens), occ[crow])
        order = np.argsort(key_close, kind="stable")
        targets = np.array([x.event_type in cl.closes for x in policy.rules], dtype=np.bool_)
        K.close_entries(ci, r, o, expires, targets, key_close[order], crow[order], cl.within_days,
                        closed, closed_by)
    return closed, closed_by


def accepted_citizen_index(led: LedgerArrays) -> np.ndarray:
    """Per events row: the citizen's index if the row was accepted, else -1."""
    inp = led.inputs
    return np.where(inp["reason"] == 0, citizen_index(inp["cid"], inp["citizens"]), -1).astype(np.int32)


def entry_states(led: LedgerArrays, as_of: dt.date) -> np.ndarray:
    """State codes (index into STATES) as of the date, before any contest or review."""
    n = len(led)
    state = np.empty(n, dtype=np.int8)
    K.run_chunks(K.states_at, K.chunks(n), led.expires, led.closed, to_days(as_of), state)
    return state


def nullable_dates(days: np.ndarray, missing: np.ndarray) -> pl.Series:
    """A Date column from int32 day numbers, null where `missing`, built on the same buffer."""
    days = np.ascontiguousarray(days, dtype=np.int32)
    n = len(days)
    if not missing.any():
        return pl.Series(days, dtype=pl.Int32).cast(pl.Date)
    bits = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    arr = pa.Array.from_buffers(pa.date32(), n, [bits, pa.py_buffer(days)], null_count=int(missing.sum()))
    return pl.from_arrow(arr)


def provenance_columns(events: pl.DataFrame, rows: np.ndarray, slots: int,
                       scored: np.ndarray | None = None) -> pl.DataFrame:
    """source and record_id of the events rows behind each entry (scored: per events row,
    whether it produced an entry, as classify marks it)."""
    if slots <= 1:  # at most one entry per record, in record order: a filter is cheaper than a gather
        if scored is None:
            scored = np.zeros(events.height, np.bool_)
            scored[rows] = True
        return events.select("source", "record_id").filter(pl.Series(scored))
    idx = pl.Series(rows)
    return events.select(pl.col("source").gather(idx), pl.col("record_id").gather(idx))


def _code_dtype(n: int):
    return np.uint8 if n <= 255 else np.uint32


def ledger_frame(led: LedgerArrays, events: pl.DataFrame, policy: Policy, citizens: np.ndarray,
                 states: np.ndarray, row_offset: int = 0) -> pl.DataFrame:
    """The ledger as a table with provenance columns (what is written to ledger.parquet).

    Codes and ids come from one compiled pass; the Enum conversions and the gathers of
    source and record_id run as one polars query so they share the threads.
    """
    rules = policy.rules
    types = sorted({x.event_type for x in rules})
    cats = sorted({x.category for x in rules})
    n = len(led)
    type_of_rule = np.array([types.index(x.event_type) for x in rules], dtype=_code_dtype(len(types)))
    cat_of_rule = np.array([cats.index(x.category) for x in rules], dtype=_code_dtype(len(cats)))
    entry_id = np.empty(n, np.int64)
    citizen_id = np.empty(n, np.int64)
    type_code = np.empty(n, type_of_rule.dtype)
    cat_code = np.empty(n, cat_of_rule.dtype)
    n_cit = len(citizens)
    dense = bool(n_cit and citizens[0] == 0 and citizens[-1] == n_cit - 1)
    # one chunk, on this (background) thread: the kernel pool is left to the ratings and
    # consequences, which are on the critical path while this table is built beside them
    K.ledger_codes(0, n, led.event_row, led.slot, led.rule_idx, led.citizen_idx, citizens, dense, row_offset,
                   SLOT_BITS, type_of_rule, cat_of_rule, entry_id, citizen_id, type_code, cat_code)
    rule_code = led.rule_idx.astype(_code_dtype(len(rules)))
    state_code = states.view(np.uint8)
    closing = np.flatnonzero(led.closed_by_row >= 0)
    # few entries are closed: start from all-null columns and fill those in
    closed_by = pl.Series("closed_by", [None] * min(n, 1), dtype=pl.String).extend_constant(None, max(n - 1, 0))
    closed_on = pl.Series("closed_on", [None] * min(n, 1), dtype=pl.Date).extend_constant(None, max(n - 1, 0))
    if len(closing):
        closed_by = closed_by.scatter(closing, events["record_id"].cast(pl.String).gather(led.closed_by_row[closing]))
    ended = np.flatnonzero(led.closed != NEVER)  # also closed by a record of an earlier batch (monthly)
    if len(ended):
        closed_on = closed_on.scatter(ended, pl.Series(led.closed[ended], dtype=pl.Int32).cast(pl.Date))
    if led.provenance is not None:
        provenance = led.provenance.result()
    else:
        provenance = provenance_columns(events, led.event_row, led.slots)
    frame = pl.DataFrame({
        "entry_id": entry_id,
        "citizen_id": citizen_id,
        "rule_id": rule_code,
        "event_type": type_code,
        "category": cat_code,
        "occurred_on": pl.Series(led.occurred, dtype=pl.Int32).cast(pl.Date),
        "points": pl.Series(led.points, dtype=pl.Int16),
        "points_raw": pl.Series(led.points_raw, dtype=pl.Int16),
        "expires_on": nullable_dates(led.expires, led.expires == NEVER),
        "closed_on": closed_on,
        "closed_by": closed_by,
        "state": state_code,
    }).with_columns(
        pl.col("rule_id").cat.to(pl.Enum([x.id for x in rules])),
        pl.col("event_type").cat.to(pl.Enum(types)),
        pl.col("category").cat.to(pl.Enum(cats)),
        pl.col("state").cat.to(STATE_DTYPE),
    )
    return pl.concat([frame, provenance], how="horizontal").select(LEDGER_COLUMNS)


LEDGER_COLUMNS = ["entry_id", "citizen_id", "rule_id", "event_type", "category", "occurred_on", "points",
                  "points_raw", "expires_on", "closed_on", "closed_by", "source", "record_id", "state"]
