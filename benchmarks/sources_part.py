"""Benchmark of the source stage: python benchmarks/sources_part.py [--people N] [--years Y].

Generates the population (not timed), then one run of ``generate_records`` with the
calibrated error model; prints the time against the target (1M people-year well under
30 s), records per source per 1M people-year, the error kinds, and peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

TARGET_SECONDS_PER_1M_YEAR = 30.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-errors", action="store_true")
    args = ap.parse_args(argv)

    import polars as pl

    from socialrating.population.generate import generate_population
    from socialrating.sources.errors import ErrorModel
    from socialrating.sources.synthetic import generate_records

    people = generate_population(args.people, args.seed)
    generate_records(people.head(2_000), dt.date(2025, 1, 1), 1.0, 0)  # warm up
    em = ErrorModel.none() if args.no_errors else None
    t0 = time.perf_counter()
    batch = generate_records(people, dt.date(2025, 1, 1), args.years, args.seed, error_model=em)
    elapsed = time.perf_counter() - t0
    scale = 1e6 / (args.people * args.years)
    total = batch.truth.height
    print(f"people x years         {args.people:,} x {args.years}")
    print(f"elapsed                {elapsed:.2f} s   ({total:,} records, {total / elapsed:,.0f}/s)")
    target = TARGET_SECONDS_PER_1M_YEAR * args.people * args.years / 1e6
    print(f"time / target          {elapsed / target:.2f}  (target {target:.1f} s)")
    print("records per 1M people-year:")
    for name, frame in batch.records.items():
        print(f"  {name:16s} {frame.height * scale:12,.0f}")
    print("error kinds:")
    for kind, n in batch.truth.group_by("error_kind").len().sort("len", descending=True).iter_rows():
        print(f"  {kind:20s} {n:10,d}  {n / total:.4%}")
    print(f"peak RSS               {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(f"polars {pl.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
