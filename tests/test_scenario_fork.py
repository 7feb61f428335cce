"""Scenarios that start alike share their first month: `actual` and `no_feedback` load the
records on file from the same state with the same appeal draws, so the runner steps one
engine and forks it (engine/monthly.py `fork`, simulate/runner.py `same_month`). The
results must be exactly those of stepping every scenario, and a fork must never share
state with the engine it came from."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from case_runner import events_frame

from socialrating.engine.monthly import MonthlyEngine
from socialrating.policy.load import load_policy
from socialrating.simulate import runner as rn
from socialrating.simulate.simulation import SimConfig, simulate

WE = load_policy("we-platform")
START = dt.date(2025, 3, 1)
CITIZENS = np.arange(4, dtype=np.int64)
TYPES = sorted({r.event_type for r in WE.rules})


def _batch(rows):
    return events_frame([(c, TYPES[t % len(TYPES)], START + dt.timedelta(days=d), 100.0) for c, t, d in rows])


def _state(state):
    return {**{k: np.asarray(v).copy() for k, v in state.ctx.items()}, "holds": state.holds.copy()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_fork_continues_as_the_engine_would_and_never_touches_it():
    first = _batch([(0, 0, 2), (1, 1, 5), (2, 2, 9), (3, 3, 20)])
    later_a = _batch([(0, 4, 35), (0, 5, 36), (1, 6, 40)])
    later_b = _batch([(2, 7, 33), (3, 8, 41), (3, 9, 50)])
    eng = MonthlyEngine(WE, CITIZENS, START, 3)
    eng.step(first)
    twin = eng.fork()
    # the original goes one way, the fork another, each exactly as a fresh engine would
    got_a = [_state(eng.step(later_a)), _state(eng.step(later_b))]
    got_b = [_state(twin.step(later_b)), _state(twin.step(later_a))]
    for later, got in ((later_a, later_b), got_a), ((later_b, later_a), got_b):
        fresh = MonthlyEngine(WE, CITIZENS, START, 3)
        fresh.step(first)
        want = [_state(fresh.step(b)) for b in later]
        assert all(_same(g, w) for g, w in zip(got, want))
    assert not _same(got_a[0], got_b[0])  # the two batches do lead apart
    assert eng.k == twin.k == 3
    assert eng.d_status is not twin.d_status and eng.cap_used is not twin.cap_used
    assert eng.cp is twin.cp  # the compiled policy is read-only: shared


def _tables(folder):
    out = {}
    for p in sorted(folder.rglob("*.parquet")):
        out[str(p.relative_to(folder))] = pl.read_parquet(p)
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same small synthetic run with the first month shared (as shipped) and with every
    scenario stepped on its own (same_month finding nothing)."""
    cfg = SimConfig(people=1500, years=0.5, seed=11, world="synthetic", store=False)
    shared, alone = tmp_path_factory.mktemp("shared"), tmp_path_factory.mktemp("alone")
    calls = []

    def spy(fn):
        def call(scenarios, inputs):
            like = fn(scenarios, inputs)
            calls.append((fn.__name__, like))
            return like
        return call

    mp = pytest.MonkeyPatch()
    mp.setattr(rn, "same_month", spy(rn.same_month))
    mp.setattr(rn, "same_records", spy(rn.same_records))
    simulate(cfg, shared)
    mp.setattr(rn, "same_month", lambda scenarios, inputs: {})
    mp.setattr(rn, "same_records", lambda scenarios, inputs: {})
    simulate(cfg, alone)
    mp.undo()
    return shared, alone, calls


def test_the_first_month_of_no_feedback_is_actual_s(two_runs):
    _, _, calls = two_runs
    # asked once (the first month): no_feedback repeats actual's month; no_appeals scores
    # the same records (nobody contests in it, so the rest of its month is its own)
    assert calls == [("same_month", {"no_feedback": "actual"}), ("same_records", {"no_appeals": "actual"})]


def test_sharing_the_first_month_changes_no_output(two_runs):
    shared, alone, _ = two_runs
    a, b = _tables(shared), _tables(alone)
    assert a.keys() == b.keys() and len(a) >= 5
    for name in a:
        assert a[name].equals(b[name]), name
    ms, ma = (p / "manifest.json" for p in (shared, alone))
    import json
    ja, jb = json.loads(ms.read_text()), json.loads(ma.read_text())
    assert ja["counts"] == jb["counts"] and ja["scenarios"] == jb["scenarios"]


def test_no_sharing_when_inputs_differ():
    eng = [MonthlyEngine(WE, CITIZENS, START, 2) for _ in range(3)]
    spec = rn.SPECS["actual"]
    scs = [rn.Scenario(n, spec, e, None, None, None) for n, e in zip(("a", "b", "c"), eng)]
    base = _batch([(0, 0, 2), (1, 1, 5)])
    draws = np.array([True, False])
    inputs = {"a": rn.MonthInput(base, 0, draws, draws), "b": rn.MonthInput(base, 0, ~draws, draws),
              "c": rn.MonthInput(base, 0, draws, draws)}
    assert rn.same_month(scs, inputs) == {"c": "a"}  # b's appeal draws differ
    inputs["c"] = rn.MonthInput(_batch([(0, 0, 2), (1, 1, 6)]), 0, draws, draws)
    assert rn.same_month(scs, inputs) == {}  # c's records differ by a day
    inputs["c"] = rn.MonthInput(base, 0, None, None)
    assert rn.same_month(scs, inputs) == {}  # nobody contests in c
    inputs["c"] = rn.MonthInput(base, 0, draws, draws)
    eng[2].step(base)
    assert rn.same_month(scs, inputs) == {}  # not from the same state any more


def test_a_shared_ledger_gives_each_engine_its_own_month():
    """Two engines in the same state score the same records once (score_month); each step
    then applies its own appeal draws, exactly as a step that scored them itself, and the
    shared scores are left as they were."""
    first = _batch([(0, 0, 2), (1, 1, 5), (2, 2, 9), (3, 3, 20), (0, 4, 25)])
    n = first.height
    rng = np.random.default_rng(3)
    draws = [(rng.random(n) < 0.5, rng.random(n) < 0.5) for _ in range(2)] + [(None, None)]
    a = MonthlyEngine(WE, CITIZENS, START, 2)
    shared = a.score_month(first)
    closed = shared.closed.copy()
    for contested, overturned in draws:
        eng, alone = MonthlyEngine(WE, CITIZENS, START, 2), MonthlyEngine(WE, CITIZENS, START, 2)
        got = eng.step(first, contested=contested, overturned=overturned, ledger=shared)
        want = alone.step(first, contested=contested, overturned=overturned)
        assert _same(_state(got), _state(want)) and got.counts == want.counts
        assert len(eng.appeals) == len(alone.appeals) and all(
            all(np.array_equal(x, y) for x, y in zip(p, q)) for p, q in zip(eng.appeals, alone.appeals))
        later = _batch([(1, 5, 40), (2, 6, 45)])
        assert _same(_state(eng.step(later)), _state(alone.step(later)))
    assert np.array_equal(shared.closed, closed)
