"""Each entry's contest history, read from the ledger store for `explain`.

The store's change log is the record of who contested an entry, when and why, and what
the reviewer decided; `explain` shows it next to the entry so a citizen never has to
read the hash chain to follow their own contest.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .ledger_store import LedgerStore

__all__ = ["contest_history"]

_FIELDS = ("change_id", "new_state", "actor", "reason", "at")


def contest_history(run_dir: str | Path, entry_ids: list[int], db: str | None = None
                    ) -> tuple[dict[str, list[dict]], str | None]:
    """{entry_id (as text): [change, ...] oldest first}, and a note when the store cannot be read.

    A run made with `--no-store` has no change log: the history is empty and the note says so.
    """
    path = Path(run_dir) / "ledger.duckdb"
    if db is None and not path.exists():
        return {}, "no ledger store in this run folder: contest history not available"
    try:
        with LedgerStore.open(db or path) as store:
            changes = store.changes()
    except Exception as exc:  # a locked or unreachable store must not hide the record itself
        return {}, f"contest history not available: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    mine = changes.filter(pl.col("entry_id").is_in(list(entry_ids))).sort("change_id")
    out: dict[str, list[dict]] = {}
    for row in mine.select("entry_id", *_FIELDS).iter_rows(named=True):  # one citizen's changes: a few rows
        out.setdefault(str(row.pop("entry_id")), []).append(
            {**row, "at": row["at"].isoformat() if row["at"] else None})
    return out, None
