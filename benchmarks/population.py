"""Benchmark of the population stage: python benchmarks/population.py [--people N] [--stream].

Prints people/s, bytes per person of the core columns (everything but names and
identifiers) and of all columns, peak RSS, and the ratio to the targets
(10M people in <= 30 s; <= 80 bytes per person for the core columns).
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
