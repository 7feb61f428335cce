"""Commands at once on one run folder, as real processes: nothing lost, nothing half-written.

Ten `ingest`s of ten files and twenty `contest`s of twenty entries (with `verify`s in
between) run at the same time; every record and every change must be on file afterwards,
and the folder must verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import integrity_fixture as fx
from socialrating.simulate.simulation import simulate
from socialrating.store.contest import verify_run
from socialrating.store.ledger_store import LedgerStore

N_INGEST, PER_FILE, N_CONTEST, N_VERIFY = 10, 30, 20, 4


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "socialrating.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})


def _wait(procs):
    out = []
    for p in procs:
        o, e = p.communicate(timeout=600)
        out.append((p.returncode, o, e))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("par") / "run"
    simulate(fx.CFG, d)
    return d


def test_ten_parallel_ingests_lose_nothing(run, tmp_path):
    files = [tmp_path / f"b{i}.csv" for i in range(N_INGEST)]
    ids = set()
    for i, f in enumerate(files):
        ids |= set(fx.bailiff_file(run, f, n=PER_FILE, seed=i, prefix=f"p{i}-")["record_id"].to_list())
    with LedgerStore.open(run) as s:
        entries_before = len(s)
    results = _wait([_cli("ingest", f, "--source", "bailiffs", "--into", run) for f in files])
    assert all(rc == 0 for rc, _, _ in results), [e for rc, _, e in results if rc]
    assert all("Traceback" not in e for _, _, e in results)
    got = pl.read_parquet(run / "ingested" / "bailiffs.parquet")
    assert got.height == N_INGEST * PER_FILE and set(got["record_id"]) == ids  # nothing lost, nothing twice
    assert pl.read_parquet(run / "ingested" / "events.parquet").height == N_INGEST * PER_FILE
    assert pl.read_parquet(run / "ingested" / "bailiffs.index.parquet").height == N_INGEST * PER_FILE
    m = json.loads((run / "manifest.json").read_text())
    assert m["ingested"]["events"] == N_INGEST * PER_FILE and m["ingested"]["files"] == N_INGEST
    led = pl.read_parquet(run / "ledger.parquet")
    mine = led.filter(pl.col("record_id").is_in(list(ids)))
    assert mine.height == m["ingested"]["entries"] > 0  # scored, on the ledger
    with LedgerStore.open(run) as s:  # and in the hash chain
        assert len(s) == entries_before + mine.height
    assert not list(run.rglob("*.tmp")) and not (run / ".txn").exists()
    v = verify_run(run)
    assert v["ok"], v["problems"]


def test_twenty_parallel_contests_and_verifies(run):
    led = pl.read_parquet(run / "ledger.parquet").filter(
        (pl.col("points") < 0) & (pl.col("state") == "active")).unique("citizen_id", keep="first").sort("entry_id")
    pick = led.head(N_CONTEST)
    assert pick.height == N_CONTEST
    with LedgerStore.open(run) as s:
        changes_before = s.changes().height
    procs = [_cli("contest", run, "--citizen", c, "--entry", e, "--reason", f"not me {i}")
             for i, (c, e) in enumerate(pick.select("citizen_id", "entry_id").iter_rows())]
    procs += [_cli("verify", run) for _ in range(N_VERIFY)]
    results = _wait(procs)
    assert all(rc == 0 for rc, _, _ in results), [(o, e) for rc, o, e in results if rc]
    assert sum("ok:" in o for _, o, _ in results[N_CONTEST:]) == N_VERIFY  # never tripped on DuckDB's lock
    with LedgerStore.open(run) as s:
        ch = s.changes()
    assert ch.height == changes_before + N_CONTEST
    assert set(ch.tail(N_CONTEST)["entry_id"]) == set(pick["entry_id"])
    states = pl.read_parquet(run / "ledger.parquet").filter(pl.col("entry_id").is_in(pick["entry_id"].implode()))
    assert set(states["state"].cast(pl.String)) == {"contested"}
    m = json.loads((run / "manifest.json").read_text())
    assert m["changes"]["count"] == ch.height
    v = verify_run(run)
    assert v["ok"], v["problems"]
