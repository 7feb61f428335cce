"""A national run's costs MEASURED on a sample of its shards: python benchmarks/national_sample.py
[--people 146000000] [--shards 1114] [--sample 16]

Why: a whole 146M run takes longer than this machine's working session, so the figures that
depend on the nation's size (the register's memory, the linkage's cost and quality against
everybody) were extrapolated from runs of 10M and 50M. This benchmark measures them at the nation's size
without running every shard:

1. the whole population (every citizen, every shard's `citizens` part), as `run` writes it;
2. the national register index over all of them (built by the first shard to link, as in
   a run): its build time and the memory it holds while the shards link;
3. `--sample` shards spread evenly over the nation, each exactly as a run does it
   (shardworld.ShardWorld: build = records, linkage against the whole nation's register,
   truth, shuffle; run = every month of the 4 scenarios; finish = final recompute, parts),
   two at a time on this process's pool, their ledgers appended to the hash-chained store.

What it is not: the other shards are not built, so records they would have linked to the
sampled shards' citizens (a wrong link sends a record anywhere in the nation: about 0.05%
of records) are missing from the sample, and the records the sample links to other shards'
citizens are delivered to inboxes nobody reads. The linkage report is the sample's records'
(every one of them against its truth, linked against the whole nation).

Printed: each phase's wall and CPU time, peak memory and bytes written (measured), the
per-shard means, the sample's linkage precision and recall; then, labelled EXTRAPOLATION,
a whole run's time and disk: the measured population and register plus the sampled shards'
mean cost times the number of shards.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from national import (BUILDS, FINISH, LINKAGE, MONTHS, RECORDS, REGISTER, SCORE, STEPPING, TARGET_DISK,  # noqa: E402
                      TARGET_MEMORY, TARGET_PEOPLE, TARGET_SECONDS, Stages, Within, folder_bytes, instrument)

STORE = "store: the sampled shards' ledgers appended, the appeals, closed"


def chosen_shards(total: int, sample: int) -> list[int]:
    """`sample` shard numbers spread evenly over 0..total-1 (the first and the last among them)."""
    if sample >= total:
        return list(range(total))
    if sample == 1:
        return [0]
    return sorted({round(i * (total - 1) / (sample - 1)) for i in range(sample)})


def run_sample(people: int, shards: int, sample: int, out: Path, years: float = 1.0,
               block_size: int | None = None):
    """The population and register of `people`, and `sample` of its `shards` run as a run
    runs them. Returns (stages, within, the engine's step seconds, a summary dict)."""
    import numpy as np

    from socialrating.engine.allocator import keep_freed_memory
    from socialrating.policy.load import parse_policy, read_policy_text
    from socialrating.simulate import shardworld as sh
    from socialrating.simulate import synthetic_world as sw
    from socialrating.simulate.executors import InProcess
    from socialrating.simulate.runner import Calendar
    from socialrating.simulate.simulation import SimConfig, history_years
    from socialrating.simulate.synthetic_world import block_size_of
    from socialrating.store.runfolder import RunFolder

    keep_freed_memory()  # as the command line does
    cfg = SimConfig(people=people, years=years, world="synthetic", store=True, block_size=block_size)
    text, origin = read_policy_text(cfg.policy)
    policy = parse_policy(text, origin)
    hist = history_years(policy, cfg.history_years)
    out.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(out)
    stages, within, step_seconds = Stages(out), Within(), []
    restore = instrument(stages, within, step_seconds)  # restores national_register too, wrapped below
    register_calls: list[tuple[float, float]] = []  # (wall, CPU) of each shard's call: the first builds it
    timed = sw.national_register

    def national_register(*a, **k):
        t, c = time.perf_counter(), time.process_time()
        try:
            return timed(*a, **k)
        finally:  # the others wait on its lock meanwhile: the process's CPU is the build's
            register_calls.append((time.perf_counter() - t, time.process_time() - c))

    sw.national_register = national_register
    try:
        bs = block_size_of(cfg.block_size)
        blocks = sh.plan(people, bs, shards)
        K = len(blocks)
        uppers = sh.write_citizens(cfg, folder, blocks, bs)  # instrumented: marks the population
        uppers[-1] = int(np.iinfo(np.int64).max)
        picked = chosen_shards(K, sample)
        jobs = [sh.ShardJob(i, K, blocks[i], str(out), tuple(uppers)) for i in picked]
        executor = InProcess()
        workers = [executor.spawn(sh.ShardWorld, cfg, policy, hist, job) for job in jobs]
        writer = sh.StoreWriter(folder, cfg.db)
        try:
            built, finished = sh._side_by_side(workers, None, writer.add, None, lambda: sh.deliver(folder, K))
        except BaseException:
            writer.abort()
            raise
        stages.mark(MONTHS)
        calendar = Calendar(cfg.start, cfg.months, cfg.seed, bs)
        writer.close(finished, calendar, policy.contest.review_deadline_days)
        stages.mark(STORE)
    finally:
        restore()
        stages.stop()
    shutil.rmtree(out / sh.WORK, ignore_errors=True)  # the inboxes of shards not in the sample
    linkage = sh.merge_linkage([b["linkage"] for b in built])
    sampled_people = sum(f["tallies"]["people"] for f in finished)
    return stages, within, step_seconds, {"register": max(register_calls), "shards": K, "picked": picked, "linkage": linkage,
                                          "sampled_people": sampled_people, "months": cfg.months,
                                          "events": sum(f["tallies"]["events"] for f in finished)}


def report(stages: Stages, within: Within, step_seconds: list[float], s: dict, people: int) -> None:
    K, n = s["shards"], len(s["picked"])
    sp = s["sampled_people"]
    print(f"people {people:,} (the population and the national register: all of them); shards {K:,}; "
          f"sampled {n} shards ({sp:,} people, {sp / people:.2%}): {s['picked']}")
    print(f"{'phase (MEASURED)':66s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS':>9s} {'written':>9s}")
    rows = {}
    for (name, sec, pk, by), c in zip(stages.rows, stages.cpu):
        rows[name] = (sec, c, pk, by)
        print(f"{name[:66]:66s} {sec:8.1f} {c:8.1f} {pk / 1e9:7.2f}GB {by / 1e6:7.0f}MB")
    peak = max(r[2] for r in stages.rows)
    print(f"peak memory of the process: {peak / 1e9:.2f} GB sampled, "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9:.2f} GB ru_maxrss "
          f"(target {TARGET_MEMORY / 1e9:.0f} GB)")
    w = within.seconds
    print(f"inside the sampled shards (wall seconds on the shards' threads, summed over {n} shards):")
    build_rest = w.get("_build", 0.0) - w.get(REGISTER, 0.0) - w.get(RECORDS, 0.0) - w.get(LINKAGE, 0.0)
    for name, sec in [("national register index (its build, and the other shard's wait for it)", w.get(REGISTER, 0.0)), (RECORDS, w.get(RECORDS, 0.0)), (LINKAGE, w.get(LINKAGE, 0.0)),
                      ("assembly (truth, twin, linkage report, shuffle)", build_rest), (STEPPING, w.get(STEPPING, 0.0)),
                      (SCORE, w.get(SCORE, 0.0)), (FINISH, w.get("_finish", 0.0) - w.get(SCORE, 0.0))]:
        print(f"  {name[:70]:70s} {sec:8.1f}")
    lk = s["linkage"]
    print(f"linkage of the sample's records against the whole nation's register: {lk['records_in']:,} in = "
          f"{lk['records_linked']:,} linked + {lk['records_quarantined']:,} quarantined; "
          f"precision {lk['overall']['precision']}, recall {lk['overall']['recall']}, wrongly linked "
          f"{lk['overall']['wrongly_linked']:,} (of records no agency got wrong: "
          f"{lk['by_error_kind'].get('none', {}).get('linked_wrong', 0):,})")
    print(f"events {s['events']:,} ({s['events'] / sp:.1f} a person); monthly engine steps "
          f"{sum(step_seconds) / (sp * s['months'] * 4) * 1e6:.3f} us per citizen-month-scenario")

    pop = rows[next(k for k in rows if k.startswith("population"))]
    reg_wall, reg_cpu = s["register"]
    print(f"national register index: built in {reg_wall:.0f} s ({reg_cpu:.0f} s of CPU) by the first shard "
          f"to link, the others waiting for it")
    # the shards' own work: the phases less the register's build (nothing else ran meanwhile)
    shards_wall = rows[BUILDS][0] - reg_wall + rows[MONTHS][0] + rows[STORE][0]
    shards_cpu = rows[BUILDS][1] - reg_cpu + rows[MONTHS][1] + rows[STORE][1]
    shards_bytes = rows[BUILDS][3] + rows[MONTHS][3] + rows[STORE][3]
    print(f"a sampled shard on average: {shards_wall / n:.1f} s of wall (two at a time), {shards_cpu / n:.1f} s of "
          f"CPU, {shards_bytes / n / 1e6:.0f} MB written; {shards_wall / sp * 1e6:.1f} us of wall a person")
    total_wall = pop[0] + reg_wall + shards_wall / n * K
    total_cpu = pop[1] + reg_cpu + shards_cpu / n * K
    total_disk = pop[3] + shards_bytes / n * K
    print(f"\nEXTRAPOLATION (not a measurement): all {K:,} shards at the sample's mean cost, with the measured "
          f"population and register index:")
    print(f"  wall time {total_wall / 60:8.0f} min   target {TARGET_SECONDS / 60:.0f} min: "
          f"{total_wall / TARGET_SECONDS:.1f}x  ({total_cpu / 3600:.1f} h of CPU)")
    print(f"  disk      {total_disk / 1e9:8.0f} GB    target {TARGET_DISK / 1e9:.0f} GB:  "
          f"{total_disk / TARGET_DISK:.1f}x  (citizens {pop[3] / 1e9:.1f} GB measured)")
    if people != TARGET_PEOPLE:
        print(f"  (for {people:,} people, not the {TARGET_PEOPLE:,} of the target)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=TARGET_PEOPLE)
    ap.add_argument("--shards", type=int, default=1114, help="the run's shards (default: 146M in blocks of 131,072)")
    ap.add_argument("--sample", type=int, default=16, help="shards run, spread evenly over the nation")
    ap.add_argument("--threads", type=int, default=None, help="the pool's threads (default: the CPUs available)")
    ap.add_argument("--out", default=None, help="run folder (default: a new temporary folder; needs about "
                                                 "26 B a person for the citizens)")
    args = ap.parse_args()
    if args.sample < 1:
        raise SystemExit("--sample: expected 1 or more")
    out = Path(args.out or tempfile.mkdtemp(prefix="national-sample-"))
    from socialrating import parallel

    t = time.perf_counter()
    with parallel.threads(args.threads):
        stages, within, steps, summary = run_sample(args.people, args.shards, args.sample, out)
    report(stages, within, steps, summary, args.people)
    print(f"run folder: {out} ({folder_bytes(out) / 1e9:.2f} GB); {time.perf_counter() - t:.0f} s in all")


if __name__ == "__main__":
    main()
