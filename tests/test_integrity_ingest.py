"""Ingested records join the record on file: the hash chain, the re-scored ratings and
consequences, and `explain`; a record id already on file is never silently "present"."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from typer.testing import CliRunner

import integrity_fixture as fx
from socialrating.cli import app
from socialrating.engine.score import score
from socialrating.policy.load import parse_policy
from socialrating.simulate.simulation import simulate
from socialrating.sources.ingest import CONFLICT
from socialrating.store.contest import contest, resolve, verify_run
from socialrating.store.intake import ingest_into_run
from socialrating.store.ledger_store import LedgerStore


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("ing") / "run"
    simulate(fx.CFG, d)
    return d


def _one_pass(run):
    """Oracle: one score() over the run's events followed by the ingested ones (so row
    numbers, hence entry ids, are the run's), no shards."""
    m = json.loads((run / "manifest.json").read_text())
    p = parse_policy((run / "policy.yaml").read_text())
    cit = pl.read_parquet(run / "citizens.parquet")
    ev = pl.read_parquet(run / "events.parquet")
    ev = ev.with_columns(pl.col(c).cast(pl.String) for c in ("event_type", "source"))
    ing = pl.read_parquet(run / "ingested" / "events.parquet").select(ev.columns).cast(ev.schema)
    with LedgerStore.open(run) as s:
        from socialrating.store.contest import overrides_frame, read_states

        ch = s.changes()
        ov = overrides_frame(read_states(ch, p, dt.date.fromisoformat(m["as_of"]),
                                         s.entry_points(ch["entry_id"].unique().to_list())))
    return score(pl.concat([ev, ing]), p, dt.date.fromisoformat(m["as_of"]), cit["citizen_id"].to_numpy(),
                 households=cit["household_id"].to_numpy(), overrides=ov)


def test_accepted_records_are_chained_rescored_and_explained(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    before = pl.read_parquet(run / "current_ratings.parquet")
    df = fx.bailiff_file(run, tmp_path / "b.csv", n=40)
    rep, out = ingest_into_run("bailiffs", tmp_path / "b.csv", run)
    assert rep.accepted == 40 and out["new_entries"] > 0
    led = pl.read_parquet(run / "ledger.parquet")
    new = led.filter(pl.col("record_id").is_in(df["record_id"].cast(pl.String).implode()))
    assert new.height == out["new_entries"]
    n_events = pl.scan_parquet(run / "events.parquet").select(pl.len()).collect().item()
    assert (new["entry_id"] // 8).min() >= n_events  # numbered after the run's own events
    with LedgerStore.open(run) as s:
        stored = s.entries().filter(pl.col("entry_id").is_in(new["entry_id"].implode()))
    assert stored.height == new.height  # in the hash chain
    # only the people the records are about move (a payment may close older entries too) ...
    after = pl.read_parquet(run / "current_ratings.parquet")
    moved = after.join(before, on="citizen_id").filter(pl.col("balance_status") != pl.col("balance_status_right"))
    linked = set(pl.read_parquet(run / "ingested" / "events.parquet")["citizen_id"])
    assert 0 < moved.height and set(moved["citizen_id"]) <= linked
    # ... and everything equals one pass over all the records (oracle without shards)
    full = _one_pass(run)
    assert full.ratings.equals(after)
    cols = ["entry_id", "citizen_id", "rule_id", "occurred_on", "points", "expires_on", "closed_on", "record_id"]
    assert full.ledger.sort("entry_id").select(cols).cast({"rule_id": pl.String}).equals(
        led.sort("entry_id").select(cols).cast({"rule_id": pl.String}))
    assert (full.ledger.sort("entry_id")["state"].cast(pl.String) == led.sort("entry_id")["state"].cast(pl.String)).all()
    # explain shows the ingested record
    cid = int(new["citizen_id"][0])
    res = CliRunner().invoke(app, ["explain", str(run), "--citizen", str(cid), "--json"])
    x = json.loads(res.stdout)
    assert x["matches_rating_on_file"] is True
    assert set(new.filter(pl.col("citizen_id") == cid)["record_id"]) <= {e["record_id"] for e in x["entries"]}
    assert verify_run(run)["ok"]


def test_an_ingested_entry_can_be_contested_and_overturned(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    df = fx.bailiff_file(run, tmp_path / "b.csv", n=40)
    before = pl.read_parquet(run / "current_ratings.parquet")
    ingest_into_run("bailiffs", tmp_path / "b.csv", run)
    led = pl.read_parquet(run / "ledger.parquet")
    new = led.filter(pl.col("record_id").is_in(df["record_id"].cast(pl.String).implode()) & (pl.col("points") < 0))
    row = new.row(0, named=True)
    others = new.filter(pl.col("citizen_id") == row["citizen_id"])
    contest(run, row["citizen_id"], row["entry_id"], "not my debt")
    resolve(run, row["entry_id"], "overturned", "R. Eviewer", "bailiffs confirm the error")
    led = pl.read_parquet(run / "ledger.parquet")
    assert led.filter(pl.col("entry_id") == row["entry_id"])["state"].cast(pl.String).item() == "overturned"
    after = pl.read_parquet(run / "current_ratings.parquet").filter(pl.col("citizen_id") == row["citizen_id"])
    was = before.filter(pl.col("citizen_id") == row["citizen_id"])
    rest = int(others.filter(pl.col("entry_id") != row["entry_id"])["points"].sum())
    assert after["balance_status"].item() - was["balance_status"].item() == rest
    assert verify_run(run)["ok"]


def test_same_file_twice_changes_no_byte(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    fx.bailiff_file(run, tmp_path / "b.csv", n=10)
    ingest_into_run("bailiffs", tmp_path / "b.csv", run)
    snap = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    rep, _ = ingest_into_run("bailiffs", tmp_path / "b.csv", run)
    assert rep.already_present == 10 and rep.accepted == 0
    assert {p: p.read_bytes() for p in snap} == snap


def test_changed_content_is_a_conflict_not_present(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    df = fx.bailiff_file(run, tmp_path / "b.csv", n=10)
    ingest_into_run("bailiffs", tmp_path / "b.csv", run)
    df.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(pl.col("amount") * 10).otherwise(pl.col("amount"))
                    .alias("amount")).write_csv(tmp_path / "b2.csv")
    rep, _ = ingest_into_run("bailiffs", tmp_path / "b2.csv", run)
    assert (rep.already_present, rep.accepted, rep.quarantined) == (7, 0, {CONFLICT: 3})
    idx = pl.read_parquet(run / "ingested" / "bailiffs.index.parquet")
    assert idx.filter(pl.col("version") == 2)["outcome"].to_list() == ["conflict"] * 3
    q = pl.read_parquet(run / "ingested" / "bailiffs.quarantine.parquet")
    assert q.height == 3 and set(q["reason"]) == {CONFLICT}
    assert verify_run(run)["ok"]


def test_a_quarantined_record_can_be_corrected(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    df = fx.bailiff_file(run, tmp_path / "b.csv", n=5)
    broken = df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("2030-01-01").str.to_date())
                             .otherwise(pl.col("occurred_on")).alias("occurred_on"))
    broken.write_csv(tmp_path / "bad.csv")
    rep, _ = ingest_into_run("bailiffs", tmp_path / "bad.csv", run)
    assert rep.accepted == 4 and rep.quarantined_total == 1
    rep, _ = ingest_into_run("bailiffs", tmp_path / "b.csv", run)  # the corrected file
    assert (rep.accepted, rep.already_present, rep.corrections) == (1, 4, 1)
    first = df["record_id"][0]
    assert pl.read_parquet(run / "ingested" / "bailiffs.quarantine.parquet")["record_id"].to_list() == [first]
    assert first in pl.read_parquet(run / "ingested" / "bailiffs.parquet")["record_id"].to_list()
    idx = pl.read_parquet(run / "ingested" / "bailiffs.index.parquet").filter(pl.col("record_id") == first)
    assert idx.select("version", "outcome").rows() == [(1, "quarantined"), (2, "accepted")]


def test_a_record_id_of_the_run_itself(base, tmp_path):
    run = fx.copy(base, tmp_path / "run")
    df = fx.bailiff_file(run, tmp_path / "b.csv", n=2)
    ev = pl.read_parquet(run / "events.parquet").filter(pl.col("source").cast(pl.String) == "bailiffs")
    df.with_columns(record_id=pl.lit(ev["record_id"][0])).head(1).write_csv(tmp_path / "dup.csv")
    rep, _ = ingest_into_run("bailiffs", tmp_path / "dup.csv", run)
    assert rep.quarantined == {CONFLICT: 1} and rep.accepted == 0
