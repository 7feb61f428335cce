"""Since when a consequence has held, and when it lifts by itself: exact, from the entries.

A citizen's balances change only on dates an entry starts, ends (expiry or closure) or
leaves the level window. Building that timeline for the citizens under a consequence and
evaluating the condition after every change gives the start of the current spell
(`since`) and the first future change date at which the condition stops holding if no
new events arrive (`until`; null if it never lifts by itself). All over arrays: one sort
of the change rows, segmented sums and reductions, no loop per citizen.
"""

from __future__ import annotations

import numpy as np

from ..policy.model import Consequence, Policy
from .dates import add_months
from .evaluate import derive, evaluate
from .ledger import NEVER

BASE_DAY = -(2**31) + 1  # the state before any entry


def timeline(policy: Policy, holders: np.ndarray, ci: np.ndarray, rule_idx: np.ndarray,
             occurred: np.ndarray, points: np.ndarray, ends: np.ndarray, counts: np.ndarray):
    """Change rows for the `holders` (sorted citizen indices), in (citizen, day) order.

    `counts` marks entries that count at all (not overturned, not suspended). Returns
    (citizen index per row, day per row, derived context per row).
    """
    size = int(max(ci.max(initial=-1), holders.max(initial=-1))) + 1
    is_holder = np.zeros(size, dtype=bool)
    is_holder[holders] = True
    sel = np.flatnonzero(is_holder[ci] & counts)
    c, r, o, p, e = ci[sel], rule_idx[sel], occurred[sel], points[sel].astype(np.int64), ends[sel]
    lvl_end = np.minimum(e, add_months(o, policy.rating.level_window_months))
    has_end = e != NEVER
    flag_types = policy.flag_event_types
    rule_flag = np.array(
        [[rule.event_type == t for rule in policy.rules] for t in flag_types], dtype=np.int64
    ).reshape(len(flag_types), len(policy.rules))

    cit = np.concatenate([holders, c, c[has_end], c])
    day = np.concatenate([np.full(len(holders), BASE_DAY, np.int64), o, e[has_end], lvl_end]).astype(np.int64)
    zeros_h = np.zeros(len(holders), np.int64)
    d_status = np.concatenate([zeros_h, p, -p[has_end], np.zeros(len(c), np.int64)])
    d_level = np.concatenate([zeros_h, p, np.zeros(int(has_end.sum()), np.int64), -p])
    d_flags = []
    for k in range(len(flag_types)):
        f = rule_flag[k][r]
        d_flags.append(np.concatenate([zeros_h, f, -f[has_end], np.zeros(len(c), np.int64)]))

    order = np.lexsort((day, cit))
    cit, day = cit[order], day[order]
    new = np.ones(len(cit), bool)
    new[1:] = (cit[1:] != cit[:-1]) | (day[1:] != day[:-1])
    starts = np.flatnonzero(new)
    first_of_cit = np.ones(len(starts), bool)
    first_of_cit[1:] = cit[starts[1:]] != cit[starts[:-1]]

    def running(delta: np.ndarray) -> np.ndarray:
        per_day = np.add.reduceat(delta[order], starts) if len(starts) else delta[:0]
        cs = np.cumsum(per_day)
        grp = np.cumsum(first_of_cit) - 1
        base = (cs - per_day)[first_of_cit][grp]
        return cs - base

    rs = policy.rating
    bal_s = rs.base_status + running(d_status)
    bal_l = rs.base_level + running(d_level)
    flags = {t: running(d) for t, d in zip(flag_types, d_flags)}
    ctx = derive(bal_s, bal_l, flags, policy)
    return cit[starts], day[starts], ctx


def spells(cons: Consequence, policy: Policy, row_cit: np.ndarray, row_day: np.ndarray,
           ctx: dict, asof: int) -> tuple[np.ndarray, np.ndarray]:
    """(since, until) day numbers for every citizen in the timeline, in citizen order;
    BASE_DAY for since = from the start, NEVER for until = does not lift by itself.
    Only meaningful for citizens for whom the condition holds on the as-of date."""
    names = policy.rating.bands.names if policy.rating.bands else None
    holds = evaluate(cons.when, ctx, names)
    n = len(row_cit)
    if not n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.ones(n, bool)
    first[1:] = row_cit[1:] != row_cit[:-1]
    pos = np.flatnonzero(first)
    idx = np.arange(n)
    # last row on or before as_of where the condition failed -> the spell starts at the next row
    past_false = (~holds) & (row_day <= asof)
    last_false = np.maximum.reduceat(np.where(past_false, idx, -1), pos)
    since = np.where(last_false >= pos, row_day[np.minimum(last_false + 1, n - 1)], BASE_DAY)
    # first row after as_of where it fails
    fut_false = (~holds) & (row_day > asof)
    first_fail = np.minimum.reduceat(np.where(fut_false, idx, n), pos)
    until = np.where(first_fail < n, row_day[np.minimum(first_fail, n - 1)], NEVER)
    return since.astype(np.int64), until.astype(np.int64)
