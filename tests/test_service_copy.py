"""benchmarks/service.py copies a run's store into PostgreSQL to load-test the service on
it: from a store whose entries are Parquet segments, through the connection that reads them
as ``ledger_entries``, into PostgreSQL's tables, with the same chain."""

from __future__ import annotations

import datetime as dt

import polars as pl
from repo_scripts import load_script

from socialrating.store.ledger_store import LedgerStore

D = dt.date(2024, 1, 1)


def test_a_segments_store_copied_into_postgres_keeps_its_chain(tmp_path, pg_database):
    ids = list(range(1, 31))
    led = pl.DataFrame({
        "entry_id": ids, "citizen_id": [i % 4 for i in ids], "rule_id": ["r"] * 30, "event_type": ["e"] * 30,
        "category": ["c"] * 30, "occurred_on": [D] * 30, "points": [-i for i in ids], "points_raw": [-i for i in ids],
        "expires_on": [None] * 30, "closed_on": [None] * 30, "source": ["s|x"] * 30,
        "record_id": [f"R-{i}" for i in ids], "state": ["active"] * 30,
    }, schema_overrides={"expires_on": pl.Date, "closed_on": pl.Date})
    run = tmp_path / "run"
    with LedgerStore.open(run) as s:
        s.append_entries(led.head(20))
        s.append_entries(led.tail(10))
        s.record_change(3, "contested", "citizen", "not me", D)
        assert s._segments is not None
        want = (s.state(), s.block_digests(), s.entries())
    load_script("benchmarks/service.py", "service_bench").copy_store(run, pg_database)
    with LedgerStore.open(pg_database) as pg:
        assert pg.verify().ok
        assert (pg.state(), pg.block_digests()) == want[:2] and pg.entries().equals(want[2])
