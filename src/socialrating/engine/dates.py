"""Dates as int32 days since 1970-01-01, with calendar month arithmetic over whole arrays.

Month arithmetic follows the usual civil rule: adding months keeps the day of the month
and clamps to the month's last day (31 Jan + 1 month = 28/29 Feb). Expiry and the level
window both use it, so a hand calculation with a calendar gives the same dates.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)


def to_days(d: dt.date) -> int:
    return (d - EPOCH).days


def from_days(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def _civil_tables(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Month index (months since 1970-01) and day-of-month (0-based) for days lo..hi."""
    d = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    dom = (d - m.astype("datetime64[D]")).astype(np.int32)
    return m.astype(np.int64).astype(np.int32), dom


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Add calendar months to int32 day numbers, clamping to the end of the month.

    Works through small lookup tables over the range of dates present (a few thousand
    days), so a column of millions of dates costs a handful of gathers.
    """
    days = np.asarray(days)
    if days.size == 0:
        return days.astype(np.int32)
    lo, hi = int(days.min()), int(days.max())
    mi_t, dom_t = _civil_tables(lo, hi)
    off = days - lo
    mi = mi_t[off] + np.asarray(months, dtype=np.int32)
    mlo, mhi = int(mi.min()), int(mi.max())
    starts = np.arange(mlo, mhi + 2, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]")
    starts = starts.astype(np.int64).astype(np.int32)
    k = mi - mlo
    first = starts[k]
    length = starts[k + 1] - first
    return (first + np.minimum(dom_t[off], length - 1)).astype(np.int32)


def add_months_scalar(d: dt.date, months: int) -> dt.date:
    return from_days(int(add_months(np.array([to_days(d)], dtype=np.int32), months)[0]))


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 (0 = January 1970) for each day number."""
    days = np.asarray(days)
    if days.size == 0:
        return days.astype(np.int32)
    lo, hi = int(days.min()), int(days.max())
    return _civil_tables(lo, hi)[0][days - lo]
