"""Faster paths in generation give exactly what the plain NumPy calls they replace give."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from socialrating.sources.synthetic import _report_order


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(0, 2**31 - 1), st.integers(1, 3000), st.booleans())
def test_report_order_is_lexsort(n, seed, day_span, small_ids):
    rng = np.random.default_rng(seed)
    reported = (19000 + rng.integers(0, day_span, n)).astype(np.int32)
    # ties in both keys when small_ids: the order must still be lexsort's (stable)
    rid = rng.integers(0, 5 if small_ids else 10**12, n).astype(np.int64)
    assert np.array_equal(_report_order(reported, rid), np.lexsort((rid, reported)))


def test_report_order_with_many_ties_is_still_stable():
    # large enough for numpy's unstable sort to reorder ties: the tie check must fall back
    rng = np.random.default_rng(3)
    reported = rng.integers(0, 30, 50_000).astype(np.int32)
    rid = rng.integers(0, 1_000, 50_000).astype(np.int64)
    assert np.array_equal(_report_order(reported, rid), np.lexsort((rid, reported)))
    assert not np.array_equal(np.argsort(((reported.astype(np.int64)) << 40) | rid), np.lexsort((rid, reported)))


def test_report_order_falls_back_outside_the_packed_range():
    reported = np.array([5, -(2**24), 5, 0], dtype=np.int32)
    rid = np.array([3, 1, 2, 2**41], dtype=np.int64)
    assert _report_order(reported, rid).tolist() == np.lexsort((rid, reported)).tolist() == [1, 3, 2, 0]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="аёЁеЕ  \t\nAbc-", max_size=8)), max_size=40))
def test_normalised_once_per_distinct_value_equals_normalise_name(values):
    import polars as pl

    from socialrating.identity.linkage import _normalised
    from socialrating.identity.register import normalise_name

    s = pl.Series("x", values, dtype=pl.String)
    want = pl.DataFrame({"x": s}).select(normalise_name("x")).to_series()
    assert _normalised(s).equals(want, check_names=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2**31 - 1), st.integers(1, 4000), st.integers(1, 3), st.booleans())
def test_arrival_order_is_the_four_column_stable_sort(n, seed, day_span, shards, wide):
    import polars as pl

    from socialrating.simulate.shardworld import _ORDER, in_arrival_order

    rng = np.random.default_rng(seed)
    parts = []
    for o in range(shards):  # each shard's rows numbered 0..m-1, as a build numbers its records
        m = int(rng.integers(0, n + 1))
        parts.append(pl.DataFrame({
            "record_id": pl.Series([f"R{o}-{i}" for i in range(m)], dtype=pl.String),
            "reported_on": pl.Series(19_000 + rng.integers(0, day_span, m), dtype=pl.Int32).cast(pl.Date),
            "_s": pl.Series(rng.integers(0, 19, m), dtype=pl.Int32),
            "_o": pl.Series([o * (2**40 if wide else 1)] * m, dtype=pl.Int64),  # wide: past 63 bits, the polars sort
            "_r": pl.Series(np.arange(m), dtype=pl.Int64),
        }))
    frame = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=seed % 1000) if n else pl.concat(parts)
    assert in_arrival_order(frame).equals(frame.sort(_ORDER, maintain_order=True))
