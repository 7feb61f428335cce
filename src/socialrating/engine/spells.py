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

from .. import parallel
from ..policy.model import Consequence, Policy
from .evaluate import derive, evaluate
from . import kernels as K
from .ledger import NEVER

BASE_DAY = -(2**31) + 1  # the state before any entry


def timeline(policy: Policy, holders: np.ndarray, led, counts: np.ndarray):
    """Change rows for the `holders` (sorted citizen indices), in (citizen, day) order.

    led: the LedgerArrays; `counts` marks entries that count at all (not overturned, not
    suspended). Returns (citizen index per row, day per row, derived context per row).
    """
    ci = led.citizen_idx
    size = int(max(ci.max(initial=-1), holders.max(initial=-1))) + 1
    hpos = np.full(size, -1, dtype=np.int32)
    hpos[holders] = np.arange(len(holders), dtype=np.int32)
    flag_types = list(policy.flag_event_types)
    flag_of_rule = np.array([flag_types.index(r.event_type) if r.event_type in flag_types else -1
                             for r in policy.rules], dtype=np.int8)
    rs = policy.rating
    bits = np.packbits(hpos >= 0, bitorder="little")
    # one pass: each chunk copies its holders' entries into a buffer of its own (sized for
    # the whole chunk, though only the holders' few entries are written), then they join
    parts = K.chunks(len(ci))
    bufs = [(np.empty(hi - lo, np.int32), np.empty(hi - lo, led.rule_idx.dtype), np.empty(hi - lo, np.int32),
             np.empty(hi - lo, led.points.dtype), np.empty(hi - lo, np.int32)) for lo, hi in parts]
    sizes = K.run_chunks(K.holder_entries, [(lo, hi, *b) for (lo, hi), b in zip(parts, bufs)], ci, counts, bits,
                         led.rule_idx, led.occurred, led.points, led.expires, led.closed)
    compact = tuple(np.concatenate([b[i][:k] for b, k in zip(bufs, sizes)]) for i in range(5))
    m = len(compact[0])
    n_h = len(holders)
    start, order = K.by_citizen(np.arange(m), compact[0], n_h, hpos)
    compact = compact[1:]
    # split the holders where half the entries are done, one range per thread
    parts = [(0, n_h)]
    threads = parallel.current().threads
    if m >= K.MIN_CHUNK // 4 and threads > 1:
        cuts = np.searchsorted(start, np.linspace(0, m, threads + 1)[1:-1])
        edges = np.unique(np.concatenate([[0], np.minimum(cuts, n_h), [n_h]]))
        parts = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    out = K.run_chunks(K.timeline_rows, parts, holders.astype(np.int64), start, order, *compact, flag_of_rule,
                       len(flag_types), rs.level_window_months, *led.dates, NEVER, BASE_DAY)
    cit, day, bal_s, bal_l = (np.concatenate([o[i] for o in out]) for i in range(4))
    flags = np.concatenate([o[4] for o in out], axis=1)
    ctx = derive(rs.base_status + bal_s, rs.base_level + bal_l,
                 {t: flags[k] for k, t in enumerate(flag_types)}, policy)
    return cit, day, ctx


def spells(cons: Consequence, policy: Policy, row_cit: np.ndarray, row_day: np.ndarray,
           ctx: dict, asof: int) -> tuple[np.ndarray, np.ndarray]:
    """(since, until) day numbers for every citizen in the timeline, in citizen order;
    BASE_DAY for since = from the start, NEVER for until = does not lift by itself.
    Only meaningful for citizens for whom the condition holds on the as-of date."""
    names = policy.rating.bands.names if policy.rating.bands else None
    holds = evaluate(cons.when, ctx, names)
    return K.spell_bounds(row_cit, row_day, holds, asof, BASE_DAY, NEVER)
