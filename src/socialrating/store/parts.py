"""Re-scoring a partitioned run: only the parts of the shards a command concerns.

A sharded run keeps each table as parts, one per shard (store/runfolder.py): shard k's
citizens in ``citizens/part-k``, their events in ``events/part-k``, their ledger entries,
current ratings and consequences in the parts k of those tables. Households never cross
a shard, so a shard scores alone: a contest, a review or an ingest changes only the shards
of the citizens it concerns, and only their parts of the derived tables (``DERIVED``) are
re-scored and rewritten (staged in the command's transaction, swapped in with the rest).
The other parts stay byte for byte as they were.

Entry ids. An entry's id is its event's row number * 8 + the rule's slot; how a sharded
run numbers its event rows is the writer's business (one numbering over the whole run, or
one per generation block). A part is therefore scored with local row numbers and its ids
are mapped back: the rows of the part's events that give entries, in order, are the rows
the part's ledger already numbers, in order (the numbering only has to increase along the
part's rows); ingested records keep the rows they were given on arrival (``_g``). The
re-scored part must reproduce exactly the ledger ids it had (plus the new ingested ones),
or nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..engine.ledger import SLOT_BITS, build_ledger
from ..engine.score import score
from ..policy.model import Policy
from .contest import DERIVED, ContestError, with_ingested  # contest imports this module when it runs
from .runfolder import RunFolder, TableWriter, part_name

#: the tables a shard is re-scored from, and those it rewrites: one part each per shard
SHARDED = ("citizens", "events", *DERIVED)


class PartsError(ContestError):
    """A partitioned run whose parts cannot be re-scored shard by shard."""


def is_partitioned(folder: RunFolder) -> bool:
    """Whether the run keeps its tables as parts (a sharded run) rather than single files."""
    return len(folder.table_files("ledger")) > 1 or (folder.path / "ledger").is_dir()


def part_files(folder: RunFolder) -> dict[str, list[Path]]:
    """The parts of each table a re-score reads or writes; one count for all of them."""
    files = {t: folder.table_files(t) for t in SHARDED}
    counts = {t: len(f) for t, f in files.items()}
    if len(set(counts.values())) != 1 or not all(f[0].parent.name == t for t, f in files.items()):
        raise PartsError(f"{folder.path}: a sharded run needs {', '.join(SHARDED)} as parts of one count "
                         f"(found {', '.join(f'{t}: {n}' for t, n in counts.items())})")
    return files


def rows(path: Path) -> int:
    """Rows of one Parquet file, from its footer."""
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


@dataclass
class PartsResult:
    consequences: int = 0            # rows of current_consequences over all parts
    ledger: int = 0                  # rows of ledger over all parts
    rewritten: list[int] = field(default_factory=list)  # the parts re-scored
    fresh: list[pl.DataFrame] = field(default_factory=list)  # entries of newly ingested records


def concerned_parts(files: dict[str, list[Path]], citizens: np.ndarray | None) -> list[int]:
    """The parts holding any of `citizens` (None: every part)."""
    if citizens is None:
        return list(range(len(files["citizens"])))
    want = pl.Series(np.asarray(citizens, dtype=np.int64)).implode()
    return [k for k, p in enumerate(files["citizens"])
            if pl.scan_parquet(p).filter(pl.col("citizen_id").is_in(want)).select(pl.len()).collect().item()]


def rescore_parts(folder: RunFolder, txn, policy: Policy, as_of: dt.date, overrides: pl.DataFrame,
                  ing: pl.DataFrame, citizens: np.ndarray | None, new_from: int | None) -> PartsResult:
    """Re-score the parts holding `citizens` (None: all) into `txn`; count every part's rows.

    overrides: (entry_id, state) of every entry whose state differs from the engine's;
    ing: every accepted ingested record with its global event row `_g`; new_from: the
    first row of the records this command ingests (their entries are returned as `fresh`).
    """
    files = part_files(folder)
    out = PartsResult()
    todo = set(concerned_parts(files, citizens))
    for k in range(len(files["citizens"])):
        if k not in todo:
            out.consequences += rows(files["current_consequences"][k])
            out.ledger += rows(files["ledger"][k])
            continue
        res, fresh = _rescore_one(files, k, policy, as_of, overrides, ing, new_from)
        for t in DERIVED:
            w = TableWriter(txn.path(f"{t}/{part_name(k)}"))
            w.write(res[t])
            w.close()
        out.consequences += res["current_consequences"].height
        out.ledger += res["ledger"].height
        out.rewritten.append(k)
        if fresh is not None:
            out.fresh.append(fresh)
    return out


def _rescore_one(files: dict[str, list[Path]], k: int, policy: Policy, as_of: dt.date, overrides: pl.DataFrame,
                 ing: pl.DataFrame, new_from: int | None) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None]:
    """Part k's derived tables re-scored, with the run's entry ids; and its fresh entries."""
    people = pl.read_parquet(files["citizens"][k], columns=["citizen_id", "household_id"])
    ids = people["citizen_id"].to_numpy().astype(np.int64)
    base = pl.read_parquet(files["events"][k])
    events, grows = with_ingested(base, ing, ids)
    old_ids = pl.read_parquet(files["ledger"][k], columns=["entry_id"])["entry_id"].to_numpy()
    rowmap = _row_map(events, base.height, grows, old_ids, policy, as_of, ids)
    res = score(events, policy, as_of, ids, households=people["household_id"].to_numpy(),
                overrides=_to_local(overrides, rowmap), row_offset=0)
    local = res.ledger["entry_id"].to_numpy()
    glob = rowmap[local >> SLOT_BITS]
    if (glob < 0).any():
        raise ContestError(f"part {k}: re-scoring gave entries the run's ledger does not number; files left unchanged")
    ledger = res.ledger.with_columns(pl.Series("entry_id", (glob << SLOT_BITS) | (local & ((1 << SLOT_BITS) - 1)),
                                               dtype=pl.Int64))
    fresh = None
    keep = np.ones(len(local), dtype=bool)
    if new_from is not None:
        lrow = local >> SLOT_BITS
        is_new = lrow >= base.height
        is_new[is_new] = grows[lrow[is_new] - base.height] >= new_from
        fresh, keep = ledger.filter(pl.Series(is_new)), ~is_new
    if not np.array_equal(np.sort(ledger["entry_id"].to_numpy()[keep]), np.sort(old_ids)):
        raise ContestError(f"part {k}: re-scoring did not reproduce the run's ledger entries; files left unchanged")
    return {"ledger": ledger, "current_ratings": res.ratings, "current_consequences": res.consequences}, fresh


def _row_map(events: pl.DataFrame, n_base: int, grows: np.ndarray, old_ids: np.ndarray, policy: Policy,
             as_of: dt.date, ids: np.ndarray) -> np.ndarray:
    """Local event row -> the run's event row (-1: a row that gives no entry).

    The part's own rows that give entries, in order, are the rows its ledger numbers, in
    order, less the ingested records' rows (known: `grows`)."""
    led = build_ledger(events, policy, as_of, ids)
    local = np.unique(np.asarray(led.event_row, dtype=np.int64))
    local = local[local < n_base]
    known = np.unique(old_ids >> SLOT_BITS)
    known = known[~np.isin(known, grows)]
    if len(local) != len(known):
        raise ContestError(f"{len(local)} event rows give entries but the ledger part numbers {len(known)}: "
                           "the part's events and ledger do not belong together; files left unchanged")
    rowmap = np.full(events.height, -1, dtype=np.int64)
    rowmap[local] = known
    rowmap[n_base:] = grows
    return rowmap


def _to_local(overrides: pl.DataFrame, rowmap: np.ndarray) -> pl.DataFrame:
    """The overrides of entries on this part's rows, with the part's local ids."""
    valid = np.flatnonzero(rowmap >= 0)
    glob = rowmap[valid]
    order = np.argsort(glob, kind="stable")
    g_sorted, l_sorted = glob[order], valid[order]
    eid = overrides["entry_id"].to_numpy().astype(np.int64)
    row = eid >> SLOT_BITS
    pos = np.minimum(np.searchsorted(g_sorted, row), max(len(g_sorted) - 1, 0))
    hit = (g_sorted[pos] == row) if len(g_sorted) else np.zeros(len(row), dtype=bool)
    local = (l_sorted[pos[hit]] << SLOT_BITS) | (eid[hit] & ((1 << SLOT_BITS) - 1))
    return pl.DataFrame({"entry_id": local, "state": overrides["state"].filter(pl.Series(hit))},
                        schema=overrides.schema).sort("entry_id")
