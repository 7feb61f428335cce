"""Evaluate policy conditions over whole columns, and derive scores and bands from balances.

The same functions serve the rating at the as-of date and the timeline used for a
consequence's `since` and `until`, so both always agree on what a condition means.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..policy import conditions as C
from ..policy.model import Policy
from .scales import apply_scale, band_codes


def evaluate(cond, ctx: Mapping[str, np.ndarray], band_names: list[str] | None = None) -> np.ndarray:
    """Boolean array: where the condition holds, given metric columns in `ctx`.

    ctx holds `status`, `level`, `balance_status`, `balance_level`, optionally `band`
    (int codes, 0 = best) and `flag:<event_type>` (count of entries in force).
    """
    if isinstance(cond, C.StatusCond):
        return _compare(ctx["status"], cond.status)
    if isinstance(cond, C.LevelCond):
        return _compare(ctx["level"], cond.level)
    if isinstance(cond, C.BalanceStatusCond):
        return _compare(ctx["balance_status"], cond.balance_status)
    if isinstance(cond, C.BalanceLevelCond):
        return _compare(ctx["balance_level"], cond.balance_level)
    if isinstance(cond, C.BandCond):
        wanted = [band_names.index(b) for b in cond.band.in_]
        return np.isin(ctx["band"], wanted)
    if isinstance(cond, C.HasActiveCond):
        spec = cond.spec
        return ctx["flag:" + spec.event_type] >= spec.at_least
    if isinstance(cond, C.AllCond):
        out = evaluate(cond.all[0], ctx, band_names)
        for c in cond.all[1:]:
            out = out & evaluate(c, ctx, band_names)
        return out
    if isinstance(cond, C.AnyCond):
        out = evaluate(cond.any[0], ctx, band_names)
        for c in cond.any[1:]:
            out = out | evaluate(c, ctx, band_names)
        return out
    if isinstance(cond, C.NotCond):
        return ~evaluate(cond.not_, ctx, band_names)
    raise TypeError(f"not a condition: {cond!r}")


def _compare(x: np.ndarray, cmp: C.Compare) -> np.ndarray:
    return cmp.holds(x)


def derive(balance_status: np.ndarray, balance_level: np.ndarray, flags: Mapping[str, np.ndarray],
           policy: Policy) -> dict[str, np.ndarray]:
    """From balances and flag counts to the full context: scores, band after caps, flags."""
    rs = policy.rating
    ctx: dict[str, np.ndarray] = {
        "balance_status": balance_status,
        "balance_level": balance_level,
        "status": apply_scale(balance_status, rs.status_scale),
        "level": apply_scale(balance_level, rs.level_scale),
    }
    for t, v in flags.items():
        ctx["flag:" + t] = v
    if rs.bands is not None:
        band = band_codes(ctx[rs.bands.basis], rs.bands)
        for cap in rs.bands.caps:
            worst = rs.bands.names.index(cap.band)
            band = np.where(evaluate(cap.when, ctx, rs.bands.names), np.maximum(band, worst), band)
        ctx["band"] = band.astype(np.int8)
    return ctx
