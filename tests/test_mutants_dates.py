"""engine/dates.py, value by value: the calendar arithmetic expiry and the level window rest on.

Every expected value is worked by hand from a calendar (1970-01-01 is day 0, 2000-01-01 is
day 10957, 2024-01-01 is day 19723; months count from January 1970 = 0, so January 2024 is
(2024 - 1970) x 12 = 648). Written to kill the mutants mutmut made of this module
(scripts/mutation.py): an off-by-one in a lookup table, the month-end clamp, the empty and
one-element arrays, the dtype of what comes back.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from socialrating.engine.dates import EPOCH, add_months, add_months_scalar, from_days, month_index, to_days

D = dt.date
JAN_1_2024 = 19723


def days(*ds: dt.date) -> np.ndarray:
    return np.array([(d - D(1970, 1, 1)).days for d in ds], dtype=np.int32)


def test_epoch_and_day_numbers():
    assert EPOCH == D(1970, 1, 1)
    assert to_days(D(1970, 1, 1)) == 0
    assert to_days(D(1969, 12, 31)) == -1
    assert to_days(D(2000, 1, 1)) == 10957
    assert to_days(D(2024, 1, 1)) == JAN_1_2024
    assert from_days(0) == D(1970, 1, 1)
    assert from_days(10957) == D(2000, 1, 1)
    assert from_days(np.int32(JAN_1_2024 + 59)) == D(2024, 2, 29)  # numpy ints are accepted
    assert from_days(-1) == D(1969, 12, 31)


@pytest.mark.parametrize("start, months, expected", [
    (D(2024, 1, 31), 1, D(2024, 2, 29)),    # clamped to a leap February's last day
    (D(2023, 1, 31), 1, D(2023, 2, 28)),
    (D(2024, 3, 31), -1, D(2024, 2, 29)),   # backwards too
    (D(2024, 12, 31), 2, D(2025, 2, 28)),   # across a year end
    (D(2024, 1, 30), 1, D(2024, 2, 29)),
    (D(2024, 2, 29), 12, D(2025, 2, 28)),
    (D(2024, 2, 29), 48, D(2028, 2, 29)),
    (D(2024, 1, 15), 0, D(2024, 1, 15)),
    (D(2024, 1, 1), 1, D(2024, 2, 1)),      # the first of a month stays the first
    (D(2024, 1, 31), 2, D(2024, 3, 31)),    # a 31st stays the 31st where the month has one
    (D(2024, 5, 31), 1, D(2024, 6, 30)),
    (D(2024, 7, 31), -1, D(2024, 6, 30)),
])
def test_add_months_one_date(start, months, expected):
    assert add_months_scalar(start, months) == expected
    got = add_months(days(start), months)  # a one-element array takes the same path as any other
    assert got.dtype == np.int32
    assert got.tolist() == days(expected).tolist()


def test_add_months_whole_array_with_a_month_count_per_date():
    start = days(D(2024, 1, 31), D(2023, 1, 31), D(2024, 12, 31), D(2024, 6, 15), D(2020, 2, 29))
    got = add_months(start, np.array([1, 1, 2, -6, 12], dtype=np.int32))
    assert got.dtype == np.int32
    assert got.tolist() == days(D(2024, 2, 29), D(2023, 2, 28), D(2025, 2, 28), D(2023, 12, 15),
                                D(2021, 2, 28)).tolist()


def test_add_months_latest_date_and_latest_month_are_in_the_tables():
    # the largest day of the input and the largest month of the result are the tables'
    # last rows: a table one row short would index past its end or wrap to its start
    start = days(D(2024, 1, 1), D(2024, 1, 31))
    assert add_months(start, 1).tolist() == days(D(2024, 2, 1), D(2024, 2, 29)).tolist()
    assert add_months(days(D(2024, 1, 31)), 0).tolist() == days(D(2024, 1, 31)).tolist()
    assert add_months(days(D(2024, 12, 31), D(2024, 12, 1)), 1).tolist() == days(D(2025, 1, 31), D(2025, 1, 1)).tolist()


def test_add_months_accepts_int64_and_lists():
    got = add_months(np.array([JAN_1_2024 + 30], dtype=np.int64), 1)
    assert got.dtype == np.int32 and got.tolist() == [JAN_1_2024 + 59]
    assert add_months([JAN_1_2024 + 30], 1).tolist() == [JAN_1_2024 + 59]


def test_add_months_empty():
    got = add_months(np.array([], dtype=np.int64), 3)
    assert got.dtype == np.int32 and got.shape == (0,)


def test_month_index_values():
    got = month_index(days(D(1970, 1, 1), D(1969, 12, 31), D(2000, 1, 1), D(2024, 1, 1), D(2024, 2, 29),
                           D(2024, 3, 1), D(2024, 12, 31)))
    assert got.dtype == np.int32
    assert got.tolist() == [0, -1, 360, 648, 649, 650, 659]


def test_month_index_one_date_and_empty():
    assert month_index(days(D(2024, 3, 31))).tolist() == [650]
    assert month_index(np.array([JAN_1_2024 + 59], dtype=np.int64)).tolist() == [649]
    got = month_index(np.array([], dtype=np.int64))
    assert got.dtype == np.int32 and got.shape == (0,)
