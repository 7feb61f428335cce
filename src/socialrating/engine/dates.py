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


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Add calendar months to int32 day numbers, clamping to the end of the month."""
    d = np.asarray(days).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    dom = (d - m.astype("datetime64[D]")).astype(np.int64)
    target = m + np.asarray(months).astype("timedelta64[M]")
    first = target.astype("datetime64[D]")
    last = (target + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    out = np.minimum(first + dom.astype("timedelta64[D]"), last)
    return out.astype(np.int64).astype(np.int32)


def add_months_scalar(d: dt.date, months: int) -> dt.date:
    return from_days(int(add_months(np.array([to_days(d)], dtype=np.int32), months)[0]))


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 (0 = January 1970) for each day number."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64).astype(np.int32)
