"""Tampering with a ledger store's entries as someone with write access to its files would.

A DuckDB store keeps its entries as Parquet segments (store/ledger_store.py, layout
parquet-segments-v1): `edit_entries` reads every registered segment into one table named
``ledger_entries`` (so a statement's subqueries see all entries, as on a table), runs the
statement on it, writes each segment file back under its own name with what is left of
its rows, and re-opens the store's view. A store with an entries table (PostgreSQL, or
an earlier DuckDB layout) takes the statement as it is.
"""

from __future__ import annotations

import os

from socialrating.store.ledger_store import COLUMNS, LedgerStore


def edit_entries(store: LedgerStore, sql: str, params: list | None = None) -> None:
    """Run `sql` (UPDATE / DELETE on ledger_entries) on the stored entries, bypassing the API."""
    db = store._db
    if store._segments is None:
        db.execute(sql, params)  # straight into the database's table
        return
    files = [store._segments / name for _no, name, *_ in store._segment_files()]
    listed = ", ".join(f"'{f}'" for f in files)
    db.execute("DROP VIEW IF EXISTS ledger_entries")
    try:
        db.execute(f"CREATE TEMP TABLE ledger_entries AS SELECT * FROM read_parquet([{listed}], filename = true)")
        db.execute(sql, params)
        cols = ", ".join([*COLUMNS, "block_no", "row_tag"])
        for f in files:
            tmp = f.with_name(f".{f.name}.edit.tmp")
            db.execute(f"COPY (SELECT {cols} FROM ledger_entries WHERE filename = '{f}' ORDER BY entry_id) "
                       f"TO '{tmp}' (FORMAT PARQUET)")
            os.replace(tmp, f)
    finally:
        db.execute("DROP TABLE IF EXISTS ledger_entries")
        store._entries_view()
