"""store/ledger_store.py: every verdict `verify` can give, word for word, and the hash scheme.

The README and the module docstring promise an auditor a precise answer: which entry,
block or change no longer matches, and why. Each test breaks one thing straight in the
database (DuckDB; tests/test_store.py and tests/test_row_hash.py run both backends) and
expects the exact VerifyResult. The canonical text and the three hashes are recomputed
here from the documented scheme with hashlib. Written to kill the mutants mutmut made of
this module (scripts/mutation.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from socialrating.store.ledger_store import (
    SCHEMA, ZERO, LedgerConflict, LedgerStore, VerifyResult, block_digest, canonical_change, change_hash,
)
from store_tamper import edit_entries
from test_store import ledger  # the six-entry ledger (separator and UTF-8 inside values)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_canonical_change_is_length_prefixed_utf8():
    got = canonical_change(12, 345, "contested", "Иванов", "не мой | кредит", dt.date(2025, 3, 1))
    # Иванов: 6 letters, 12 bytes; "не мой | кредит": 11 Cyrillic letters (22 bytes) + 3 spaces + "|"
    assert got == "2:12|3:345|9:contested|12:Иванов|26:не мой | кредит|10:2025-03-01"


def test_change_hash_and_block_digest_follow_the_documented_scheme():
    canon = "1:1|1:7|9:contested|7:citizen|4:typo|10:2025-01-02"
    assert change_hash(ZERO, canon) == sha(ZERO + "|" + canon)
    assert change_hash("ab" * 32, canon) == sha("ab" * 32 + "|" + canon) != change_hash(ZERO, canon)
    rows = "1" * 64 + "2" * 64
    assert block_digest(ZERO, rows) == sha(ZERO + rows)
    assert block_digest("f" * 64, rows) == sha("f" * 64 + rows)
    assert ZERO == "0" * 64


def _row_text(row: dict) -> str:
    def one(v) -> str:
        if v is None:
            return "~"
        t = v.isoformat() if isinstance(v, dt.date) else str(v)
        return f"{len(t.encode())}:{t}"
    return "|".join(one(row[c]) for c in SCHEMA)


def test_heads_and_digests_recomputed_from_the_entries_and_changes(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        assert s.head() == ZERO and s.block_digests() == []
        assert s.state() == {"ledger_head": ZERO, "entries": 0, "changes": 0, "change_head": ZERO}
        s.append_entries(ledger(4))
        s.append_entries(ledger(3, start=5))
        rows = ledger(7).to_dicts()
        d0 = sha(ZERO + "".join(sha(_row_text(r)) for r in rows[:4]))
        d1 = sha(d0 + "".join(sha(_row_text(r)) for r in rows[4:]))
        assert s.block_digests() == [d0, d1] and s.head() == d1
        at = dt.date(2025, 1, 2)
        assert s.record_change(2, "contested", "citizen", "ё", at) == 1
        assert s.record_change(2, "upheld", "reviewer:1", "ok", at) == 2
        h1 = sha(ZERO + "|" + "1:1|1:2|9:contested|7:citizen|2:ё|10:2025-01-02")
        h2 = sha(h1 + "|" + "1:2|1:2|6:upheld|10:reviewer:1|2:ok|10:2025-01-02")
        assert s.changes()["hash"].to_list() == [h1, h2]
        assert s.changes()["prev_hash"].to_list() == [ZERO, h1]
        assert s.state() == {"ledger_head": d1, "entries": 7, "changes": 2, "change_head": h2}
        assert s.verify() == VerifyResult(True, None, 7 + 2, "")


@pytest.fixture
def two_blocks(tmp_path):
    """Entries 1-4 in block 0, 5-8 in block 1, and two changes (contested, overturned) of entry 3."""
    s = LedgerStore.open(tmp_path)
    s.append_entries(ledger(4))
    s.append_entries(ledger(4, start=5))
    s.record_change(3, "contested", "citizen", "not mine", dt.date(2025, 1, 1))
    s.record_change(3, "overturned", "reviewer:9", "agreed", dt.date(2025, 1, 9))
    assert s.verify() == VerifyResult(True, None, 10)
    yield s
    s.close()


def test_verify_edited_entry(two_blocks):
    edit_entries(two_blocks, "UPDATE ledger_entries SET points = 5 WHERE entry_id = 6")
    assert two_blocks.verify() == VerifyResult(False, "entry:6", 4, "entry 6 no longer matches its row hash")


def test_verify_edited_entry_in_the_first_block(two_blocks):
    edit_entries(two_blocks, "UPDATE ledger_entries SET category = 'x' WHERE entry_id = 1")
    assert two_blocks.verify() == VerifyResult(False, "entry:1", 0, "entry 1 no longer matches its row hash")


def test_verify_block_numbers_jump(two_blocks):
    two_blocks._db.execute("UPDATE ledger_blocks SET block_no = 5 WHERE block_no = 1")
    assert two_blocks.verify() == VerifyResult(False, "block:5", 4,
                                               "block 5 (entries 5-8): block numbers jump to 5 after 0")


def test_verify_prev_digest_unlinked(two_blocks):
    two_blocks._db.execute(f"UPDATE ledger_blocks SET prev_digest = '{ZERO}' WHERE block_no = 1")
    assert two_blocks.verify() == VerifyResult(
        False, "block:1", 4, "block 1 (entries 5-8): its prev_digest does not link to the previous block")


def test_verify_first_block_prev_digest_must_be_zeros(two_blocks):
    two_blocks._db.execute(f"UPDATE ledger_blocks SET prev_digest = '{'1' * 64}' WHERE block_no = 0")
    assert two_blocks.verify() == VerifyResult(
        False, "block:0", 0, "block 0 (entries 1-4): its prev_digest does not link to the previous block")


@pytest.mark.parametrize("sql, bad, checked, entries", [
    ("DELETE FROM ledger_entries WHERE entry_id = 2", "block:0", 0, "1-4"),          # count differs
    ("DELETE FROM ledger_entries WHERE entry_id = 8", "block:1", 4, "5-8"),          # last id differs
    ("DELETE FROM ledger_entries WHERE entry_id = 5", "block:1", 4, "5-8"),          # first id differs
    ("DELETE FROM ledger_entries WHERE block_no = 1", "block:1", 4, "5-8"),          # block emptied
    ("UPDATE ledger_blocks SET n_rows = 3 WHERE block_no = 0", "block:0", 0, "1-4"),
])
def test_verify_rows_deleted_or_inserted(two_blocks, sql, bad, checked, entries):
    edit_entries(two_blocks, sql)
    n = bad.split(":")[1]
    assert two_blocks.verify() == VerifyResult(False, bad, checked,
                                               f"block {n} (entries {entries}): rows were deleted or inserted")


def test_verify_row_and_row_tag_rewritten(two_blocks):
    db = two_blocks._db
    edit_entries(two_blocks, "UPDATE ledger_entries SET points = 1 WHERE entry_id = 7")
    edit_entries(two_blocks, f"UPDATE ledger_entries SET row_tag = ({db.tag_sql(db.row_hash_sql())}) WHERE entry_id = 7")
    assert two_blocks.verify() == VerifyResult(
        False, "block:1", 4, "block 1 (entries 5-8): its rows' hashes no longer give the stored digest")


def test_verify_entries_outside_the_chain(two_blocks):
    two_blocks._db.execute("DELETE FROM ledger_blocks WHERE block_no = 1")
    assert two_blocks.verify() == VerifyResult(False, "block:1", 4, "entries in block 1, which is not in the chain")


def test_verify_edited_change(two_blocks):
    two_blocks._db.execute("UPDATE ledger_changes SET actor = 'reviewer:8' WHERE change_id = 2")
    assert two_blocks.verify() == VerifyResult(False, "change:2", 8 + 1,
                                               "change 2 (entry 3) no longer matches its hash")


def test_verify_change_prev_hash_unlinked(two_blocks):
    two_blocks._db.execute(f"UPDATE ledger_changes SET prev_hash = '{'2' * 64}' WHERE change_id = 1")
    assert two_blocks.verify() == VerifyResult(False, "change:1", 8,
                                               "change 1 (entry 3) no longer matches its hash")


def test_verify_change_rehashed_but_chain_broken(two_blocks):
    # change 1 edited and re-hashed consistently: change 2's prev_hash no longer links
    canon = canonical_change(1, 3, "contested", "citizen", "edited", dt.date(2025, 1, 1))
    two_blocks._db.execute(f"UPDATE ledger_changes SET reason = 'edited', hash = '{change_hash(ZERO, canon)}' "
                           "WHERE change_id = 1")
    assert two_blocks.verify() == VerifyResult(False, "change:2", 8 + 1,
                                               "change 2 (entry 3) no longer matches its hash")


def test_append_entries_refusals_word_for_word(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        cols = list(SCHEMA)
        with pytest.raises(ValueError) as e:
            s.append_entries(ledger().drop("state", "source"))
        assert str(e.value) == f"ledger lacks column(s) ['source', 'state']; expected {cols}"
        with pytest.raises(ValueError) as e:
            s.append_entries(ledger().with_columns(entry_id=pl.Series([1, None, 3, 4, 5, 6], dtype=pl.Int64)))
        assert str(e.value) == "entry_id must not be null"
        with pytest.raises(LedgerConflict) as e:
            s.append_entries(ledger().with_columns(entry_id=pl.Series([9, 8, 9, 8, 7, 2], dtype=pl.Int64)))
        assert str(e.value) == "entry_id repeated within the batch: [8, 9]"
        with pytest.raises(ValueError) as e:
            s.append_entries(ledger().with_columns(state=pl.Series(["active", None] * 3)))
        assert str(e.value).startswith("unknown state None for entry 2; expected one of (")
        with pytest.raises(ValueError) as e:
            s.append_entries(ledger().with_columns(state=pl.Series(["active", "active", "gone"] * 2)))
        assert str(e.value).startswith("unknown state 'gone' for entry 3; expected one of (")
        assert len(s) == 0 and s.head() == ZERO
        assert s.append_entries(ledger(3)) == 3
        with pytest.raises(LedgerConflict) as e:
            s.append_entries(ledger(5).with_columns(points=pl.lit(0, pl.Int16)))
        assert str(e.value) == ("entry_id(s) [1, 2, 3] are already stored with different content; "
                                "the ledger is append-only (record a change instead)")
        assert len(s) == 3


def test_append_extra_columns_ignored_and_order_fixed(tmp_path):
    df = ledger(3)
    shuffled = df.select(list(reversed(df.columns))).with_columns(extra=pl.lit(1))
    with LedgerStore.open(tmp_path / "a") as a, LedgerStore.open(tmp_path / "b") as b:
        assert a.append_entries(shuffled) == 3 and b.append_entries(df) == 3
        assert a.head() == b.head() and a.entries().equals(df)


def test_append_only_new_rows_extend_the_chain(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        s.append_entries(ledger(3))
        d0 = s.head()
        assert s.append_entries(ledger(3)) == 0 and s.block_digests() == [d0]  # nothing new: no block
        assert s.append_entries(ledger(5)) == 2
        rows = ledger(5).to_dicts()
        assert s.block_digests() == [d0, sha(d0 + "".join(sha(_row_text(r)) for r in rows[3:]))]
        assert s.verify() == VerifyResult(True, None, 5)


def test_conflict_and_duplicate_messages_name_at_most_five_ids(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        with pytest.raises(LedgerConflict) as e:
            s.append_entries(pl.concat([ledger(7), ledger(7)]))
        assert str(e.value) == "entry_id repeated within the batch: [1, 2, 3, 4, 5]"
        assert s.append_entries(ledger(7)) == 7
        with pytest.raises(LedgerConflict) as e:
            s.append_entries(ledger(7).with_columns(points_raw=pl.lit(1, pl.Int16)))
        assert str(e.value) == ("entry_id(s) [1, 2, 3, 4, 5] are already stored with different content; "
                                "the ledger is append-only (record a change instead)")
        assert len(s) == 7 and s.verify() == VerifyResult(True, None, 7)


def test_postgres_row_hash_does_not_depend_on_the_server_datestyle(pg_database, tmp_path, monkeypatch):
    # dates are hashed as YYYY-MM-DD whatever the session's DateStyle (to_char, not a cast)
    with LedgerStore.open(tmp_path / "duck") as duck:
        duck.append_entries(ledger(6))
        want = duck.head()
    monkeypatch.setenv("PGOPTIONS", "-c DateStyle=German")
    with LedgerStore.open(pg_database) as pg:
        assert pg._db.fetchall("SELECT CAST(DATE '2024-01-02' AS TEXT)")[0][0] == "02.01.2024"
        pg.append_entries(ledger(6))
        assert pg.head() == want
        assert pg.verify() == VerifyResult(True, None, 6)


def test_append_refuses_values_that_do_not_fit_the_schema(tmp_path):
    # a cast that cannot be exact is refused, never stored as null (points are int16)
    with LedgerStore.open(tmp_path) as s:
        big = ledger(3).with_columns(points=pl.Series([1, 40_000, 2], dtype=pl.Int32))
        with pytest.raises(pl.exceptions.InvalidOperationError, match="40000"):
            s.append_entries(big)
        assert len(s) == 0 and s.head() == ZERO


def test_append_unknown_state_names_the_first_bad_row(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        with pytest.raises(ValueError) as e:
            s.append_entries(ledger().with_columns(state=pl.Series(["active", "lost", "gone", "active", "x", "y"])))
        assert str(e.value).startswith("unknown state 'lost' for entry 2; expected one of (")


def test_append_a_single_new_entry(tmp_path):
    with LedgerStore.open(tmp_path) as s:
        assert s.append_entries(ledger(3)) == 3
        d0 = s.head()
        assert s.append_entries(ledger(4)) == 1
        rows = ledger(4).to_dicts()
        assert len(s) == 4 and s.block_digests() == [d0, sha(d0 + sha(_row_text(rows[3])))]
        assert s.verify() == VerifyResult(True, None, 4)


def test_postgres_appends_at_once_wait_for_each_other(pg_database):
    # one writer at a time per chain: while one store's append is uncommitted, another waits
    # for it and then extends the chain after it (without the lock it would build its own
    # block 0 from the chain it saw, and fail on the first one's block number)
    import threading
    import time

    with LedgerStore.open(pg_database) as first, LedgerStore.open(pg_database) as second:
        done: dict = {}

        def append_second():
            try:
                done["n"] = second.append_entries(ledger(6).slice(3))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                done["error"] = exc

        with first._db.transaction(lock="ledger_blocks"):
            assert first.append_entries(ledger(3)) == 3
            t = threading.Thread(target=append_second)
            t.start()
            time.sleep(1.0)
            assert t.is_alive()  # waiting for the first append to commit
        t.join(30)
        assert done == {"n": 3}
        want = sha(ZERO + "".join(sha(_row_text(r)) for r in ledger(3).to_dicts()))
        assert first.block_digests()[0] == want and len(first.block_digests()) == 2
        assert first.verify() == VerifyResult(True, None, 6)


@pytest.fixture
def five_blocks(tmp_path, monkeypatch):
    """Entries 1-15 in blocks of 3 (an append a block), verified 2 blocks at a time."""
    from socialrating.store import ledger_store

    monkeypatch.setattr(ledger_store, "VERIFY_BLOCKS", 2)
    s = LedgerStore.open(tmp_path)
    for b in range(5):
        s.append_entries(ledger(3, start=1 + 3 * b))
    assert s.verify() == VerifyResult(True, None, 15) and len(s.block_digests()) == 5
    yield s
    s.close()


def test_verify_reads_the_blocks_a_few_at_a_time(five_blocks):
    db = five_blocks._db
    edit_entries(five_blocks, "UPDATE ledger_entries SET points = 1 WHERE entry_id = 11")  # block 3: the second batch
    edit_entries(five_blocks, f"UPDATE ledger_entries SET row_tag = ({db.tag_sql(db.row_hash_sql())}) WHERE entry_id = 11")
    assert five_blocks.verify() == VerifyResult(
        False, "block:3", 9, "block 3 (entries 10-12): its rows' hashes no longer give the stored digest")


def test_verify_fetches_at_most_verify_blocks_blocks_at_once(five_blocks):
    db, fetched = five_blocks._db, []
    fetch = db.fetchall

    def spy(sql, params=None):
        rows = fetch(sql, params)
        if "string_agg" in sql:
            fetched.append(sorted(r[0] for r in rows))
        return rows

    db.fetchall = spy
    assert five_blocks.verify() == VerifyResult(True, None, 15)
    assert fetched == [[0, 1], [2, 3], [4]]


def test_verify_last_batch_alone(five_blocks):
    db = five_blocks._db
    edit_entries(five_blocks, "DELETE FROM ledger_entries WHERE entry_id = 15")  # block 4, the third batch, alone
    assert five_blocks.verify() == VerifyResult(
        False, "block:4", 12, "block 4 (entries 13-15): rows were deleted or inserted")


def test_verify_strays_beyond_the_last_batch(five_blocks):
    five_blocks._db.execute("DELETE FROM ledger_blocks WHERE block_no = 4")  # its entries stay
    assert five_blocks.verify() == VerifyResult(False, "block:4", 12, "entries in block 4, which is not in the chain")
