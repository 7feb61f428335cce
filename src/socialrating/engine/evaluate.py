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
    (int codes, 0 = best) and `flag:<event_type>` (count of entries in force); each
    condition kind reads what it needs (policy/conditions.py).
    """
    if not isinstance(cond, C.ConditionKind):
        raise TypeError(f"not a condition: {cond!r}")
    return cond.holds(ctx, band_names)


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
        ctx[C.flag_column(t)] = v
    if rs.bands is not None:
        band = band_codes(ctx[rs.bands.basis], rs.bands)
        for cap in rs.bands.caps:
            worst = rs.bands.names.index(cap.band)
            band = np.where(evaluate(cap.when, ctx, rs.bands.names), np.maximum(band, worst), band)
        ctx["band"] = band.astype(np.int8)
    return ctx
