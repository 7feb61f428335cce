"""Benchmark of identity linkage: python benchmarks/linkage_part.py [--people N] [--error-rate R].

Generates a population, one year of records of every source with the test fixture
generator (tests/linkage_fixture.py: ~2.6 records per person, ~0.8 per person keyed by
name + birth date, 6% with one error, 1% of people not in the register), links them all
with ``link_sources`` and prints the time of each stage, peak RSS, and precision /
recall overall and per match method. Target: linkage of 1M people's year (together
with generating the records) within 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--error-rate", type=float, default=0.06)
    ap.add_argument("--json", type=Path, default=None, help="write the linkage report here")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from linkage_fixture import make_records

    from socialrating.identity.linkage import linkage_report
    from socialrating.sources.link import link_sources
    from socialrating.identity.register import build_register
    from socialrating.population.generate import generate_population

    t0 = time.perf_counter()
    people = generate_population(args.people, args.seed)
    t1 = time.perf_counter()
    records, truth = make_records(people, seed=args.seed, error_rate=args.error_rate)
    t2 = time.perf_counter()
    register = build_register(people)
    t3 = time.perf_counter()
    results = link_sources(records, register)
    t4 = time.perf_counter()
    report = linkage_report(results, truth)
    t5 = time.perf_counter()

    n_rec = sum(df.height for df in records.values())
    n_names = sum(r.linked.filter(r.linked["match_method"] == "probabilistic").height for r in results.values())
    o = report["overall"]
    print(f"people {args.people:,}  records {n_rec:,}  linked by name {n_names:,}")
    print(f"population {t1 - t0:.1f}s  records {t2 - t1:.1f}s  register {t3 - t2:.1f}s  "
          f"linkage {t4 - t3:.1f}s  report {t5 - t4:.1f}s")
    print(f"linkage {n_rec / (t4 - t3):,.0f} records/s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"overall precision {o['precision']}  recall {o['recall']}  wrongly linked {o['wrongly_linked']:,}")
    for m, v in o["linked_by_method"].items():
        print(f"  {m:14s} linked {v['linked']:>9,}  precision {v['precision']}")
    print("quarantined:", json.dumps(o["quarantined_by_reason"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
