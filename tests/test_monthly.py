"""The monthly engine equals a full re-score at every month end (no late records)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from case_runner import events_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialrating.engine.monthly import MonthlyEngine, month_ends, spells_from_panel
from socialrating.engine.score import score
from socialrating.policy.load import builtin_names, load_policy

POLICIES = {n: load_policy(n) for n in builtin_names()}
START = dt.date(2024, 11, 1)
MONTHS = 16
CITIZENS = np.arange(5, dtype=np.int64)


_frame = events_frame


@st.composite
def history(draw):
    name = draw(st.sampled_from(sorted(POLICIES)))
    p = POLICIES[name]
    types = sorted({r.event_type for r in p.rules} | {c.event_type for c in p.closures})
    n = draw(st.integers(0, 60))
    rows = [(draw(st.integers(0, 4)), draw(st.sampled_from(types)),
             START + dt.timedelta(days=draw(st.integers(0, 480))),
             float(draw(st.integers(0, 120)))) for _ in range(n)]
    rows.sort(key=lambda r: r[2])  # records arrive in the month they happen
    return name, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history())
def test_monthly_engine_equals_full_rescore_every_month(h):
    name, rows = h
    policy = POLICIES[name]
    eng = MonthlyEngine(policy, CITIZENS, START, MONTHS)
    ends = month_ends(START, MONTHS)
    seen = []
    for k, end in enumerate(ends):
        start_k = dt.date(end.year, end.month, 1)
        batch = [r for r in rows if start_k <= r[2] <= end]
        seen += batch
        state = eng.step(_frame(batch))
        full = score(_frame(seen), policy, end, CITIZENS)
        for col in ("balance_status", "balance_level", "status", "level"):
            assert np.array_equal(full.ratings[col].to_numpy(), state.ctx[col]), (k, col)
        got = {(int(c), policy.consequences[j].id) for j in range(len(policy.consequences))
               for c in np.flatnonzero(state.holds[j])}
        want = {(int(c), str(k2)) for c, k2 in full.consequences.filter(pl.col("via_citizen_id").is_null())
                .select("citizen_id", "consequence_id").iter_rows()}
        assert got == want, k


def test_month_ends_are_last_days():
    assert month_ends(dt.date(2024, 1, 15), 3) == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)]


def test_spells_from_panel_exact():
    holds = np.array([[0, 1, 1], [1, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=bool)  # months x citizens
    cit, start, end = spells_from_panel(holds, [])
    assert list(zip(cit.tolist(), start.tolist(), end.tolist())) == [(0, 1, 3), (1, 0, 2), (1, 3, -1), (2, 0, 1), (2, 3, -1)]


def _appeal_run(suspend: bool, overturn: bool):
    from socialrating.policy.model import ContestSpec

    policy = POLICIES["we-platform"].model_copy(update={"contest": ContestSpec(suspend_while_contested=suspend)})
    eng = MonthlyEngine(policy, CITIZENS, dt.date(2025, 3, 1), 4)
    rows = [(1, "court.conviction", dt.date(2025, 3, 10), None), (2, "court.conviction", dt.date(2025, 3, 10), None)]
    out = []
    for k in range(4):
        batch = _frame(rows if k == 0 else [])
        contested = np.array([True, False])[: batch.height]
        over = np.array([overturn, False])[: batch.height]
        st_ = eng.step(batch, contested=contested, overturned=over)
        out.append((int(st_.ctx["status"][1]), int(st_.ctx["status"][2])))
    return out, eng


def test_appeal_overturned_without_suspension_counts_until_the_review():
    out, eng = _appeal_run(suspend=False, overturn=True)
    # citizen 1's conviction counts in March (25), is overturned after a one-month review
    assert out == [(25, 25), (50, 25), (50, 25), (50, 25)]
    assert eng.appeal_states().rows() == [(0, "overturned")]  # entry id of event row 0


def test_appeal_with_suspension_counts_only_once_upheld():
    out, _ = _appeal_run(suspend=True, overturn=False)
    assert out == [(50, 25), (25, 25), (25, 25), (25, 25)]
    out, _ = _appeal_run(suspend=True, overturn=True)
    assert out == [(50, 25), (50, 25), (50, 25), (50, 25)]
