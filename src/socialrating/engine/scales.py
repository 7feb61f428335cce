"""Balance -> 00-99 score and balance -> band, in integer arithmetic over whole arrays."""

from __future__ import annotations

import numpy as np

from ..policy.model import Bands, Scale


def apply_scale(balance: np.ndarray, scale: Scale) -> np.ndarray:
    """Piecewise-linear, clamped, floor-rounded in integers; returns int8 scores 0..99.

    For b0 <= b < b1: score = s0 + floor((b - b0) * (s1 - s0) / (b1 - b0)).
    Below the first breakpoint the first score applies, above the last the last.
    """
    b = np.asarray(balance)
    if b.size > 4096:  # many balances over a small range: compute each distinct value once
        lo, hi = int(b.min()), int(b.max())
        if hi - lo < b.size // 4:
            table = _scale_exact(np.arange(lo, hi + 1, dtype=np.int64), scale)
            return table[b - lo]
    return _scale_exact(b, scale)


def _scale_exact(balance: np.ndarray, scale: Scale) -> np.ndarray:
    bx = np.array([p.balance for p in scale.breakpoints], dtype=np.int64)
    sy = np.array([p.score for p in scale.breakpoints], dtype=np.int64)
    b = np.asarray(balance, dtype=np.int64)
    seg = np.clip(np.searchsorted(bx, b, side="right") - 1, 0, len(bx) - 2)
    b0, b1, s0, s1 = bx[seg], bx[seg + 1], sy[seg], sy[seg + 1]
    inner = s0 + ((np.clip(b, b0, b1) - b0) * (s1 - s0)) // (b1 - b0)
    return inner.astype(np.int8)


def scale_one(balance: int, scale: Scale) -> tuple[int, str]:
    """The same map for one balance, with the arithmetic in words (for the citizen's record)."""
    pts = scale.breakpoints
    if balance <= pts[0].balance:
        return pts[0].score, f"balance {balance} is at or below {pts[0].balance}: score {pts[0].score}"
    if balance >= pts[-1].balance:
        return pts[-1].score, f"balance {balance} is at or above {pts[-1].balance}: score {pts[-1].score}"
    for a, b in zip(pts, pts[1:]):
        if a.balance <= balance < b.balance:
            score = a.score + ((balance - a.balance) * (b.score - a.score)) // (b.balance - a.balance)
            return score, (
                f"{a.score} + floor(({balance} - {a.balance}) x ({b.score} - {a.score}) / "
                f"({b.balance} - {a.balance})) = {score}"
            )
    raise AssertionError("unreachable")


def band_codes(balance: np.ndarray, bands: Bands) -> np.ndarray:
    """Index of the band (0 = best) for each balance, before any caps."""
    mins = np.array([c.min_balance for c in bands.cutoffs[:-1]], dtype=np.int64)
    # mins are decreasing; count how many cutoffs the balance falls below.
    return (np.asarray(balance, dtype=np.int64)[:, None] < mins[None, :]).sum(axis=1).astype(np.int8)
