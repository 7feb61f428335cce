"""Events -> point ledger: one entry per (event, rule) that scored, over whole columns.

Each entry keeps its provenance (source, record_id, rule_id) so that every point can be
traced back to the record that caused it and the rule that priced it. The work is done
with NumPy and the compiled kernels over the full arrays; the only Python loops run over
the policy's rules and closures, never over events or citizens. The policy comes in
compiled (engine.compiled): its rule arrays, caps and closures are built once, not here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from ..policy.model import Policy
from .bundles import CapTable, CitizenIndex, Classified, EntryColumns, EventColumns, MonthTable, TypeLookup
from .compiled import NEVER, CompiledPolicy, code_dtype, compile_policy
from .dates import to_days
from . import kernels as K
from .events import check_columns, event_type_codes, refuse_categories

__all__ = ["NEVER", "STATES", "LedgerArrays", "build_ledger", "entry_states", "ledger_frame"]
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
    dates: MonthTable | None = None  # civil-month tables over the entries' dates (kernels' add_months)

    def __len__(self) -> int:
        return len(self.event_row)

    def entries(self) -> EntryColumns:
        """The entry columns as the kernels take them (views, not copies)."""
        return EntryColumns(self.event_row, self.citizen_idx, self.rule_idx, self.occurred, self.points_raw,
                            self.expires, self.slot)

    def entry_ids(self, row_offset: int = 0, sel=slice(None)) -> np.ndarray:
        """entry_id = (events row + row_offset) * 8 + slot, in int64, for entries `sel`."""
        return (self.event_row[sel].astype(np.int64) + row_offset) * (1 << SLOT_BITS) + self.slot[sel]


def citizen_index(ids: np.ndarray, citizens: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted `citizens` array, -1 where unknown.

    Ids lo..lo+n-1 without a gap (a whole run's 0..n-1, or a shard's run of whole blocks:
    the common cases) are positions by a subtraction; a binary search per id was 5% of a
    sharded run's CPU."""
    n = len(citizens)
    if n and int(citizens[-1]) - int(citizens[0]) == n - 1 and (n == 1 or bool(np.all(np.diff(citizens) == 1))):
        lo = citizens[0]
        ok = (ids >= lo) & (ids <= citizens[-1])
        return np.where(ok, ids - lo, -1).astype(np.int32)
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


def date_tables(day_lo: int, day_hi: int, months_after: int) -> MonthTable:
    """Lookup tables for civil month arithmetic over days day_lo..day_hi.

    (day_lo, month index per day, day of month per day (0-based), first month index, first
    day of each month from there to months_after months past day_hi's month, plus one).
    """
    d = np.arange(day_lo, day_hi + 1, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    mi_t = m.astype(np.int64).astype(np.int32)
    dom_t = (d - m.astype("datetime64[D]")).astype(np.int32)
    m_lo = int(mi_t[0])
    months = np.arange(m_lo, int(mi_t[-1]) + months_after + 2, dtype=np.int64)
    mstart = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64).astype(np.int32)
    return MonthTable(day_lo, mi_t, dom_t, m_lo, mstart)


def build_ledger(events: pl.DataFrame, policy: Policy | CompiledPolicy, as_of: dt.date, citizens: np.ndarray,
                 *, cap_prior: dict[int, np.ndarray] | None = None, with_provenance: bool = False) -> LedgerArrays:
    """Score every event against the policy's rules as of `as_of`.

    Two compiled passes over the events (kernels.classify counts, kernels.emit writes),
    each split over the thread pool; then caps and closures on the entries they touch.
    policy: a Policy or its CompiledPolicy (compiled once, cached, if a Policy).
    cap_prior: for incremental (monthly) scoring, points already used per citizen under
    each capped rule (by rule index) in the period these events fall in. with_provenance:
    start gathering the entries' source and record_id (for ledger_frame) on another thread
    while caps and closures are applied.
    """
    cp = compile_policy(policy)
    n_in = events.height
    ev, cats = event_columns(events)
    cit = citizen_lookup(citizens)
    cat_pos = {c: i for i, c in enumerate(cats)}
    types = type_lookup(cp, cat_pos)
    asof = to_days(as_of)
    parts = K.chunks(n_in)
    flags = Classified(np.empty(n_in, np.int8), np.empty(n_in, np.bool_), np.empty(n_in, np.bool_))
    cnt = np.array(K.run_chunks(K.classify, parts, ev, cit, types, cp.rules, asof, flags),
                   dtype=np.int64).reshape(len(parts), K.N_COUNTERS)
    ent, months = _emit_entries(cp, ev, cit, types, flags.scored, asof, parts, cnt)
    n_slots = types.lut.shape[1]
    provenance = (K.in_background(provenance_columns, events, ent.row, n_slots, flags.scored)
                  if with_provenance else None)
    closing = K.in_background(apply_closures, cp, cat_pos, ev, flags.closes, cit.citizens, ent)
    pts = apply_caps(cp, ent, len(citizens), months, cap_prior)
    closed, closed_by = closing.result()
    counts, quarantine = _counts_and_quarantine(events, cnt, flags.reason, len(ent.row))
    occ_in = ev.occ if not len(ev.occ_bits) else np.where(flags.reason == 2, NEVER, ev.occ).astype(np.int32)
    return LedgerArrays(
        event_row=ent.row, citizen_idx=ent.ci, rule_idx=ent.rule, occurred=ent.occ,
        points_raw=ent.raw, points=pts, expires=ent.expires, closed=closed, closed_by_row=closed_by,
        slot=ent.slot, counts=counts, quarantine=quarantine, dates=months, slots=n_slots, provenance=provenance,
        inputs={"codes": ev.codes, "cats": cats, "occ": occ_in, "cid": ev.cid, "reason": flags.reason,
                "citizens": citizens},
    )


def event_columns(events: pl.DataFrame) -> tuple[EventColumns, list[str]]:
    """The events' columns as the kernels read them (no copies), and the event-type
    categories their codes index. Refuses a table the engine cannot score."""
    check_columns(events)
    if events.height >= 2**31 - 1:
        raise ValueError(f"{events.height:,} events in one call; score at most 2,147,483,646 at a time (in shards)")
    codes, cats = event_type_codes(events)
    refuse_categories(cats, codes)
    cid_s = events["citizen_id"]
    cid, cid_bits, cid_off = arrow_column(cid_s if cid_s.dtype == pl.Int64 else cid_s.cast(pl.Int64), np.int64)
    occ, occ_bits, occ_off = arrow_column(events["occurred_on"], np.int32)
    amt_s = events["amount"]
    amount, amt_bits, amt_off = arrow_column(amt_s if amt_s.dtype == pl.Float64 else amt_s.cast(pl.Float64),
                                             np.float64)
    return EventColumns(cid, cid_bits, cid_off, codes, occ, occ_bits, occ_off, amount, amt_bits, amt_off), cats


def citizen_lookup(citizens: np.ndarray) -> CitizenIndex:
    """Dense ids 0..n-1 are their own index; any other sorted ids are searched."""
    n = len(citizens)
    return CitizenIndex(n if n and citizens[0] == 0 and citizens[-1] == n - 1 else -1, citizens)


def type_lookup(cp: CompiledPolicy, cat_pos: dict[str, int]) -> TypeLookup:
    """Per event-type code of this table: its flags and the rules that score it (an event
    type can feed several rules: one slot each)."""
    by_type: dict[int, list[int]] = {}
    for r_i, etype in enumerate(cp.rule_event_types):
        if etype in cat_pos:
            by_type.setdefault(cat_pos[etype], []).append(r_i)
    n_slots = max((len(v) for v in by_type.values()), default=0)
    if n_slots > 2**SLOT_BITS:
        raise ValueError(f"at most {2**SLOT_BITS} rules may score the same event type")
    lut = np.full((len(cat_pos), n_slots), -1, dtype=np.int16)
    cat_flags = np.zeros(len(cat_pos), dtype=np.uint8)
    for code, rs in by_type.items():
        lut[code, :len(rs)] = rs
        cat_flags[code] |= K.RULE_TYPE | (K.UNIT_TYPE if cp.rules.is_unit[rs].any() else 0)
    for etype in cp.closure_event_types:
        if etype in cat_pos:
            cat_flags[cat_pos[etype]] |= K.CLOSURE_TYPE
    if "" in cat_pos:
        cat_flags[cat_pos[""]] = K.EMPTY_TYPE
    return TypeLookup(cat_flags, lut)


def _emit_entries(cp: CompiledPolicy, ev: EventColumns, cit: CitizenIndex, types: TypeLookup, scored: np.ndarray,
                  asof: int, parts: list[tuple[int, int]], cnt: np.ndarray) -> tuple[EntryColumns, MonthTable]:
    """Write the entries classify counted: each chunk from its offset in a prefix sum."""
    per_chunk = cnt[:, K.C_ENTRIES]
    n_e = int(per_chunk.sum())
    at = np.concatenate([[0], np.cumsum(per_chunk)[:-1]])
    day_lo = int(cnt[:, K.C_DAY_MIN].min()) if n_e else asof
    day_hi = int(cnt[:, K.C_DAY_MAX].max()) if n_e else asof
    months = date_tables(day_lo, day_hi, max(cp.max_expiry_months, cp.rating.level_window_months))
    ent = EntryColumns(row=np.empty(n_e, np.int32),  # rows < 2**31 per call (checked by event_columns)
                       ci=np.empty(n_e, np.int32), rule=np.empty(n_e, np.int16), occ=np.empty(n_e, np.int32),
                       raw=np.empty(n_e, np.int16), expires=np.empty(n_e, np.int32), slot=np.zeros(n_e, np.int8))
    K.run_chunks(K.emit, [(lo, hi, int(a)) for (lo, hi), a in zip(parts, at)], ev, scored, cit, types, cp.rules,
                 months, NEVER, ent)
    return ent, months


def _counts_and_quarantine(events: pl.DataFrame, cnt: np.ndarray, reason: np.ndarray,
                           n_entries: int) -> tuple[dict, pl.DataFrame]:
    """What happened to the events (the run's counts) and the quarantined rows with why."""
    n_in = events.height
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
        "entries": n_entries,
    }
    return counts, quarantine


MAX_CAP_CELLS = 2**28  # largest (capped rule and period, citizen) totals table: 1 GiB of int32
CAP_SATURATED = 2**30  # int32 group totals stop here; if one does, every capped entry is sorted


def apply_caps(cp: CompiledPolicy, ent: EntryColumns, n_cit: int, months: MonthTable,
               prior: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Cap each capped rule's points per citizen per calendar period, in event order.

    Within a (citizen, rule, period) group, entries are taken in date order (then input
    order); an entry gets what is left under the cap, so the first events score in full
    and later ones are cut, and the group total is exactly min(sum, cap). A compiled pass
    totals every group; only the entries of groups over the cap are then sorted.
    """
    caps = cp.caps
    if not caps.rules or not len(ent.rule):
        return ent.raw.copy()
    period = months.mi_t[None, :] // caps.period_months[:, None]
    period -= period[:, :1]
    n_p = int(period[:, -1].max()) + 1
    period_t = (period + np.arange(len(caps.rules))[:, None] * n_p).astype(np.int32)  # row of the totals table
    table = CapTable(caps.capk, period_t, months.day_lo, caps.lim, caps.sign)
    used = np.zeros((len(caps.rules), n_cit), np.int64)
    for k, i in enumerate(caps.rules):
        if prior and i in prior:
            used[k] = prior[i]
    if len(caps.rules) * n_p * n_cit > MAX_CAP_CELLS or caps.lim.max() >= CAP_SATURATED:
        capped = caps.capk[ent.rule] >= 0  # stray dates (too many periods) or a huge cap: sort every capped entry
    else:
        capped = _over_cap(ent, table, used, n_cit)
    pts = ent.raw.copy()
    # entries of a group are all on one side of the citizen split, so the halves run at once
    sel = np.flatnonzero(capped)
    mid = n_cit // 2
    ci = ent.ci
    halves = [sel] if len(sel) < K.MIN_CHUNK // 4 else [sel[ci[sel] < mid], sel[ci[sel] >= mid]]
    K.run_chunks(K.cap_points, [(h,) for h in halves], ent, pts, table, used)
    return pts


def _over_cap(ent: EntryColumns, table: CapTable, used: np.ndarray, n_cit: int) -> np.ndarray:
    """Entries in groups whose total exceeds the cap (every capped entry if a total saturated)."""
    totals = np.zeros((table.period_t.max() + 1, n_cit), np.int32)
    parts = K.chunks(n_cit) if len(ent.rule) >= K.MIN_CHUNK else [(0, n_cit)]
    if any(K.run_chunks(K.cap_totals, parts, ent, table, CAP_SATURATED, totals)):
        return table.capk[ent.rule] >= 0  # a group total left int32's safe range: sort them all
    over = np.empty(len(ent.rule), np.bool_)
    K.run_chunks(K.cap_over, K.chunks(len(ent.rule)), ent, table, totals, used, over)
    return over


def apply_closures(cp: CompiledPolicy, cat_pos: dict, ev: EventColumns, closes: np.ndarray, citizens: np.ndarray,
                   ent: EntryColumns):
    """End open entries when a closing event (e.g. the debt paid) follows them.

    An entry of a closed type ends `within_days` after the first closing event for the
    same citizen on or after the entry's date (and on or before as_of). closes: the rows
    that are accepted closing records dated on or before as_of (marked by classify).
    """
    closed = np.full(len(ent.ci), NEVER, dtype=np.int32)
    closed_by = np.full(len(ent.ci), -1, dtype=np.int32)
    rows = np.flatnonzero(closes) if cp.closures else np.zeros(0, np.int64)
    for cr in cp.closures:
        cl = cr.closure
        if cl.event_type not in cat_pos:
            continue
        crow = rows[ev.codes[rows] == cat_pos[cl.event_type]]
        if not len(crow):
            continue
        key_close = K.day_keys(citizen_index(ev.cid[crow], citizens), ev.occ[crow])
        order = np.argsort(key_close, kind="stable")
        K.close_entries(ent, cr.targets, key_close[order], crow[order], cl.within_days, closed, closed_by)
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


def ledger_frame(led: LedgerArrays, events: pl.DataFrame, policy: Policy | CompiledPolicy, citizens: np.ndarray,
                 states: np.ndarray, row_offset: int = 0) -> pl.DataFrame:
    """The ledger as a table with provenance columns (what is written to ledger.parquet).

    Codes and ids come from one compiled pass; the Enum conversions and the gathers of
    source and record_id run as one polars query so they share the threads.
    """
    cp = compile_policy(policy)
    n = len(led)
    entry_id = np.empty(n, np.int64)
    citizen_id = np.empty(n, np.int64)
    type_code = np.empty(n, cp.type_of_rule.dtype)
    cat_code = np.empty(n, cp.cat_of_rule.dtype)
    # one chunk, on this (background) thread: the kernel pool is left to the ratings and
    # consequences, which are on the critical path while this table is built beside them
    K.ledger_codes(0, n, led.entries(), citizen_lookup(citizens), row_offset, SLOT_BITS, cp.type_of_rule,
                   cp.cat_of_rule, (entry_id, citizen_id, type_code, cat_code))
    rule_code = led.rule_idx.astype(code_dtype(cp.n_rules))
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
        pl.col("rule_id").cat.to(pl.Enum(list(cp.rule_ids))),
        pl.col("event_type").cat.to(pl.Enum(list(cp.types))),
        pl.col("category").cat.to(pl.Enum(list(cp.categories))),
        pl.col("state").cat.to(STATE_DTYPE),
    )
    return pl.concat([frame, provenance], how="horizontal").select(LEDGER_COLUMNS)


LEDGER_COLUMNS = ["entry_id", "citizen_id", "rule_id", "event_type", "category", "occurred_on", "points",
                  "points_raw", "expires_on", "closed_on", "closed_by", "source", "record_id", "state"]
