"""`partition_run(src, dst, k)`: a finished run folder copied as the folder a run of k shards
writes, so every command can be tested on both layouts of the very same run.

The citizens (in their order) are cut into k contiguous ranges at household boundaries
(a sharded run never splits a household: household consequences then stay within a
shard); every per-citizen table is split by those ranges, rows keeping their order within
each part, as ``<table>/part-00000.parquet``... (store/runfolder.py). Rows whose citizen is
unknown (a quarantined record, a record with no true person) go with part 0. The manifest
is sealed again over the new files with the operator key in $SOCIALRATING_KEY_DIR, the
key that sealed the run (the tests' session key, tests/conftest.py; or the golden's fixed
test key, scripts/golden.py), so `verify` accepts the copy as it did the run. Entry ids,
the ledger store and every other file are unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl

from socialrating.store.runfolder import RunFolder, TableWriter
from socialrating.store.seal import write_sealed

#: per-citizen tables and the column naming the citizen
CITIZEN_COLUMN = {"citizens": "citizen_id", "ratings": "citizen_id", "consequences": "citizen_id",
                  "wrongful": "citizen_id", "events": "citizen_id", "ledger": "citizen_id",
                  "quarantine": "citizen_id", "current_ratings": "citizen_id",
                  "current_consequences": "citizen_id", "truth": "true_citizen_id"}


def household_cuts(households: np.ndarray, k: int) -> list[int]:
    """k + 1 row numbers cutting the citizens into k non-empty ranges at household changes."""
    n = len(households)
    change = np.flatnonzero(np.diff(households) != 0) + 1
    cuts = [0]
    for i in range(1, k):
        j = np.searchsorted(change, i * n // k)
        if j >= len(change) or change[j] <= cuts[-1]:
            raise ValueError(f"cannot cut {n} citizens into {k} parts at household boundaries")
        cuts.append(int(change[j]))
    return cuts + [n]


def partition_run(src: str | Path, dst: str | Path, k: int) -> list[tuple[int, int]]:
    """Copy run folder `src` to `dst` with its per-citizen tables as k parts; re-seal it.
    Returns each part's (first, last + 1) citizen row."""
    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock", ".txn"))
    folder = RunFolder(dst)
    citizens = pl.read_parquet(dst / "citizens.parquet", columns=["citizen_id", "household_id"])
    cuts = household_cuts(citizens["household_id"].to_numpy(), k)
    ids = citizens["citizen_id"].to_numpy()
    part_of = pl.DataFrame({"_cid": ids, "_part": np.searchsorted(cuts, np.arange(len(ids)), side="right") - 1},
                           schema={"_cid": pl.Int64, "_part": pl.Int32})
    for table, col in CITIZEN_COLUMN.items():
        single = dst / f"{table}.parquet"
        if not single.exists():
            continue
        frame = pl.read_parquet(single)
        which = (frame.select(pl.col(col).cast(pl.Int64).alias("_cid"))
                 .join(part_of, on="_cid", how="left", maintain_order="left")["_part"].fill_null(0).to_numpy())
        for p in range(k):
            w = TableWriter(folder.part_path(table, p))
            w.write(frame.filter(pl.Series(which == p)))
            w.close()
        single.unlink()
    manifest = json.loads((dst / "manifest.json").read_text())
    write_sealed({key: v for key, v in manifest.items() if key not in ("files", "head")}, dst)
    return list(zip(cuts[:-1], cuts[1:]))

