"""The engine's front door: events + policy + as-of date -> ledger, ratings, consequences.

Deterministic (no randomness anywhere in the engine) and vectorised. Contest and review
outcomes from the store come in as `entry_states` overrides, so a rating can always be
recomputed from the ledger entries and their current states.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..policy.model import Policy
from .compiled import CompiledPolicy, compile_policy
from .dates import add_months, to_days
from . import kernels as K
from .evaluate import derive, evaluate
from .ledger import (
    NEVER, STATES, LedgerArrays, build_ledger, entry_states, ledger_frame, nullable_dates,
)
from .spells import BASE_DAY, spells, timeline

CONSEQUENCE_KIND = pl.Enum(["privilege", "restriction"])


@dataclass
class Result:
    """What one scoring run produces; every table can be written to Parquet as is."""

    ledger: pl.DataFrame
    ratings: pl.DataFrame
    consequences: pl.DataFrame
    quarantine: pl.DataFrame
    counts: dict = field(default_factory=dict)


def score(events: pl.DataFrame, policy: Policy | CompiledPolicy, as_of: dt.date,
          citizens: np.ndarray | None = None, *, households: np.ndarray | None = None,
          overrides: pl.DataFrame | None = None, row_offset: int = 0) -> Result:
    """Score `events` under `policy` as of `as_of`.

    policy: a Policy (compiled once and cached: engine.compiled) or its CompiledPolicy.
    citizens: sorted int64 ids of everyone rated (people with no events get the base
    rating); defaults to the ids seen in the events. households: household id per citizen
    (same order), needed only for consequences with applies_to_household. overrides:
    (entry_id, state) from contest and review, with state contested or overturned.
    """
    if citizens is None:
        citizens = np.unique(events["citizen_id"].drop_nulls().to_numpy()).astype(np.int64)
    citizens = np.asarray(citizens, dtype=np.int64)
    cp = compile_policy(policy)
    policy = cp.policy
    led = build_ledger(events, cp, as_of, citizens, with_provenance=True)
    states = entry_states(led, as_of)
    if overrides is not None and overrides.height:
        entry_ids = led.entry_ids(row_offset)
        states = _apply_overrides(states, entry_ids, overrides)
    table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=True)
    counting = counts_toward_rating(states, policy)
    ratings, ctx = rate(led, counting, cp, as_of, citizens)
    # the spells' timeline also needs the entries that counted until they expired or were
    # closed: without them a spell that ran across such an end seems to start afresh
    counted = counting | (states == STATES.index("expired")) | (states == STATES.index("closed"))
    consequences = consequences_at(led, counted, ctx, cp, as_of, citizens, households)
    ledger = table.result()
    counts = dict(led.counts)
    counts.update(citizens=len(citizens), ledger_entries=ledger.height,
                  consequences=consequences.height)
    return Result(ledger, ratings, consequences, led.quarantine, counts)


def _apply_overrides(states: np.ndarray, entry_ids: np.ndarray, overrides: pl.DataFrame) -> np.ndarray:
    ids = overrides["entry_id"].to_numpy()
    new = overrides["state"].cast(pl.String).to_numpy()
    pos = np.searchsorted(entry_ids, ids)
    ok = (pos < len(entry_ids)) & (entry_ids[np.minimum(pos, len(entry_ids) - 1)] == ids)
    codes = np.array([STATES.index(s) for s in new], dtype=np.int8)
    states = states.copy()
    # an override applies only while the entry would otherwise be in force
    target = pos[ok]
    overturned = codes[ok] == STATES.index("overturned")
    states[target[overturned]] = codes[ok][overturned]
    live = ~overturned & (states[target] == 0)
    states[target[live]] = codes[ok][live]
    return states


def counts_toward_rating(states: np.ndarray, policy: Policy) -> np.ndarray:
    """Entries that count now: active ones, and contested ones unless the policy suspends them."""
    counting = states == 0
    if not policy.contest.suspend_while_contested:
        counting |= states == STATES.index("contested")
    return counting


def rate(led: LedgerArrays, counting: np.ndarray, policy: Policy | CompiledPolicy, as_of: dt.date,
         citizens: np.ndarray) -> tuple[pl.DataFrame, dict]:
    """Balances in one compiled pass over the entries; scores and bands through the scales."""
    cp = compile_policy(policy)
    n = len(citizens)
    asof = to_days(as_of)
    rs = cp.rating
    bal_s = np.full(n, rs.base_status, np.int64)
    bal_l = np.full(n, rs.base_level, np.int64)
    flag_counts = np.zeros((len(cp.flag_types), n), np.int32)
    K.balances(0, n, led.entries(), led.points, counting, window_after(asof, rs.level_window_months),
               cp.flag_of_rule, (bal_s, bal_l, flag_counts))
    flags = {t: flag_counts[k] for k, t in enumerate(cp.flag_types)}
    ctx = derive(bal_s, bal_l, flags, cp.policy)
    cols = {
        "citizen_id": citizens,
        "as_of": pl.Series(np.full(n, asof, np.int32)).cast(pl.Date),
        "balance_status": _int32(bal_s),
        "balance_level": _int32(bal_l),
        "status": pl.Series(ctx["status"], dtype=pl.Int8),
        "level": pl.Series(ctx["level"], dtype=pl.Int8),
    }
    if rs.bands is not None:
        cols["band"] = pl.Series(ctx["band"].astype(np.uint32)).cat.to(pl.Enum(rs.bands.names))
    return pl.DataFrame(cols), ctx


def _int32(x: np.ndarray) -> pl.Series:
    """An Int32 column from int64 balances (checked: a silent wrap-around would be a wrong rating)."""
    if len(x) and (x.min() < -(2**31) or x.max() >= 2**31):
        raise OverflowError("a balance does not fit in 32 bits")
    return pl.Series(x.astype(np.int32))


def window_after(asof: int, months: int) -> int:
    """The last day whose entries have left the level window by `asof`.

    An entry is inside the window iff add_months(occurred, months) > asof; add_months never
    decreases as the date grows, so that is the same as occurred > this day.
    """
    days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)
    return int(days[add_months(days, months) <= asof].max())


def consequences_at(led: LedgerArrays, counting: np.ndarray, ctx: dict, policy: Policy | CompiledPolicy,
                    as_of: dt.date, citizens: np.ndarray, households: np.ndarray | None) -> pl.DataFrame:
    """One row per (citizen, consequence) in force on the as-of date, with since and until."""
    cp = compile_policy(policy)
    policy = cp.policy
    asof = to_days(as_of)
    masks = [evaluate(c.when, ctx, cp.band_names) for c in policy.consequences]
    parts = []  # (consequence index, via a household member, citizen ids, since, until, via ids)
    if masks and any(m.any() for m in masks):
        holders_all = np.flatnonzero(np.logical_or.reduce(masks))
        row_cit, row_day, tctx = timeline(cp, holders_all, led, counting)
        start = to_days(policy.effective_from)
        # consequences sharing a condition share its spells; distinct conditions run at once
        held = [(k, cons, mask) for k, (cons, mask) in enumerate(zip(policy.consequences, masks)) if mask.any()]
        conds = {cp.condition_keys[k]: cons for k, cons, _ in held}
        found = K.run_chunks(spells, [(cons,) for cons in conds.values()], cp, row_cit, row_day, tctx, asof)
        bounds = dict(zip(conds, found))
        for k, cons, mask in held:
            holders = np.flatnonzero(mask)
            pos = np.searchsorted(holders_all, holders)
            since_all, until_all = bounds[cp.condition_keys[k]]
            since, until = since_all[pos], until_all[pos]
            since = np.where(since == BASE_DAY, min(start, asof), since)
            if cons.term_months:
                until = _term_end(since, until, asof, cons.term_months)
            parts.append((k, False, citizens[holders], since, until, None))
            if cons.applies_to_household and households is not None:
                parts.append((k, True, *_household_members(citizens, households, holders, since, until)))
    return consequence_table(cp, parts)


def _term_end(since: np.ndarray, until: np.ndarray, asof: int, term: int) -> np.ndarray:
    """Renewable terms: the consequence runs to the end of the term in which it lifts
    (or, if it never lifts by itself, to the end of the current term)."""
    target = np.where(until == NEVER, asof + 1, until)
    sm = since.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    tm = target.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    k = np.maximum((tm - sm) // term, 0)
    end = add_months(since, k * term).astype(np.int64)
    k = np.where(end < target, k + 1, k)
    return add_months(since, k * term).astype(np.int64)


def consequence_table(policy: Policy | CompiledPolicy, parts: list[tuple]) -> pl.DataFrame:
    """The consequences table from per-consequence arrays, sorted by consequence, citizen,
    then via (direct rows first). The text columns are gathered from one row per
    (consequence, direct or via household), so they cost one lookup per row."""
    cp = compile_policy(policy)
    conss = cp.policy.consequences
    n_k = len(conss)
    code = np.concatenate([np.full(len(p[2]), 2 * p[0] + p[1], np.int32) for p in parts] or [np.zeros(0, np.int32)])
    cit = np.concatenate([p[2] for p in parts] or [np.zeros(0, np.int64)]).astype(np.int64)
    since = np.concatenate([p[3] for p in parts] or [np.zeros(0, np.int64)])
    until = np.concatenate([p[4] for p in parts] or [np.zeros(0, np.int64)])
    via = np.concatenate([p[5] if p[5] is not None else np.full(len(p[2]), -1, np.int64) for p in parts]
                         or [np.zeros(0, np.int64)]).astype(np.int64)
    has_via = (code & 1).astype(np.bool_)
    order = np.lexsort((via, has_via, cit, code >> 1))  # null via (direct rows) first
    code, cit, since, until, via, has_via = (x[order] for x in (code, cit, since, until, via, has_via))
    code_s = pl.Series(code, dtype=pl.Int32)
    ids = [c.id for c in conss]

    def by_code(values: list, dtype) -> pl.Series:  # values: one per code (consequence, via household)
        return pl.Series(values, dtype=dtype).gather(code_s)

    return pl.DataFrame({
        "citizen_id": pl.Series(cit, dtype=pl.Int64),
        "consequence_id": by_code([c.id for c in conss for _ in (0, 1)], pl.Enum(ids)),
        "kind": by_code([c.kind for c in conss for _ in (0, 1)], CONSEQUENCE_KIND),
        "context": by_code([c.context for c in conss for _ in (0, 1)], pl.String),
        "since": nullable_dates(since.astype(np.int32), np.zeros(len(code), bool)),
        "until": nullable_dates(np.where(until == NEVER, 0, until).astype(np.int32), until == NEVER),
        "because": by_code([pre + why for why in cp.because for pre in ("", "household member: ")], pl.String),
        "via_citizen_id": nullable_ints(via, ~has_via),
    }) if n_k else pl.DataFrame(schema=CONSEQUENCE_SCHEMA)


CONSEQUENCE_SCHEMA = {"citizen_id": pl.Int64, "consequence_id": pl.Enum([]), "kind": CONSEQUENCE_KIND,
                      "context": pl.String, "since": pl.Date, "until": pl.Date, "because": pl.String,
                      "via_citizen_id": pl.Int64}


def nullable_ints(values: np.ndarray, missing: np.ndarray) -> pl.Series:
    """An Int64 column, null where `missing`."""
    s = pl.Series(values, dtype=pl.Int64)
    return s.scatter(np.flatnonzero(missing), None) if missing.any() else s


def _household_members(citizens, households, holders, since, until) -> tuple:
    """Joint punishment: every other member of a holder's household gets it too, via them.
    Returns (member ids, since, until, via holder ids)."""
    holder_tab = pl.DataFrame({
        "household": households[holders], "via": citizens[holders],
        "since": since, "until": until,
    }).sort("via").unique("household", keep="first", maintain_order=True)
    members = pl.DataFrame({"household": households, "citizen_id": citizens})
    joined = members.join(holder_tab, on="household").filter(pl.col("citizen_id") != pl.col("via"))
    # members who hold it in their own right are already listed
    joined = joined.join(pl.DataFrame({"citizen_id": citizens[holders]}), on="citizen_id", how="anti")
    return (joined["citizen_id"].to_numpy(), joined["since"].to_numpy(), joined["until"].to_numpy(),
            joined["via"].to_numpy())
