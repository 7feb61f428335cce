"""The DuckDB and polars formulations the engine benchmark races against give the engine's
results exactly (benchmarks/_sql_policy.py), so its speed ratios compare equal work."""

from __future__ import annotations

import datetime as dt
import duckdb
import numpy as np
import polars as pl
import pytest

from socialrating.engine.score import score
from socialrating.policy.load import load_policy
from socialrating.population.basic import basic_population
from socialrating.sources.basic import EVENT_TYPE, SOURCE, basic_events

from repo_scripts import load_script

Q = load_script("benchmarks/_sql_policy.py", "_sql_policy")

AS_OF = dt.date(2026, 7, 1)


def _three_ways(events: pl.DataFrame, citizens: np.ndarray, policy, as_of=AS_OF):
    eng = Q.engine_table(score(events, policy, as_of, citizens), policy)
    sql = Q.run_duckdb(duckdb.connect(), events, citizens, policy, as_of)
    lazy = Q.polars_query(events.lazy(), pl.DataFrame({"citizen_id": citizens}).lazy(), policy, as_of).collect()
    return eng, sql, lazy


def test_query_policy_drops_exactly_what_one_query_cannot_express():
    full = load_policy("we-platform")
    assert Q.dropped(full) == ["cap of rule volunteering", "cap of rule traffic-fine", "closure debt-paid",
                               "consequence no-exit"]
    q = Q.query_policy(full)
    assert Q.dropped(q) == []
    assert [r.id for r in q.rules] == [r.id for r in full.rules]
    assert [c.id for c in q.consequences] == [c.id for c in full.consequences if c.id != "no-exit"]


@pytest.mark.parametrize("name", ["we-platform", "we-platform-stage3", "china-individual", "sesame-style",
                                  "bonus-only"])
def test_sql_and_polars_equal_the_engine_on_generated_events(name):
    policy = Q.query_policy(load_policy(name))
    pop = basic_population(3_000, 11)
    events = basic_events(pop, dt.date(2024, 7, 1), 2.0, 12)
    assert events.height > 5_000
    citizens = pop["citizen_id"].to_numpy()
    eng, sql, lazy = _three_ways(events, citizens, policy)
    assert eng.height == 3_000
    # not a vacuous comparison: balances vary and some consequences are held
    assert eng["balance_status"].n_unique() > 20
    held = [c.id for c in policy.consequences if eng[c.id].any()]
    assert held
    assert Q.same_table(eng, sql)
    assert Q.same_table(eng, lazy)


def _events(rows):
    cid, etype, day, amount = zip(*rows)
    n = len(rows)
    return pl.DataFrame({
        "citizen_id": pl.Series(cid, dtype=pl.Int64),
        "event_type": pl.Series(etype, dtype=EVENT_TYPE),
        "occurred_on": pl.Series(day, dtype=pl.Date),
        "amount": pl.Series(amount, dtype=pl.Float64, nan_to_null=False),
        "source": pl.Series(["courts"] * n, dtype=pl.String).cast(SOURCE) if "courts" in SOURCE.categories
        else pl.Series([SOURCE.categories[0]] * n, dtype=SOURCE),
        "record_id": pl.Series([f"r{i}" for i in range(n)], dtype=pl.String),
    })


def test_hand_worked_edges_month_ends_truncation_quarantine_unknowns():
    policy = Q.query_policy(load_policy("we-platform"))
    d = dt.date
    rows = [
        # citizen 0: a conviction on 31 Jan 2025 (84 months: in force), and a fine on
        # 2025-07-01 (12 months: ends exactly on the as-of date, so expired)
        (0, "court.conviction", d(2025, 1, 31), None),
        (0, "fine.traffic", d(2025, 7, 1), 500.0),
        # citizen 1: 7.9 volunteer hours -> 7 points (truncated); negative hours and NaN are quarantined
        (1, "volunteer.hours", d(2026, 1, 15), 7.9),
        (1, "volunteer.hours", d(2026, 1, 16), -3.0),
        (1, "volunteer.hours", d(2026, 1, 17), float("nan")),
        (1, "volunteer.hours", d(2026, 1, 18), None),
        # citizen 2: a fine before valid_from (2025-01-01) scores nothing; one after the as-of date neither
        (2, "fine.traffic", d(2024, 12, 31), 500.0),
        (2, "fine.traffic", d(2026, 7, 2), 500.0),
        # citizen 3: a checkup 12 months before the as-of date has left the level window and expired
        (3, "health.checkup", d(2025, 7, 1), None),
        (3, "health.checkup", d(2025, 7, 2), None),
        # citizen 99 is not rated: ignored by all three
        (99, "court.conviction", d(2025, 3, 1), None),
    ]
    citizens = np.arange(4, dtype=np.int64)
    eng, sql, lazy = _three_ways(_events(rows), citizens, policy)
    assert eng.select("balance_status", "balance_level").rows() == [(-100, 0), (7, 7), (0, 0), (3, 3)]
    assert eng["status"].to_list() == [25, 51, 50, 50]
    assert Q.same_table(eng, sql)
    assert Q.same_table(eng, lazy)
