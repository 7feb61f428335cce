"""Linkage of a 1M-people sample against registers of 1M, 10M (and 146M) people.

    python benchmarks/linkage_national.py [--sample 1000000] [--registers 1000000 10000000 146000000]
                                          [--whole-up-to 10000000] [--seed 1] [--shard-size 1000000]

Linkage errors measured on 1M people understate the nation's: namesakes (same full name
and birth date) grow with the register, and the prior of a name match is 1 / (register
size). For each register size N this generates the population of N people part by part
(``iter_population_shards``), keeps its first ``--sample`` people, makes one year of their
records with the test fixture generator (tests/linkage_fixture.py: ~2.6 records a person,
6% with one error, 1% of people not in the register), builds the national register index
from the parts (``identity.register_index``) and links the sample's records against it.
The rest of the population only enlarges the register, as in life.

Printed per N: index build time (population generation apart), bytes per person, link
time, peak resident memory of each phase (sampled every 20 ms, in a fresh process per N),
precision and recall overall and of the name step (``linkage_report``), and the ratios to
the smallest N. Up to ``--whole-up-to`` people the same records are also linked against
the whole register frame (``build_register``, the path used by runs today): its time and
peak memory are the baseline, and its results must be identical (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Peak resident memory of this process between ``reset`` and ``peak`` (sampled)."""

    def __init__(self, every: float = 0.02):
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._max = 0
        self._stop = False
        threading.Thread(target=self._run, args=(every,), daemon=True).start()

    def _now(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self, every: float) -> None:
        while not self._stop:
            self._max = max(self._max, self._now())
            time.sleep(every)

    def reset(self) -> None:
        self._max = self._now()

    def peak(self) -> int:
        self._max = max(self._max, self._now())
        return self._max


def _summary(report: dict) -> dict:
    o = report["overall"]
    name = o["linked_by_method"].get("probabilistic", {})
    return {"precision": o["precision"], "recall": o["recall"], "wrongly_linked": o["wrongly_linked"],
            "linked": o["linked"], "records": o["records"], "name_linked": name.get("linked", 0),
            "name_precision": name.get("precision"), "quarantined_by_reason": o["quarantined_by_reason"],
            "wrong_by_method": {m: v["linked"] - v["correct"] for m, v in o["linked_by_method"].items()}}


def one(n: int, sample: int, seed: int, shard_size: int, whole: bool, spill_dir: str | None = None) -> dict:
    """Everything measured for one register size, in this (fresh) process."""
    sys.path.insert(0, str(ROOT / "tests"))
    import polars as pl
    from linkage_fixture import make_records

    from socialrating.identity.linkage import linkage_report
    from socialrating.identity.register import build_register
    from socialrating.identity.register_index import RegisterIndexBuilder
    from socialrating.population.generate import iter_population_shards
    from socialrating.sources.link import link_sources

    import splink  # noqa: F401  (imported before any timing: both paths use it)

    rss = PeakRSS()
    out: dict = {"people": n, "sample": min(sample, n)}
    builder = RegisterIndexBuilder(spill_dir=spill_dir)
    head: list[pl.DataFrame] = []
    kept = 0
    t_gen = t_add = 0.0
    shards = iter_population_shards(n, seed, shard_size=shard_size)
    while True:
        t0 = time.perf_counter()
        part = next(shards, None)
        t1 = time.perf_counter()
        t_gen += t1 - t0
        if part is None:
            break
        if kept < sample:
            head.append(part.head(sample - kept))
            kept += head[-1].height
        builder.add(part)
        t_add += time.perf_counter() - t1
        del part
    t0 = time.perf_counter()
    index = builder.finish()
    t_add += time.perf_counter() - t0
    out.update(generate_s=round(t_gen, 1), index_build_s=round(t_add, 1), index_bytes=index.nbytes(),
               bytes_per_person=round(index.bytes_per_person(), 1), index_phase_peak_mb=rss.peak() // 2**20)
    people = pl.concat(head)
    records, truth = make_records(people, seed=seed)
    out["records_total"] = sum(df.height for df in records.values())
    rss.reset()
    t0 = time.perf_counter()
    res = link_sources(records, index)
    out.update(link_s=round(time.perf_counter() - t0, 1), link_phase_peak_mb=rss.peak() // 2**20,
               **_summary(linkage_report(res, truth)),
               candidate_pairs=sum(r.stats["candidate_pairs"] for r in res.values()))
    if whole:
        del index, builder
        from socialrating.population.generate import generate_population

        rss.reset()
        t0 = time.perf_counter()
        register = build_register(generate_population(n, seed))
        t1 = time.perf_counter()
        base = link_sources(records, register)
        out.update(whole_register_s=round(t1 - t0, 1), whole_link_s=round(time.perf_counter() - t1, 1),
                   whole_peak_mb=rss.peak() // 2**20)
        out["whole_identical"] = all(base[s].linked.equals(res[s].linked) and base[s].quarantine.equals(res[s].quarantine)
                                     and base[s].stats == res[s].stats for s in res)
    return out


def _print(r: dict, first: dict) -> None:
    """One register size's figures, with ratios to the first (smallest) size."""
    print(f"\nregister of {r['people']:,} people (sample {r['sample']:,}, {r['records_total']:,} records)")
    print(f"  index: build {r['index_build_s']} s (+ population generation {r['generate_s']} s), "
          f"{r['bytes_per_person']} bytes/person ({ {k: round(v / 2**20) for k, v in r['index_bytes'].items()} } MB), "
          f"peak RSS {r['index_phase_peak_mb']:,} MB")
    print(f"  link:  {r['link_s']} s ({r['records_total'] / max(r['link_s'], 1e-9):,.0f} records/s), "
          f"peak RSS {r['link_phase_peak_mb']:,} MB, candidate pairs {r['candidate_pairs']:,}")
    print(f"  precision {r['precision']}  recall {r['recall']}  wrongly linked {r['wrongly_linked']:,}  "
          f"name step: linked {r['name_linked']:,} precision {r['name_precision']}")
    print(f"  quarantined: {json.dumps(r['quarantined_by_reason'])}")
    if "wrong_by_method" in r:
        print(f"  wrongly linked by method: {json.dumps(r['wrong_by_method'])}")
    if r is not first:
        print(f"  vs {first['people']:,}: recall x{r['recall'] / first['recall']:.4f}, "
              f"precision x{r['precision'] / first['precision']:.5f}, wrongly linked "
              f"x{r['wrongly_linked'] / max(first['wrongly_linked'], 1):.2f}, "
              f"name-linked x{r['name_linked'] / max(first['name_linked'], 1):.3f}, "
              f"link time x{r['link_s'] / max(first['link_s'], 1e-9):.2f}, "
              f"bytes/person x{r['bytes_per_person'] / first['bytes_per_person']:.2f}")
    if "whole_link_s" in r:
        print(f"  whole register (today's path): register {r['whole_register_s']} s + link {r['whole_link_s']} s, "
              f"peak RSS {r['whole_peak_mb']:,} MB; results identical: {r['whole_identical']}; index link time "
              f"x{r['link_s'] / max(r['whole_link_s'], 1e-9):.2f} of the whole register's, "
              f"peak x{r['link_phase_peak_mb'] / max(r['whole_peak_mb'], 1):.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=1_000_000)
    ap.add_argument("--registers", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--whole-up-to", type=int, default=10_000_000,
                    help="also link against the whole register frame up to this size (baseline)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shard-size", type=int, default=1_000_000)
    ap.add_argument("--spill-dir", default=None, help="keep the index's parts in files here while building")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.one, args.sample, args.seed, args.shard_size, args.one <= args.whole_up_to,
                             args.spill_dir)))
        return 0
    rows = []
    for n in args.registers:
        cmd = [sys.executable, __file__, "--one", str(n), "--sample", str(args.sample), "--seed", str(args.seed),
               "--shard-size", str(args.shard_size), "--whole-up-to", str(args.whole_up_to)]
        cmd += ["--spill-dir", args.spill_dir] if args.spill_dir else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"register of {n:,} people failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        _print(rows[-1], rows[0])
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
