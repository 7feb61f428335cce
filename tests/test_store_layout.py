"""The store's per-row layout (`row-tag-32`, store/ledger_store.py): what it keeps per entry,
and stores written with the earlier layout (full row hashes) read and upgraded. On DuckDB
these are stores with an entries table (`segments=False`, as every DuckDB store was before
its entries moved to Parquet segments: tests/test_store_segments.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from socialrating.store.ledger_store import COLUMNS, LAYOUT, LedgerConflict, LedgerStore

D = dt.date(2024, 1, 1)


def ledger(n: int, start: int = 1) -> pl.DataFrame:
    ids = list(range(start, start + n))
    return pl.DataFrame({
        "entry_id": ids, "citizen_id": [i % 3 for i in ids], "rule_id": ["r"] * n, "event_type": ["e"] * n,
        "category": ["c"] * n, "occurred_on": [D] * n, "points": [-i for i in ids], "points_raw": [-i for i in ids],
        "expires_on": [None] * n, "closed_on": [None] * n, "source": ["s"] * n,
        "record_id": [f"R-{i}" for i in ids], "state": ["active"] * n,
    }, schema_overrides={"expires_on": pl.Date, "closed_on": pl.Date})


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path):
    if request.param == "duckdb":
        return tmp_path / "ledger.duckdb"
    return request.getfixturevalue("pg_database")


def to_earlier_layout(s: LedgerStore) -> None:
    """Rewrite a store as the earlier layout wrote it: the full row hash per entry, no tag,
    no layout key."""
    db = s._db
    db.execute(f"CREATE TABLE _old AS SELECT {', '.join(COLUMNS)}, block_no, "
               f"{db.row_hash_sql()} AS row_hash FROM ledger_entries")
    db.execute("DROP TABLE ledger_entries")
    db.execute("ALTER TABLE _old RENAME TO ledger_entries")
    db.execute("DELETE FROM ledger_meta WHERE key = 'layout'")


def columns(s: LedgerStore) -> set[str]:
    return s._entry_columns()


def test_a_new_store_keeps_a_tag_not_the_hash_and_records_its_layout(target):
    with LedgerStore.open(target, segments=False) as s:
        s.append_entries(ledger(5))
        assert "row_tag" in columns(s) and "row_hash" not in columns(s)
        assert s._db.fetchall("SELECT value FROM ledger_meta WHERE key = 'layout'") == [(LAYOUT,)]
        tags = [t for (t,) in s._db.fetchall("SELECT row_tag FROM ledger_entries ORDER BY entry_id")]
    assert all(0 <= t < 2**32 for t in tags) and len(set(tags)) == 5


def test_the_duckdb_store_has_no_index_on_entries(tmp_path):
    with LedgerStore.open(tmp_path / "l.duckdb", segments=False) as s:
        s.append_entries(ledger(5))
        assert s._db.fetchall("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'ledger_entries'") == [(0,)]
        assert s._db.fetchall("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'ledger_entries' "
                              "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')") == [(0,)]


def test_without_an_index_stored_ids_are_still_found_anywhere_in_a_batch(tmp_path):
    """Idempotence and conflicts work for ids inside the batch's range, at its ends, and for
    a batch whose ids come before the stored ones."""
    with LedgerStore.open(tmp_path / "l.duckdb", segments=False) as s:
        assert s.append_entries(ledger(10, start=11)) == 10
        assert s.append_entries(ledger(12, start=5)) == 6  # 5..10 new, 11..16 already stored
        assert s.append_entries(ledger(1, start=20)) == 0
        assert s.append_entries(pl.concat([ledger(1, start=1), ledger(1, start=20)])) == 1
        head = s.head()
        with pytest.raises(LedgerConflict, match=r"\[20\]"):
            s.append_entries(ledger(3, start=20).with_columns(points=pl.lit(7, pl.Int16)))
        assert len(s) == 17 and s.head() == head and s.verify().ok


def test_an_earlier_store_is_read_as_it_is_and_upgraded_when_opened_for_writing(tmp_path):
    path = tmp_path / "ledger.duckdb"
    with LedgerStore.open(path, segments=False) as s:
        s.append_entries(ledger(4))
        s.append_entries(ledger(4, start=5))
        s.record_change(6, "contested", "citizen", "not me", D)
        heads, n = s.block_digests(), len(s)
        to_earlier_layout(s)
    with LedgerStore.open(path, read_only=True) as r:
        assert "row_hash" in columns(r)
        assert r.verify().ok and r.block_digests() == heads and len(r) == n
    with LedgerStore.open(path, segments=False) as s:  # opened for writing: upgraded
        assert "row_tag" in columns(s) and "row_hash" not in columns(s)
        assert s._db.fetchall("SELECT value FROM ledger_meta WHERE key = 'layout'") == [(LAYOUT,)]
        assert s.verify().ok and s.block_digests() == heads and len(s) == n
        assert s.entries()["entry_id"].to_list() == list(range(1, 9))
        s.append_entries(ledger(2, start=9))
        assert s.verify().ok and len(s.block_digests()) == 3
        to_earlier_layout(s)  # an edit to an entry of the earlier layout is named, read-only
        s._db.execute("UPDATE ledger_entries SET points = 3 WHERE entry_id = 2")
    with LedgerStore.open(path, read_only=True) as r:
        assert r.verify().first_bad == "entry:2"


def test_an_earlier_postgres_store_is_upgraded(pg_database):
    with LedgerStore.open(pg_database) as s:
        s.append_entries(ledger(6))
        heads = s.block_digests()
        to_earlier_layout(s)
    with LedgerStore.open(pg_database) as s:
        assert "row_tag" in columns(s) and "row_hash" not in columns(s)
        assert s.verify().ok and s.block_digests() == heads
        s._db.execute("UPDATE ledger_entries SET points = 3 WHERE entry_id = 2")
        assert s.verify().first_bad == "entry:2"


def test_the_postgres_store_keeps_its_index_on_entry_id(pg_database):
    """PostgreSQL keeps no min/max per page: there the primary key is what finds an entry."""
    with LedgerStore.open(pg_database) as s:
        s.append_entries(ledger(3))
        keys = s._db.fetchall(
            "SELECT k.column_name FROM information_schema.table_constraints c JOIN "
            "information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
            "WHERE c.table_name = 'ledger_entries' AND c.constraint_type = 'PRIMARY KEY'")
    assert keys == [("entry_id",)]


def test_block_digests_are_block_digest_over_each_blocks_hashes(monkeypatch):
    """Digests from one joined string equal block_digest over each block's hashes in entry
    order, chained; the rows may come in any order; a hash that is not 64 digits is refused."""
    import hashlib

    from socialrating.store import ledger_store as L

    monkeypatch.setattr(L, "BLOCK_SIZE", 3)
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(7)]
    ids = [10, 11, 12, 20, 21, 22, 30]
    frame = pl.DataFrame({"entry_id": ids, "row_hash": hashes})
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    assert shuffled["entry_id"].to_list() != ids
    want, prev = [], "p" * 64
    for b, k in enumerate(range(0, 7, 3)):
        d = L.block_digest(prev, "".join(hashes[k:k + 3]))
        want.append((5 + b, ids[k], ids[min(k + 3, 7) - 1], min(3, 7 - k), d))
        prev = d
    assert L.block_digests(shuffled, 5, "p" * 64) == want
    assert [w[3] for w in want] == [3, 3, 1]
    assert L.block_digests(frame.clear(), 0, "p" * 64) == []
    with pytest.raises(ValueError, match="^row hashes must be 64 hex digits$"):
        L.block_digests(frame.with_columns(row_hash=pl.col("row_hash").str.slice(1)), 0, "p" * 64)


def test_a_batch_of_stored_and_new_rows_stores_the_new_ones_in_blocks(target, monkeypatch):
    """Half a batch already stored (same content): only the rest is appended, in blocks
    numbered after the stored ones, whatever order the batch came in; the chain verifies,
    on both backends."""
    from socialrating.store import ledger_store as L

    monkeypatch.setattr(L, "BLOCK_SIZE", 3)
    rows = ledger(8)
    with LedgerStore.open(target) as s:
        assert s.append_entries(rows.head(4)) == 4
        assert s.append_entries(rows.reverse()) == 4
        assert s.append_entries(rows) == 0
        assert len(s) == 8 and s.verify().ok
        blocks = s._db.fetchall("SELECT block_no, first_entry_id, last_entry_id, n_rows FROM ledger_blocks "
                                "ORDER BY block_no")
    assert [tuple(b) for b in blocks] == [(0, 1, 3, 3), (1, 4, 4, 1), (2, 5, 7, 3), (3, 8, 8, 1)]


def test_verify_reads_the_state_changes_a_batch_at_a_time(target, monkeypatch):
    """verify holds VERIFY_CHANGES changes as Python rows at a time, on both backends, and
    still finds an edited change in a later batch, naming it."""
    from socialrating.store import ledger_store as L

    monkeypatch.setattr(L, "VERIFY_CHANGES", 2)
    with LedgerStore.open(target) as s:
        s.append_entries(ledger(6))
        for e in range(1, 6):
            s.record_change(e, "contested", "citizen", f"not me {e}", D)
        sizes: list[int] = []
        real = s._db.batches

        def spy(sql, size):
            for rows in real(sql, size):
                sizes.append(len(rows))
                yield rows

        monkeypatch.setattr(s._db, "batches", spy)
        assert s.verify() == L.VerifyResult(True, None, 11)
        assert sizes == [2, 2, 1]
        s._db.execute("UPDATE ledger_changes SET reason = 'edited' WHERE change_id = 4")
        assert s.verify() == L.VerifyResult(False, "change:4", 9, "change 4 (entry 4) no longer matches its hash")
