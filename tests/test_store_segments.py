"""A DuckDB store's entries as Parquet segments beside the database (layout
parquet-segments-v1, store/ledger_store.py): the same chain as a table, a file per append,
smaller on disk, and every way of damaging the files caught by `verify`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from socialrating.store import ledger_store as L
from socialrating.store.ledger_store import (
    SEGMENTS_LAYOUT, LedgerConflict, LedgerStore, VerifyResult, remove_duckdb_store, segments_dir,
)
from socialrating.store.seal import listed_files

D = dt.date(2024, 1, 1)


def ledger(n: int, start: int = 1) -> pl.DataFrame:
    ids = list(range(start, start + n))
    return pl.DataFrame({
        "entry_id": ids, "citizen_id": [i % 7 for i in ids], "rule_id": ["r"] * n, "event_type": ["e.x"] * n,
        "category": ["c"] * n, "occurred_on": [D + dt.timedelta(days=i % 300) for i in ids],
        "points": [-(i % 50) for i in ids], "points_raw": [-(i % 50) for i in ids],
        "expires_on": [None if i % 3 else D for i in ids], "closed_on": [None] * n, "source": ["bank"] * n,
        "record_id": [f"BNK-{(i * 7919) % 10**12:012d}" for i in ids], "state": ["active"] * n,
    }, schema_overrides={"expires_on": pl.Date, "closed_on": pl.Date, "points": pl.Int16, "points_raw": pl.Int16})


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Blocks of 4: entries 1-4 and 5-8 in segment 0 (blocks 0, 1), 9-10 in segment 1 (block 2)."""
    monkeypatch.setattr(L, "BLOCK_SIZE", 4)
    s = LedgerStore.open(tmp_path / "ledger.duckdb")
    s.append_entries(ledger(8))
    s.append_entries(ledger(2, start=9))
    assert s.verify() == VerifyResult(True, None, 10)
    yield s
    s.close()


def segment(s: LedgerStore, no: int) -> Path:
    return segments_dir(s.where) / f"{no:06d}.parquet"


def reopened(s: LedgerStore) -> LedgerStore:
    """The store opened afresh, read-only, as `verify` opens it (the writer closed first:
    DuckDB allows one configuration of connections to a file per process)."""
    s.close()
    return LedgerStore.open(s.where, read_only=True)


def test_a_new_duckdb_store_keeps_its_entries_in_a_segment_per_append(store):
    db = store._db
    assert db.fetchall("SELECT value FROM ledger_meta WHERE key = 'layout'") == [(SEGMENTS_LAYOUT,)]
    assert db.fetchall("SELECT count(*) FROM information_schema.tables WHERE table_name = 'ledger_entries' "
                       "AND table_type = 'BASE TABLE'") == [(0,)]  # no table: a view over the files
    assert store._segment_files() == [(0, "000000.parquet", 1, 8, 8), (1, "000001.parquet", 9, 10, 2)]
    assert sorted(p.name for p in segments_dir(store.where).iterdir()) == ["000000.parquet", "000001.parquet"]
    back = pl.read_parquet(segment(store, 0))
    assert back.columns == [*L.COLUMNS, "block_no", "row_tag"]
    assert back["block_no"].to_list() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert store.entries().equals(ledger(10).cast(L.SCHEMA))
    assert len(store) == 10 and store.entries(citizen_id=3)["entry_id"].to_list() == [3, 10]


def test_segments_and_a_table_give_the_same_chain(tmp_path, monkeypatch):
    """The layout is how entries are kept, not what is hashed: same blocks, same head."""
    monkeypatch.setattr(L, "BLOCK_SIZE", 4)
    heads = []
    for name, segments in (("a.duckdb", True), ("b.duckdb", False)):
        with LedgerStore.open(tmp_path / name, segments=segments) as s:
            s.append_entries(ledger(6))
            s.append_entries(ledger(5, start=7))
            s.record_change(3, "contested", "citizen", "not me", D)
            heads.append((s.block_digests(), s.state()))
    assert heads[0] == heads[1] and len(heads[0][0]) == 4


def test_an_existing_store_keeps_its_layout(tmp_path):
    """A store made with a table stays a table; one made with segments stays segments,
    whatever `segments` asks when it is opened again."""
    with LedgerStore.open(tmp_path / "t.duckdb", segments=False) as s:
        s.append_entries(ledger(3))
    with LedgerStore.open(tmp_path / "t.duckdb") as s:
        s.append_entries(ledger(2, start=4))
        assert s._segments is None and len(s) == 5 and s.verify().ok
    assert not segments_dir(tmp_path / "t.duckdb").exists()
    with LedgerStore.open(tmp_path / "s.duckdb") as s:
        s.append_entries(ledger(3))
    with LedgerStore.open(tmp_path / "s.duckdb", segments=False) as s:
        s.append_entries(ledger(2, start=4))
        assert s._segments is not None and len(s) == 5 and s.verify().ok
        assert len(s._segment_files()) == 2


def test_stored_ids_are_found_across_segments(store):
    """Idempotence and conflicts against entries of any segment, also for a batch whose ids
    come before and between the stored ones."""
    assert store.append_entries(ledger(10)) == 0  # everything already stored: no new segment
    assert len(store._segment_files()) == 2
    with pytest.raises(LedgerConflict, match=r"\[9, 10\]"):
        store.append_entries(ledger(2, start=9).with_columns(points=pl.lit(3, pl.Int16)))
    assert store.append_entries(pl.concat([ledger(1, start=10), ledger(2, start=11)])) == 2
    assert len(store) == 12 and store.verify().ok and len(store._segment_files()) == 3


def test_a_failed_registration_leaves_the_store_as_it_was(store, monkeypatch):
    """The segment is written before it is registered in the append's transaction: if the
    registration fails (a process killed there leaves the same), the file is not read, and
    the next append takes its name."""
    head, n = store.head(), len(store)
    real = store._db.execute

    def failing(sql, params=None):
        if sql.startswith("INSERT INTO ledger_segments"):
            raise RuntimeError("killed")
        return real(sql, params)

    monkeypatch.setattr(store._db, "execute", failing)
    with pytest.raises(RuntimeError, match="killed"):
        store.append_entries(ledger(3, start=11))
    monkeypatch.setattr(store._db, "execute", real)
    assert segment(store, 2).is_file()  # written, never registered
    assert (store.head(), len(store)) == (head, n) and store.verify() == VerifyResult(True, None, 10)
    assert store.append_entries(ledger(3, start=11)) == 3
    assert store._segment_files()[-1] == (2, "000002.parquet", 11, 13, 3)
    assert store.verify() == VerifyResult(True, None, 13)


def test_an_outer_transaction_rolled_back_takes_the_segment_with_it(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.append_entries(ledger(2, start=11))
            assert len(store) == 12
            raise RuntimeError("the command failed later")
    assert len(store) == 10 and store.verify().ok and len(store._segment_files()) == 2


def test_files_that_are_not_registered_are_not_read(store):
    pq.write_table(ledger(3, start=100).to_arrow(), segments_dir(store.where) / "000009.parquet")
    (segments_dir(store.where) / "notes.txt").write_text("x")
    with reopened(store) as r:
        assert len(r) == 10 and r.verify() == VerifyResult(True, None, 10)


def _rewrite(path: Path, edit) -> None:
    """A segment rewritten by someone with the file: read, changed, written back in place."""
    frame = edit(pl.read_parquet(path))
    frame.write_parquet(path)


def test_a_missing_segment_is_named(store):
    segment(store, 1).unlink()
    store._entries_view()
    assert len(store) == 8  # the entries that are there stay readable; verify says what is not
    assert store.verify() == VerifyResult(
        False, "segment:1", 0, f"segment 1 ({segment(store, 1)}, entries 9-10) is missing")
    with reopened(store) as r:  # opening still works, to say so
        assert r.verify().first_bad == "segment:1"


def test_an_overwritten_segment_is_unreadable_not_a_crash(store):
    segment(store, 0).write_bytes(b"not parquet at all")
    with reopened(store) as r:
        v = r.verify()
    assert (v.ok, v.first_bad, v.checked) == (False, "segments", 0)
    assert "cannot be read" in v.detail


def test_an_entry_edited_in_its_file_is_named(store):
    _rewrite(segment(store, 0), lambda f: f.with_columns(
        points=pl.when(pl.col("entry_id") == 6).then(pl.lit(40, pl.Int16)).otherwise(pl.col("points"))))
    with reopened(store) as r:
        assert r.verify() == VerifyResult(False, "entry:6", 4, "entry 6 no longer matches its row hash")


def test_an_entry_edited_with_its_tag_recomputed_breaks_its_block(store):
    """Someone who also recomputes the row tag in the file is caught by the block digest."""
    db = store._db
    tag = db.fetchall(f"SELECT {db.tag_sql(db.row_hash_sql())} FROM (SELECT * REPLACE (CAST(40 AS SMALLINT) AS points) "
                      "FROM ledger_entries WHERE entry_id = 10)")[0][0]
    _rewrite(segment(store, 1), lambda f: f.with_columns(
        points=pl.when(pl.col("entry_id") == 10).then(pl.lit(40, pl.Int16)).otherwise(pl.col("points")),
        row_tag=pl.when(pl.col("entry_id") == 10).then(pl.lit(tag)).otherwise(pl.col("row_tag"))))
    with reopened(store) as r:
        assert r.verify() == VerifyResult(
            False, "block:2", 8, "block 2 (entries 9-10): its rows' hashes no longer give the stored digest")


@pytest.mark.parametrize("edit, bad, checked", [
    (lambda f: f.filter(pl.col("entry_id") != 2), "block:0", 0),             # a row deleted from the file
    (lambda f: pl.concat([f, f.tail(1)]), "block:1", 4),                    # a row repeated
    (lambda f: f.head(0), "block:0", 0),                                    # the file emptied
])
def test_rows_removed_or_added_in_a_file_break_their_block(store, edit, bad, checked):
    _rewrite(segment(store, 0), edit)
    with reopened(store) as r:
        v = r.verify()
    assert (v.ok, v.first_bad, v.checked) == (False, bad, checked)
    assert "rows were deleted or inserted" in v.detail


def test_a_registry_pointed_at_another_file_is_caught(store):
    store._db.execute("UPDATE ledger_segments SET file = '000000.parquet' WHERE segment_no = 1")
    store._entries_view()
    v = store.verify()
    assert not v.ok and v.first_bad == "block:0"  # block 0's rows twice


def test_removing_a_store_removes_its_segments(store):
    where = store.where
    store.close()
    remove_duckdb_store(where)
    assert not Path(where).exists() and not segments_dir(where).exists()
    with LedgerStore.open(where) as s:  # a fresh store there starts from segment 0
        s.append_entries(ledger(2))
        assert s._segment_files() == [(0, "000000.parquet", 1, 2, 2)]


def test_the_segments_take_less_disk_than_a_table(tmp_path):
    """The point of the layout: the same 300,000 entries, appended in three parts, take
    well under the table's bytes (measured on a 1M-people run: 131 MB -> about 60 MB)."""
    sizes = {}
    big = ledger(300_000)
    for name, segments in (("seg.duckdb", True), ("tab.duckdb", False)):
        path = tmp_path / name
        with LedgerStore.open(path, segments=segments) as s:
            for k in range(3):
                s.append_entries(big.slice(100_000 * k, 100_000))
            s._db.execute("CHECKPOINT")
        files = [path, *(segments_dir(path).glob("*.parquet") if segments else [])]
        sizes[name] = sum(os.path.getsize(f) for f in files)
    assert sizes["seg.duckdb"] < 0.6 * sizes["tab.duckdb"], sizes


def test_a_run_folder_store_has_segments_the_manifest_does_not_list(tmp_path):
    """A run's store keeps its entries in ledger.entries/; the manifest lists every other
    file, and the run verifies (the segments are checked by content, through the chain)."""
    from typer.testing import CliRunner

    from socialrating.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "--people", "400", "--years", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    segs = sorted(p.name for p in (out / "ledger.entries").iterdir())
    assert segs == ["000000.parquet"]
    assert not any(f.startswith("ledger.entries") for f in listed_files(out))
    with LedgerStore.open(out, read_only=True) as s:
        assert s._segments == out / "ledger.entries" and len(s) > 0
    res = CliRunner().invoke(app, ["verify", str(out)])
    assert res.exit_code == 0, res.output
