"""Scales: the fast table path equals the exact formula; hand-worked values."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from socialrating.engine.dates import add_months
from socialrating.engine.reference import _add_months
from socialrating.engine.scales import _scale_exact, apply_scale, scale_one
from socialrating.policy.model import Scale


@st.composite
def scales(draw):
    xs = sorted(draw(st.sets(st.integers(-2000, 2000), min_size=2, max_size=6)))
    ys = sorted(draw(st.lists(st.integers(0, 99), min_size=len(xs), max_size=len(xs))))
    return Scale(breakpoints=[{"balance": x, "score": y} for x, y in zip(xs, ys)])


@settings(max_examples=60, deadline=None)
@given(scales(), st.integers(0, 2**31 - 1))
def test_table_path_equals_exact_formula(scale, seed):
    b = np.random.default_rng(seed).integers(-2500, 2500, 20_000)
    fast = apply_scale(b, scale)
    assert np.array_equal(fast, _scale_exact(b, scale).astype(fast.dtype))
    for v in b[:50].tolist():
        assert scale_one(v, scale)[0] == fast[b.tolist().index(v)]


def test_hand_worked_we_platform_status_scale():
    s = Scale(breakpoints=[{"balance": -300, "score": 0}, {"balance": -100, "score": 25}, {"balance": 0, "score": 50},
                           {"balance": 100, "score": 70}, {"balance": 300, "score": 90}, {"balance": 500, "score": 99}])
    assert apply_scale(np.array([-1000, -300, -102, -100, -2, 0, 50, 100, 299, 500, 900]), s).tolist() == \
        [0, 0, 24, 25, 49, 50, 60, 70, 89, 99, 99]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40000), st.integers(-130, 130))
def test_add_months_matches_the_calendar(day, months):
    import datetime as dt

    d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    got = add_months(np.array([day, day], dtype=np.int32), months)[0]
    assert dt.date(1970, 1, 1) + dt.timedelta(days=int(got)) == _add_months(d, months)
