"""engine/scales.py, value by value: balance -> 00-99 score, balance -> band.

Hand-worked on the We platform's status scale (breakpoints -300:0, -100:25, 0:50, 100:70,
300:90, 500:99), for the exact path, the distinct-values table path (more than 4096
balances over a range narrower than a quarter of their count) and the citizen's one-line
record of the arithmetic. Written to kill the mutants mutmut made of this module
(scripts/mutation.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from socialrating.engine.scales import apply_scale, band_codes, scale_one
from socialrating.policy.model import Bands, Scale

WE = Scale(breakpoints=[{"balance": -300, "score": 0}, {"balance": -100, "score": 25}, {"balance": 0, "score": 50},
                        {"balance": 100, "score": 70}, {"balance": 300, "score": 90}, {"balance": 500, "score": 99}])
# balance -> score, each worked by hand: s0 + floor((b - b0) x (s1 - s0) / (b1 - b0))
HAND = {-1000: 0, -301: 0, -300: 0, -299: 0,  # -299: 0 + floor(1 x 25 / 200) = 0
        -292: 1,                               # 0 + floor(8 x 25 / 200) = 1
        -102: 24, -101: 24, -100: 25, -99: 25, -2: 49, -1: 49, 0: 50, 1: 50,
        4: 50, 5: 51, 50: 60, 99: 69, 100: 70, 101: 70, 299: 89, 300: 90, 301: 90,
        322: 90, 323: 91, 499: 98, 500: 99, 501: 99, 900: 99}


def test_exact_path_hand_worked():
    b = np.array(list(HAND), dtype=np.int64)
    got = apply_scale(b, WE)
    assert got.dtype == np.int8
    assert got.tolist() == list(HAND.values())


def test_exact_path_small_int32_input():
    got = apply_scale(np.array([-100, 50, 499], dtype=np.int32), WE)
    assert got.dtype == np.int8 and got.tolist() == [25, 60, 98]


@pytest.mark.parametrize("repeat", [1000, 4000])
def test_table_path_hand_worked(repeat):
    # 29 values x 1000 = 29,000 balances over a range of 1901: the distinct-values table
    b = np.tile(np.array(list(HAND), dtype=np.int64), repeat)
    got = apply_scale(b, WE)
    assert got.dtype == np.int8
    assert got.tolist() == list(HAND.values()) * repeat


def test_table_path_starts_at_the_smallest_balance():
    # the lowest and highest balance present are the table's first and last rows
    b = np.array([-99, 323] * 3000, dtype=np.int64)
    assert apply_scale(b, WE).tolist() == [25, 91] * 3000
    b = np.array([-2, -1, 0, 1] * 2000, dtype=np.int32)
    assert apply_scale(b, WE).tolist() == [49, 49, 50, 50] * 2000


def test_wide_range_many_balances_uses_the_exact_formula():
    b = np.array(list(HAND) * 200 + [10_000], dtype=np.int64)  # 5801 balances over a range of 11,000
    got = apply_scale(b, WE)
    assert got.dtype == np.int8 and got.tolist() == list(HAND.values()) * 200 + [99]


@pytest.mark.parametrize("balance, score, words", [
    (-1000, 0, "balance -1000 is at or below -300: score 0"),
    (-300, 0, "balance -300 is at or below -300: score 0"),
    (500, 99, "balance 500 is at or above 500: score 99"),
    (900, 99, "balance 900 is at or above 500: score 99"),
    (-299, 0, "0 + floor((-299 - -300) x (25 - 0) / (-100 - -300)) = 0"),
    (-102, 24, "0 + floor((-102 - -300) x (25 - 0) / (-100 - -300)) = 24"),
    (-100, 25, "25 + floor((-100 - -100) x (50 - 25) / (0 - -100)) = 25"),
    (50, 60, "50 + floor((50 - 0) x (70 - 50) / (100 - 0)) = 60"),
    (499, 98, "90 + floor((499 - 300) x (99 - 90) / (500 - 300)) = 98"),
])
def test_scale_one_score_and_words(balance, score, words):
    assert scale_one(balance, WE) == (score, words)


def test_scale_one_equals_apply_scale_on_every_hand_value():
    assert [scale_one(b, WE)[0] for b in HAND] == list(HAND.values())


BANDS = Bands(cutoffs=[{"band": "A", "min_balance": 100}, {"band": "B", "min_balance": 0},
                       {"band": "C", "min_balance": -200}, {"band": "D", "min_balance": None}], reference="test")


def test_band_codes_at_and_around_each_cutoff():
    b = np.array([1000, 100, 99, 1, 0, -1, -199, -200, -201, -5000], dtype=np.int64)
    got = band_codes(b, BANDS)
    assert got.dtype == np.int8
    assert got.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]  # min_balance is inside its band


def test_band_codes_two_bands_and_int32_input():
    two = Bands(cutoffs=[{"band": "good", "min_balance": 0}, {"band": "bad", "min_balance": None}], reference="t")
    assert band_codes(np.array([0, -1, 7], dtype=np.int32), two).tolist() == [0, 1, 0]


def test_wide_range_builds_no_table():
    # 5,000 balances spread over 4,000,001 values: a table per distinct value would hold
    # 4 million scores (tens of MB); the formula needs a few arrays of 5,000. Allocation
    # sizes are deterministic, so this is a property of the code path, not a timing.
    import tracemalloc

    b = np.linspace(-2_000_000, 2_000_000, 5000).astype(np.int64)
    tracemalloc.start()
    try:
        got = apply_scale(b, WE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got[0] == 0 and got[-1] == 99
    assert peak < 2_000_000, peak
