"""Benchmark of Synthetic Russia: python benchmarks/population.py [--people N] [--stream] [--records-people N].

(a) Generate N people (default 10M) with identifiers: prints people/s, bytes per person
of the core columns (everything but names and identifiers) and of all columns, peak RSS,
and the ratio to the targets (10M people in <= 30 s; <= 80 bytes per person).
(b) One year of agency records for --records-people people (default 1M), linked to the
register: prints records/s, linkage precision and recall against the truth, peak RSS and
the ratio to the target (<= 60 s for records + linkage).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

TARGET_SECONDS_PER_10M = 30.0
TARGET_CORE_BYTES = 80.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shard-size", type=int, default=1_000_000)
    ap.add_argument("--stream", action="store_true", help="iterate shards without keeping the whole frame")
    ap.add_argument("--records-people", type=int, default=1_000_000, help="people for part (b); 0 skips it")
    args = ap.parse_args(argv)

    import polars as pl

    from socialrating.population.generate import CORE_COLUMNS, generate_population, iter_population_shards

    generate_population(1_000, 0)  # warm up (calibration load, imports)
    n = args.people
    t0 = time.perf_counter()
    core_bytes = all_bytes = 0
    if args.stream:
        for shard in iter_population_shards(n, args.seed, shard_size=args.shard_size):
            core_bytes += shard.select(CORE_COLUMNS).estimated_size()
            all_bytes += shard.estimated_size()
    else:
        frame = generate_population(n, args.seed, shard_size=args.shard_size)
        core_bytes = frame.select(CORE_COLUMNS).estimated_size()
        all_bytes = frame.estimated_size()
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rate = n / elapsed if elapsed > 0 else float("inf")
    core_pp = core_bytes / max(n, 1)
    all_pp = all_bytes / max(n, 1)
    target_s = TARGET_SECONDS_PER_10M * n / 10_000_000
    print(f"people                 {n:,}{' (streamed)' if args.stream else ''}")
    print(f"elapsed                {elapsed:.2f} s")
    print(f"people/s               {rate:,.0f}")
    print(f"core bytes/person      {core_pp:.1f}  ({len(CORE_COLUMNS)} columns)")
    print(f"all bytes/person       {all_pp:.1f}  (incl. identifiers and name codes)")
    print(f"peak RSS               {peak_mb:,.0f} MiB")
    print(f"time / target          {elapsed / target_s:.2f}  (target {target_s:.1f} s)")
    print(f"core bytes / target    {core_pp / TARGET_CORE_BYTES:.2f}  (target {TARGET_CORE_BYTES:.0f} B)")
    print(f"polars {pl.__version__}")
    if args.stream or "frame" not in locals():
        pass
    else:
        del frame
    if args.records_people:
        part_b(args.records_people, args.seed)
    return 0


TARGET_RECORDS_SECONDS = 60.0


def part_b(n: int, seed: int) -> None:
    import datetime as dt

    from socialrating.identity.linkage import linkage_report
    from socialrating.sources.link import link_sources
    from socialrating.identity.register import build_register
    from socialrating.population.generate import generate_population
    from socialrating.sources.synthetic import generate_records

    people = generate_population(n, seed)
    t0 = time.perf_counter()
    batch = generate_records(people, dt.date(2024, 1, 1), 1.0, seed + 1)
    t1 = time.perf_counter()
    results = link_sources(batch.records, build_register(people))
    t2 = time.perf_counter()
    rep = linkage_report(results, batch.truth)
    records = sum(len(r) for r in batch.records.values())
    linked = sum(r.linked.height for r in results.values())
    quarantined = sum(r.quarantine.height for r in results.values())
    tot = rep.get("overall") or rep.get("totals") or {}
    elapsed = t2 - t0
    print()
    print(f"(b) people             {n:,}, one year of records")
    print(f"records                {records:,} ({linked:,} linked + {quarantined:,} quarantined)")
    print(f"generate               {t1 - t0:.2f} s  ({records / (t1 - t0):,.0f} records/s)")
    print(f"link                   {t2 - t1:.2f} s  ({records / (t2 - t1):,.0f} records/s)")
    print(f"linkage precision      {tot.get('precision')}")
    print(f"linkage recall         {tot.get('recall')}")
    print(f"peak RSS               {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(f"time / target          {elapsed / TARGET_RECORDS_SECONDS:.2f}  (target {TARGET_RECORDS_SECONDS:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
