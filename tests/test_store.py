"""Tests for the append-only ledger store, on DuckDB and on a real, throwaway PostgreSQL.

The PostgreSQL server is started by the `pg_server` fixture (tests/conftest.py) from Debian's postgresql
binaries (initdb + pg_ctl, as the `postgres` user when running as root). Without the
binaries or psycopg the PostgreSQL tests are skipped locally and FAIL when CI=true.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os

import polars as pl
import pytest

from store_tamper import edit_entries
from socialrating.store.ledger_store import (
    BLOCK_SIZE,
    SCHEMA,
    LedgerConflict,
    LedgerStore,
    TransitionError,
    VerifyResult,
)


_dbs = itertools.count()


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path):
    """A fresh ledger location on each backend."""
    if request.param == "duckdb":
        return tmp_path / "run"
    import psycopg

    base = request.getfixturevalue("pg_server")
    name = f"ledger_{os.getpid()}_{next(_dbs)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def ledger(n: int = 6, start: int = 1) -> pl.DataFrame:
    ids = list(range(start, start + n))
    return pl.DataFrame({
        "entry_id": ids,
        "citizen_id": [100 + i % 3 for i in ids],
        "rule_id": ["loan-overdue" if i % 2 else "fine-traffic" for i in ids],
        "event_type": ["loan.overdue_90" if i % 2 else "fine.traffic" for i in ids],
        "category": ["finance" if i % 2 else "mobility" for i in ids],
        "occurred_on": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in ids],
        "points": [-40 if i % 2 else -5 for i in ids],
        "points_raw": [-40 if i % 2 else -5 for i in ids],
        "expires_on": [dt.date(2031, 1, 1) if i % 3 else None for i in ids],
        "closed_on": [dt.date(2024, 6, 1) if i % 5 == 0 else None for i in ids],
        "source": ["bank|feed" if i % 2 else "гибдд" for i in ids],  # separator and UTF-8
        "record_id": [f"r{i}" if i % 4 else "" for i in ids],  # empty string is not NULL
        "state": ["closed" if i % 5 == 0 else "active" for i in ids],
    }, schema=SCHEMA)


def tamper(store: LedgerStore, sql: str) -> None:
    edit_entries(store, sql)  # straight into the stored entries, bypassing the API


def test_append_and_read_back(target):
    df = ledger()
    with LedgerStore.open(target) as s:
        assert s.append_entries(df) == len(df)
        back = s.entries()
        assert back.schema == df.schema
        assert back.equals(df)
        assert s.entries(citizen_id=101).equals(df.filter(pl.col("citizen_id") == 101))
        assert s.verify() == VerifyResult(True, None, len(df))
        assert s.current_states().is_empty() and s.changes().is_empty()
    # reopening reads the same thing and extends the same chain
    with LedgerStore.open(target) as s:
        head = s.head()
        assert s.append_entries(ledger(3, start=50)) == 3
        assert s.head() != head and len(s) == len(df) + 3
        assert s.verify().ok


def test_append_twice_is_idempotent(target):
    with LedgerStore.open(target) as s:
        s.append_entries(ledger())
        head = s.head()
        assert s.append_entries(ledger()) == 0
        assert s.head() == head
        # overlapping batch: only the new rows are stored
        assert s.append_entries(ledger(8)) == 2
        assert len(s) == 8 and s.verify().ok
        changed = ledger().with_columns(points=pl.when(pl.col("entry_id") == 3).then(-99)
                                        .otherwise(pl.col("points")).cast(pl.Int16))
        with pytest.raises(LedgerConflict, match=r"\[3\]"):
            s.append_entries(changed)
        assert len(s) == 8 and s.verify().ok
        with pytest.raises(LedgerConflict):
            s.append_entries(pl.concat([ledger(2, 90), ledger(1, 90)]))


def test_tampered_entry_is_named(target):
    with LedgerStore.open(target) as s:
        s.append_entries(ledger(4))
        s.append_entries(ledger(4, start=5))
        tamper(s, "UPDATE ledger_entries SET points = -1 WHERE entry_id = 6")
        tamper(s, "UPDATE ledger_entries SET source = 'x' WHERE entry_id = 7")
        r = s.verify()
        assert (r.ok, r.first_bad, r.checked) == (False, "entry:6", 4)


def test_tampered_null_and_rehashed_row(target):
    with LedgerStore.open(target) as s:
        s.append_entries(ledger(4))
        s.append_entries(ledger(4, start=5))
        # NULL -> value is a change too
        tamper(s, "UPDATE ledger_entries SET closed_on = DATE '2024-02-02' WHERE entry_id = 2")
        assert s.verify().first_bad == "entry:2"
    with LedgerStore.open(target) as s:
        tamper(s, "UPDATE ledger_entries SET closed_on = NULL WHERE entry_id = 2")
        assert s.verify().ok
        # a row tag that no longer matches its content names the entry
        tamper(s, "UPDATE ledger_entries SET row_tag = row_tag + 1 WHERE entry_id = 7")
        assert s.verify().first_bad == "entry:7"
        # rewriting content AND its row tag is caught by the block digest
        tamper(s, "UPDATE ledger_entries SET points = -1 WHERE entry_id = 7")
        tamper(s, f"UPDATE ledger_entries SET row_tag = {s._db.tag_sql(s._db.row_hash_sql())} WHERE entry_id = 7")
        assert s.verify().first_bad == "block:1"
        # a deleted row breaks its block, earlier blocks still verify
        tamper(s, "DELETE FROM ledger_entries WHERE entry_id = 2")
        r = s.verify()
        assert (r.first_bad, r.checked) == ("block:0", 0)


def test_state_derivation_and_tampered_change(target):
    with LedgerStore.open(target) as s:
        s.append_entries(ledger())
        d = dt.date(2025, 3, 1)
        c1 = s.record_change(1, "contested", "citizen", "not my loan", d)
        c2 = s.record_change(3, "contested", "citizen", "paid on time", d)
        assert s.current_states().to_dicts() == [{"entry_id": 1, "state": "contested"},
                                                 {"entry_id": 3, "state": "contested"}]
        c3 = s.record_change(1, "overturned", "reviewer:42", "identity mismatch", d + dt.timedelta(days=20))
        c4 = s.record_change(3, "upheld", "reviewer:42", "bank records confirm", d + dt.timedelta(days=25))
        assert (c1, c2, c3, c4) == (1, 2, 3, 4)
        assert s.current_states().to_dicts() == [{"entry_id": 1, "state": "overturned"}]
        # the entries table still holds what the engine wrote
        assert s.entries()["state"].to_list() == ledger()["state"].to_list()
        assert s.changes(1)["new_state"].to_list() == ["contested", "overturned"]
        assert s.verify() == VerifyResult(True, None, 6 + 4)
        with pytest.raises(TransitionError):
            s.record_change(1, "contested", "citizen", "again", d + dt.timedelta(days=30))
        with pytest.raises(TransitionError):
            s.record_change(2, "upheld", "reviewer:42", "nothing to uphold", d)
        with pytest.raises(KeyError):
            s.record_change(999, "contested", "citizen", "x", d)
        tamper(s, "UPDATE ledger_changes SET reason = 'edited' WHERE change_id = 3")
        r = s.verify()
        assert (r.ok, r.first_bad, r.checked) == (False, "change:3", 6 + 2)


def test_blocks_split_large_append(tmp_path):
    n = 2 * BLOCK_SIZE + 10
    ids = pl.int_range(1, n + 1, eager=True)
    df = ledger(1).select(pl.all().repeat_by(n).explode()).with_columns(
        entry_id=ids.shuffle(seed=1), citizen_id=ids)
    with LedgerStore.open(tmp_path / "big.duckdb") as s:
        assert s.append_entries(df) == n
        blocks = s._db.fetchall("SELECT block_no, first_entry_id, last_entry_id, n_rows FROM ledger_blocks")
        assert blocks == [(0, 1, BLOCK_SIZE, BLOCK_SIZE), (1, BLOCK_SIZE + 1, 2 * BLOCK_SIZE, BLOCK_SIZE),
                          (2, 2 * BLOCK_SIZE + 1, n, 10)]
        tamper(s, f"UPDATE ledger_entries SET rule_id = 'x' WHERE entry_id = {BLOCK_SIZE + 77}")
        assert s.verify().first_bad == f"entry:{BLOCK_SIZE + 77}"


def test_open_resolves_targets(tmp_path):
    with LedgerStore.open(tmp_path / "runA") as s:
        assert s.where == str(tmp_path / "runA" / "ledger.duckdb")
    with LedgerStore.open(tmp_path / "x" / "l.duckdb") as s:
        assert s.where == str(tmp_path / "x" / "l.duckdb")


def test_rejects_bad_input(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        with pytest.raises(ValueError, match="lacks column"):
            s.append_entries(ledger().drop("state"))
        with pytest.raises(ValueError, match="unknown state"):
            s.append_entries(ledger().with_columns(state=pl.lit("gone")))
        assert len(s) == 0 and s.append_entries(ledger().head(0)) == 0


def test_same_chain_on_both_backends(tmp_path, pg_server):
    """The hash scheme is backend-independent: the same appends give the same head."""
    import psycopg

    name = f"ledger_{os.getpid()}_same"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    heads = []
    for t in (tmp_path, f"{pg_server}/{name}"):
        with LedgerStore.open(t) as s:
            s.append_entries(ledger(5))
            s.append_entries(ledger(7, start=3))
            s.record_change(2, "contested", "citizen", "typo in INN: 'ё'", dt.date(2025, 1, 2))
            heads.append((s.head(), s.changes()["hash"].to_list()))
    assert heads[0] == heads[1]


def test_bulk_changes_chain_exactly_like_single_ones(target, tmp_path):
    d = dt.date(2025, 3, 1)
    batch = pl.DataFrame({
        "entry_id": [1, 3, 1, 3], "new_state": ["contested", "contested", "overturned", "upheld"],
        "actor": ["citizen", "citizen", "reviewer:42", "reviewer:42"],
        "reason": ["not my loan", "paid on time", "identity mismatch", "bank records confirm"],
        "at": [d, d, d + dt.timedelta(days=20), d + dt.timedelta(days=25)],
    })
    with LedgerStore.open(target) as s:
        s.append_entries(ledger())
        assert s.record_changes(batch) == 4
        bulk = s.changes()
        assert s.verify().ok
        assert s.current_states().to_dicts() == [{"entry_id": 1, "state": "overturned"}]
        with pytest.raises(TransitionError):  # entries with changes already: use record_change
            s.record_changes(batch.head(1))
    with LedgerStore.open(tmp_path / "single") as one:  # the same changes one by one
        one.append_entries(ledger())
        for e, st, a, r, at in batch.iter_rows():
            one.record_change(e, st, a, r, at)
        assert one.changes()["hash"].to_list() == bulk["hash"].to_list()
    bad = batch.with_columns(new_state=pl.Series(["upheld", "contested", "overturned", "upheld"]))
    with LedgerStore.open(tmp_path / "bad") as b:
        b.append_entries(ledger())
        with pytest.raises(TransitionError):
            b.record_changes(bad)
        assert b.changes().height == 0  # nothing written


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_bulk_changes_in_batches_chain_as_one(target, tmp_path, monkeypatch, batch_size):
    """record_changes hashes and inserts CHANGE_BATCH changes at a time (a national run has
    millions): the chain, the states and the checks are those of one batch."""
    import socialrating.store.ledger_store as ls

    d = dt.date(2025, 3, 1)
    batch = pl.DataFrame({
        "entry_id": [1, 3, 5, 1, 3], "new_state": ["contested", "contested", "contested", "overturned", "upheld"],
        "actor": ["citizen"] * 3 + ["reviewer:42"] * 2, "reason": ["a", "b", "c", "d", "e"],
        "at": [d, d, d, d + dt.timedelta(days=20), d + dt.timedelta(days=25)],
    })
    with LedgerStore.open(tmp_path / "whole") as w:
        w.append_entries(ledger())
        assert w.record_changes(batch) == 5
        want = w.changes()
    monkeypatch.setattr(ls, "CHANGE_BATCH", batch_size)
    with LedgerStore.open(target) as s:
        s.append_entries(ledger())
        assert s.record_changes(batch) == 5
        assert s.changes().equals(want) and s.verify().ok
        assert s.current_states().to_dicts() == [{"entry_id": 1, "state": "overturned"},
                                                 {"entry_id": 5, "state": "contested"}]
        with pytest.raises(TransitionError, match="already have changes"):
            s.record_changes(batch.filter(pl.col("entry_id") == 5).head(1).with_columns(entry_id=pl.lit(3)))
        with pytest.raises(KeyError, match="no entry 99 "):  # the smallest unknown, whichever batch it is in
            s.record_changes(pl.DataFrame({"entry_id": [4, 99, 101], "new_state": ["contested"] * 3,
                                           "actor": ["c"] * 3, "reason": ["r"] * 3, "at": [d] * 3}))
        assert s.changes().height == 5  # nothing more written
