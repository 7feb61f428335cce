"""The shuffle between a national run's shard builds and their months, at 146M people's
proportions: python benchmarks/shuffle.py [--shards 1114] [--sample 12] [--foreign 0.0014]

Each shard's build sends its linked records to the shards of the citizens they were linked
to (simulate/shardworld.py). Nearly all go to its own shard; the linkage's own wrong links
send a few anywhere in the nation: 0.14% of records at 146M (`benchmarks/linkage_national.py`,
3,736 of 2.63M records wrongly linked against the 146M register, 2026-11-30). The baseline is
how the builds did it before: a filter of the build's records per shard and a file for every
shard that gets any (about 970 files a build here, 1.1M in all). Now: one file of its own
citizens' records, one of the others', and `shardworld.deliver` passes the others on in one
pass (one file an inbox). Each side is timed on `--sample` builds of 1.6M records (131,072
people x 12.3 records, as in the 50M run) and the receiving shards' reads, then scaled to
`--shards` builds: the figure printed for the whole run is that scaling, labelled so.
The records are random but shaped like the run's (a record id, a citizen, dates, an amount,
a source); the two sides get the same records and must deliver the same rows to each shard.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

RECORDS_PER_BUILD = 1_600_000


def frame(n: int, shard: int, rng: np.random.Generator) -> pl.DataFrame:
    """`n` linked records of build `shard`, shaped like the run's (in arrival order)."""
    return pl.DataFrame({
        "record_id": pl.Series(rng.integers(10**11, 10**12, n)).cast(pl.String),
        "citizen_id": rng.integers(0, 146_000_000, n),
        "occurred_on": pl.Series(rng.integers(19_000, 20_000, n).astype(np.int32)).cast(pl.Date),
        "reported_on": pl.Series(rng.integers(19_000, 20_000, n).astype(np.int32)).cast(pl.Date),
        "amount": rng.random(n) * 1e4,
        "source": pl.Series(rng.integers(0, 14, n)).cast(pl.String),
        "_o": pl.Series(np.full(n, shard, np.int32)),
        "_r": pl.Series(np.arange(n, dtype=np.int64)),
    })


def records(shard: int, shards: int, foreign: float, rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    """A build's linked records and the shard of each one's citizen."""
    n = RECORDS_PER_BUILD
    owner = np.full(n, shard, dtype=np.int64)
    away = np.flatnonzero(rng.random(n) < foreign)
    owner[away] = rng.integers(0, shards, away.size)
    return frame(n, shard, rng), owner


def before(work: Path, shard: int, shards: int, seen: pl.DataFrame, owner: np.ndarray) -> int:
    """The baseline: a filter per shard and a file for each that gets a record."""
    files = 0
    for j in range(shards):
        mine = seen.filter(pl.Series(owner == j))
        if mine.height or j == shard:
            (work / "to" / f"{j:05d}").mkdir(parents=True, exist_ok=True)
            mine.write_parquet(work / "to" / f"{j:05d}" / f"{shard:05d}.parquet")
            files += 1
    return files


def after(work: Path, shard: int, seen: pl.DataFrame, owner: np.ndarray) -> int:
    """As ShardWorld.build writes now: its own citizens' records, and the others' in one file."""
    here = owner == shard
    (work / "to" / f"{shard:05d}").mkdir(parents=True, exist_ok=True)
    seen.filter(pl.Series(here)).write_parquet(work / "to" / f"{shard:05d}" / f"{shard:05d}.parquet")
    (work / "foreign").mkdir(parents=True, exist_ok=True)
    seen.filter(pl.Series(~here)).with_columns(_to=pl.Series(owner[~here].astype(np.int32))).write_parquet(
        work / "foreign" / f"{shard:05d}.parquet")
    return 2


def read_inbox(work: Path, shard: int) -> pl.DataFrame:
    inbox = work / "to" / f"{shard:05d}"
    got = pl.concat([pl.read_parquet(p) for p in sorted(inbox.glob("*.parquet"))], how="vertical")
    return got.sort("_o", "_r")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", type=int, default=1114, help="shards of the run (146M / 131,072, rounded up)")
    ap.add_argument("--sample", type=int, default=12, help="builds timed on each side, then scaled")
    ap.add_argument("--foreign", type=float, default=0.0014, help="share of records linked to another shard")
    args = ap.parse_args()
    from socialrating.simulate.shardworld import deliver
    from socialrating.store.runfolder import RunFolder

    K, S = args.shards, args.sample
    sample = [int(i) for i in np.linspace(0, K - 1, S)]
    root = Path(tempfile.mkdtemp(prefix="shuffle-bench-"))
    try:
        old, new = root / "old" / "_work", root / "new" / "_work"
        t_old = t_new = 0.0
        files_old = 0
        builds = {}
        for i in sample:
            seen, owner = records(i, K, args.foreign, np.random.default_rng(i))
            builds[i] = int((owner != i).sum())
            t = time.perf_counter()
            files_old += before(old, i, K, seen, owner)
            t_old += time.perf_counter() - t
            t = time.perf_counter()
            after(new, i, seen, owner)
            t_new += time.perf_counter() - t
        # the other builds' records for other shards (not timed: their builds would write them),
        # so that deliver does the whole run's work and the sampled shards' inboxes hold what
        # they would: on the old side a file from every build that sent one a record
        rng = np.random.default_rng(10**6)
        per_build = int(np.mean(list(builds.values())))
        for i in sorted(set(range(K)) - set(sample)):
            f = frame(per_build, i, rng).with_columns(_to=pl.Series(rng.integers(0, K, per_build).astype(np.int32)))
            f.write_parquet(new / "foreign" / f"{i:05d}.parquet")
            for j, part in f.filter(pl.col("_to").is_in(sample)).partition_by("_to", as_dict=True,
                                                                              include_key=False).items():
                part.write_parquet(old / "to" / f"{int(j[0]):05d}" / f"{i:05d}.parquet")
        t = time.perf_counter()
        delivered = deliver(RunFolder(root / "new"), K)
        t_deliver = time.perf_counter() - t
        # the receiving side: the sampled shards read their inboxes (the same rows from the
        # sampled builds on both sides: checked)
        r_old = r_new = 0.0
        for i in sample:
            t = time.perf_counter()
            a = read_inbox(old, i)
            r_old += time.perf_counter() - t
            t = time.perf_counter()
            b = read_inbox(new, i)
            r_new += time.perf_counter() - t
            assert a.equals(b.select(a.columns)), f"shard {i}: the two sides delivered different rows"
        scale = K / S
        whole_old = (t_old + r_old) * scale
        whole_new = (t_new + r_new) * scale + t_deliver
        print(f"{K:,} shards, {RECORDS_PER_BUILD:,} records a build, {args.foreign:.2%} linked to another shard "
              f"(about {per_build:,} a build); {S} builds timed on each side")
        print(f"files a build: before {files_old / S:,.0f}, now 2 (and {K:,} inboxes written once by deliver)")
        print(f"a build's shuffle: before {t_old / S * 1e3:,.0f} ms, now {t_new / S * 1e3:,.0f} ms; "
              f"a shard's read: before {r_old / S * 1e3:,.0f} ms, now {r_new / S * 1e3:,.0f} ms")
        print(f"deliver, once for the run: {t_deliver:.1f} s for {delivered:,} records")
        print(f"SCALED to the whole run (not measured whole): before {whole_old / 60:.1f} min, now "
              f"{whole_new / 60:.1f} min: x{whole_old / whole_new:.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
