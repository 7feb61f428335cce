"""Contest and appeal: reading states (deadlines worked by hand), contest/resolve over a
run folder with re-scoring, and the same on a real PostgreSQL store."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import polars as pl
import pytest
import yaml

from socialrating.engine.score import score
from socialrating.policy.load import builtin_path, parse_policy
from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.store.contest import (
    ContestError,
    contest,
    read_states,
    redact,
    resolve,
    shard_bounds,
    verify_run,
)
from socialrating.store.ledger_store import CHANGE_SCHEMA, LedgerStore

D = dt.date


def _policy(**contest_spec):
    d = yaml.safe_load(builtin_path("bonus-only").read_text())
    d["contest"].update(contest_spec)
    return parse_policy(yaml.safe_dump(d))


def _changes(*rows):
    return pl.DataFrame([dict(zip(("change_id", "entry_id", "new_state", "actor", "reason", "at"), r),
                              prev_hash="", hash="") for r in rows], schema=CHANGE_SCHEMA)


def test_read_states_deadline_by_hand():
    p = _policy(review_deadline_days=30, overdue_resolves_for_citizen=True)
    ch = _changes((1, 8, "contested", "citizen 1", "wrong", D(2025, 1, 10)))
    # deadline = 2025-01-10 + 30 days = 2025-02-09, the last day the review is on time
    [s] = read_states(ch, p, D(2025, 2, 9))
    assert (s.entry_id, s.state, s.deadline) == (8, "contested", D(2025, 2, 9))
    [s] = read_states(ch, p, D(2025, 2, 10))
    assert s.state == "overturned" and "overdue" in s.why
    assert read_states(ch, p, D(2025, 1, 9)) == []  # not yet contested on that day
    on_time = _changes((1, 8, "contested", "c", "r", D(2025, 1, 10)), (2, 8, "upheld", "rv", "ok", D(2025, 2, 9)))
    assert read_states(on_time, p, D(2025, 6, 1)) == []
    late = _changes((1, 8, "contested", "c", "r", D(2025, 1, 10)), (2, 8, "upheld", "rv", "ok", D(2025, 2, 10)))
    [s] = read_states(late, p, D(2025, 6, 1))
    assert s.state == "overturned" and "upheld only on 2025-02-10" in s.why
    # where the policy lets the entry stand, an overdue contest stays contested
    q = _policy(review_deadline_days=30, overdue_resolves_for_citizen=False)
    [s] = read_states(ch, q, D(2025, 6, 1))
    assert s.state == "contested"
    assert read_states(late, q, D(2025, 6, 1)) == []
    # overturned is final; a later contest of another entry is separate
    ch2 = _changes((1, 8, "contested", "c", "r", D(2025, 1, 10)), (2, 8, "overturned", "rv", "no", D(2025, 1, 20)),
                   (3, 16, "contested", "c", "r", D(2025, 1, 21)))
    assert [(s.entry_id, s.state) for s in read_states(ch2, q, D(2025, 2, 1))] == [(8, "overturned"), (16, "contested")]


def test_shard_bounds():
    cits = np.arange(10, dtype=np.int64)
    ev = np.array([0, 1, -1, 3, 4, 4, 5, 99, 9, 9], dtype=np.int64)  # -1, 99: unknown citizens
    # shards of 4 citizens: {0..3}, {4..7}, {8, 9}; unknown rows go with the row before
    assert shard_bounds(cits, ev, 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ContestError):
        shard_bounds(cits, np.array([5, 1]), 4)


def test_redact():
    assert redact("postgresql://u:secret@host:5432/db") == "postgresql://u:***@host:5432/db"
    assert redact("postgresql://u@host/db") == "postgresql://u@host/db"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("bonus-only", "we-platform"):
        simulate(SimConfig(policy=name, people=2500, years=2.0, seed=7), base / name)
        out[name] = base / name
    return out


@pytest.fixture
def fresh(runs, tmp_path):
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(runs[name], dst)
        return dst
    return copy


def _pick(folder, rule_sign=1):
    led = pl.read_parquet(folder / "ledger.parquet").filter(
        (pl.col("state") == "active") & ((pl.col("points") > 0) if rule_sign > 0 else (pl.col("points") < 0)))
    row = led.sort("entry_id").row(len(led) // 2, named=True)  # a citizen in the middle shard
    return row["citizen_id"], row["entry_id"], row["points"]


def _full_rescore(folder, overrides):
    """One pass over all events and citizens (no shards), for comparison."""
    import json

    m = json.loads((folder / "manifest.json").read_text())
    p = parse_policy((folder / "policy.yaml").read_text())
    cit = pl.read_parquet(folder / "citizens.parquet")
    return score(pl.read_parquet(folder / "events.parquet"), p, D.fromisoformat(m["as_of"]),
                 cit["citizen_id"].to_numpy(), households=cit["household_id"].to_numpy(), overrides=overrides)


def test_contest_suspends_then_upheld_restores(fresh):
    folder = fresh("bonus-only")
    before = {t: pl.read_parquet(folder / f"{t}.parquet") for t in ("ledger", "current_ratings", "current_consequences")}
    cid, eid, pts = _pick(folder)
    out = contest(folder, cid, eid, "not me")
    assert out["review_deadline"] == D(2026, 7, 30) and out["state"] == "contested"
    ratings = pl.read_parquet(folder / "current_ratings.parquet")
    diff = ratings.join(before["current_ratings"], on="citizen_id").filter(
        pl.col("balance_status") != pl.col("balance_status_right"))
    assert diff["citizen_id"].to_list() == [cid]  # suspended at once, only this citizen moves
    assert diff["balance_status_right"].item() - diff["balance_status"].item() == pts
    led = pl.read_parquet(folder / "ledger.parquet")
    assert led.filter(pl.col("entry_id") == eid)["state"].cast(pl.String).item() == "contested"
    # the derived tables equal a one-pass re-score of the whole run
    full = _full_rescore(folder, pl.DataFrame({"entry_id": [eid], "state": ["contested"]}))
    assert full.ratings.equals(ratings)
    # (the run writes consequences shard by shard, each sorted by consequence then citizen)
    key = ["citizen_id", "consequence_id", "via_citizen_id"]
    assert full.consequences.sort(key).equals(pl.read_parquet(folder / "current_consequences.parquet").sort(key))
    assert full.ledger.equals(led)
    assert verify_run(folder)["ok"]
    with pytest.raises(ContestError, match="already contested"):
        contest(folder, cid, eid, "again")
    res = resolve(folder, eid, "upheld", "R. Eviewer", "records match")
    assert res["state_now"] == "as the engine gives it" and not res["late"]
    for t, df in before.items():  # upheld: back to the run's original files
        assert pl.read_parquet(folder / f"{t}.parquet").equals(df), t
    import json
    ch = json.loads((folder / "manifest.json").read_text())["changes"]
    assert ch["count"] == 2 and ch["last"]["state"] == "upheld" and ch["store"] == "ledger.duckdb"
    assert verify_run(folder) == {**verify_run(folder), "ok": True, "changes": 2}


def test_contest_keeps_counting_under_we_platform(fresh):
    folder = fresh("we-platform")
    before = pl.read_parquet(folder / "current_ratings.parquet")
    cid, eid, pts = _pick(folder, rule_sign=-1)
    contest(folder, cid, eid, "paid already")
    assert pl.read_parquet(folder / "current_ratings.parquet").equals(before)  # points stay until review
    resolve(folder, eid, "overturned", "R. Eviewer", "creditor confirms payment")
    after = pl.read_parquet(folder / "current_ratings.parquet")
    moved = after.join(before, on="citizen_id").filter(pl.col("balance_status") != pl.col("balance_status_right"))
    assert moved["citizen_id"].to_list() == [cid]
    assert moved["balance_status"].item() - moved["balance_status_right"].item() == -pts
    with pytest.raises(ContestError, match="already overturned"):
        contest(folder, cid, eid, "again")


def test_overdue_review_resolves_for_citizen(fresh):
    folder = fresh("bonus-only")  # review_deadline_days 30, overdue_resolves_for_citizen true
    before = pl.read_parquet(folder / "current_ratings.parquet")
    cid, eid, _ = _pick(folder)  # a positive entry: the citizen's own bonus
    contest(folder, cid, eid, "not me", on=D(2026, 5, 1))  # deadline 2026-05-31 < as_of 2026-07-01
    led = pl.read_parquet(folder / "ledger.parquet")
    # resolving "for the citizen" never lowers their rating: the bonus is not overturned
    assert led.filter(pl.col("entry_id") == eid)["state"].cast(pl.String).item() == "active"
    assert pl.read_parquet(folder / "current_ratings.parquet").equals(before)
    res = resolve(folder, eid, "upheld", "Late Reviewer", "found it", on=D(2026, 6, 15))
    assert res["late"] and "after the review deadline 2026-05-31" in res["note"]
    assert res["state_now"] == "as the engine gives it"


def test_overdue_review_overturns_a_penalty():
    p = _policy(review_deadline_days=30, overdue_resolves_for_citizen=True)
    ch = _changes((1, 8, "contested", "c", "r", D(2025, 1, 10)))
    [s] = read_states(ch, p, D(2025, 3, 1), {8: -40})  # a penalty: overdue -> overturned
    assert s.state == "overturned"
    assert read_states(ch, p, D(2025, 3, 1), {8: 82}) == []  # the +82 bonus keeps counting
    late = _changes((1, 8, "contested", "c", "r", D(2025, 1, 10)), (2, 8, "upheld", "rv", "ok", D(2025, 2, 10)))
    assert read_states(late, p, D(2025, 6, 1), {8: 82}) == []
    assert read_states(late, p, D(2025, 6, 1), {8: -5})[0].state == "overturned"


def test_contest_checks(fresh, tmp_path):
    folder = fresh("bonus-only")
    cid, eid, _ = _pick(folder)
    with pytest.raises(ContestError, match=f"belongs to citizen {cid}"):
        contest(folder, cid + 1, eid, "x")
    with pytest.raises(ContestError, match="no entry"):
        contest(folder, cid, 7, "x")
    with pytest.raises(ContestError, match="after the run's as-of date"):
        contest(folder, cid, eid, "x", on=D(2030, 1, 1))
    with pytest.raises(ContestError, match="not contested"):
        resolve(folder, eid, "overturned", "R", "x")
    d = yaml.safe_load(builtin_path("bonus-only").read_text())
    d["contest"]["allowed"] = False
    f = tmp_path / "no-contest.yaml"
    f.write_text(yaml.safe_dump(d))
    simulate(SimConfig(policy=str(f), people=1000, years=1.0, seed=3), tmp_path / "nc")
    with pytest.raises(ContestError, match="does not allow contests"):
        contest(tmp_path / "nc", 0, 0, "x")


def test_contest_on_postgresql(fresh, pg_database):
    folder = fresh("we-platform")
    with LedgerStore.open(pg_database) as s:  # the run's ledger, loaded into PostgreSQL
        led = pl.read_parquet(folder / "ledger.parquet")
        s.append_entries(led)  # one batch, as the simulation appended it, so blocks (and head) agree
        with LedgerStore.open(folder) as local:  # and the simulated appeals, in the same order
            simulated = local.changes().select("entry_id", "new_state", "actor", "reason", "at")
            s.record_changes(simulated)
    v0 = verify_run(folder, pg_database)
    assert v0["ok"], v0  # same entries: the manifest's head
    cid, eid, _ = _pick(folder, rule_sign=-1)
    contest(folder, cid, eid, "not me", db=pg_database)
    resolve(folder, eid, "overturned", "R. Eviewer", "wrong person", db=pg_database)
    led = pl.read_parquet(folder / "ledger.parquet")
    assert led.filter(pl.col("entry_id") == eid)["state"].cast(pl.String).item() == "overturned"
    assert verify_run(folder, pg_database)["ok"]
    # the run folder's DuckDB store lacks the two new changes: it no longer matches the manifest
    assert verify_run(folder)["first_bad"] == f"change:{simulated.height + 1}"
    with LedgerStore.open(pg_database) as s:
        s._db.execute(f"UPDATE ledger_entries SET points = points + 1 WHERE entry_id = {eid}")
    v = verify_run(folder, pg_database)
    assert not v["ok"] and v["first_bad"] == f"entry:{eid}"
