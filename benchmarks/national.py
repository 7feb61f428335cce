"""National-scale cost per stage: python benchmarks/national.py [--people 1000000] [--years 1] [--shards K]
(--compare: one shard against shards of one generation block each, peak memory of both).

Runs the in-process pipeline as `socialrating run` does (Synthetic Russia world, default
history, the four scenarios, the ledger store) and prints, per stage, the wall time, the
peak resident memory inside the stage, the bytes the stage added to the run folder, and the
cost per person; then the issue 15 targets for 146M people, one year (<= 90 min, <= 16 GB
peak memory, <= 25 GB on disk) against a LINEAR EXTRAPOLATION of the measured per-person
costs. The extrapolation is labelled as such and is never a measurement: in-process memory
grows with N (the whole population is held at once), so it only says how far the
single-process pipeline is from the target.

Stages are timed from outside, without changing the pipeline: the benchmark wraps the
functions the world builder and the simulation call (population generation, record
generation, linkage, the monthly engine's step, the final recompute) and uses the
simulation's progress callback (month 0 = world built, month M = stepping done). A
sampling thread reads the process's resident memory every 20 ms for the per-stage peaks.
The stage names depend on simulate/ and its world builder; if they are renamed the
benchmark fails loudly rather than timing the wrong thing.

Memory: measured 11.9 GB peak at 1M people, one year with the default 7 years of history
(2026-11-29), so 10M would need about 120 GB in one process; `--people` above what --max-gb
allows is refused with that estimate.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

TARGET_PEOPLE = 146_000_000
TARGET_SECONDS = 90 * 60
TARGET_MEMORY = 16e9
TARGET_DISK = 25e9
GB_PER_MILLION = 12.0  # estimate before a run: measured 11.9 GB peak at 1M people, one year, 7 years of history


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def folder_bytes(path: Path) -> int:
    """Bytes of the files under `path`. The run deletes files while this walks (a shard's
    shuffle files once read): what vanishes meanwhile counts as gone, not as an error."""
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk skips a folder that vanished
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


class Stages:
    """Consecutive stages: mark(name) ends the current one at now. Peak memory per stage
    from a sampling thread; bytes from the run folder's size at each boundary."""

    def __init__(self, out: Path):
        self.out = out
        self.rows: list[tuple[str, float, int, int]] = []
        self.cpu: list[float] = []  # CPU seconds of all the process's threads, per stage
        self.notes: dict[str, str] = {}
        self._index: dict[str, int] = {}
        self._t, self._c = time.perf_counter(), time.process_time()
        self._bytes = folder_bytes(out)
        self.start_bytes = self._bytes
        self.disk_peak = self._bytes  # the run folder's largest size, sampled every second (the
        # shuffle's files are on disk while shards build and run, and go at the end)
        self._peak = rss_bytes()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        n = 0
        while not self._stop.wait(0.02):
            r = rss_bytes()
            with self._lock:
                self._peak = max(self._peak, r)
            n += 1
            if n % 50 == 0:
                self._disk(folder_bytes(self.out))

    def _disk(self, size: int) -> None:
        with self._lock:
            self.disk_peak = max(self.disk_peak, size)

    def mark(self, name: str) -> None:
        now, cpu, size, r = time.perf_counter(), time.process_time(), folder_bytes(self.out), rss_bytes()
        self._disk(size)
        with self._lock:
            peak, self._peak = max(self._peak, r), r
        row = (name, now - self._t, peak, size - self._bytes)
        if name in self._index:  # a stage seen again (the next shard's pass): added up
            i = self._index[name]
            old = self.rows[i]
            self.rows[i] = (name, old[1] + row[1], max(old[2], peak), old[3] + row[3])
            self.cpu[i] += cpu - self._c
        else:
            self._index[name] = len(self.rows)
            self.rows.append(row)
            self.cpu.append(cpu - self._c)
        self._t, self._c, self._bytes = now, cpu, size

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def instrument(stages: Stages, step_seconds: list[float]):
    """Wrap the pipeline's stage functions (restored by the returned callable). A sharded run
    passes through the stages once per shard; the report adds the passes up by stage."""
    from socialrating.simulate import runner as rn
    from socialrating.simulate import shardworld as sh
    from socialrating.simulate import synthetic_world as sw
    from socialrating.sources import link as ln

    saved = {(sh, "write_citizens"): sh.write_citizens, (sw, "national_register"): sw.national_register,
             (ln, "link_sources"): ln.link_sources, (sh.ShardWorld, "build"): sh.ShardWorld.build,
             (sh.ShardWorld, "run"): sh.ShardWorld.run, (sh, "score"): sh.score,
             (rn, "MonthlyEngine"): rn.MonthlyEngine}

    def population(*a, **k):
        out = saved[(sh, "write_citizens")](*a, **k)
        stages.mark("population (streamed by block, citizens per shard)")
        return out

    def register(*a, **k):  # a shard's records are done (seen and twin, on two threads) when linkage starts
        stages.mark("records (agencies, errors; seen + error-free twin)")
        return saved[(sw, "national_register")](*a, **k)

    def link(*a, **k):
        out = saved[(ln, "link_sources")](*a, **k)
        stages.mark("linkage (national register, deterministic + probabilistic)")
        return out

    def build(self, *a, **k):
        out = saved[(sh.ShardWorld, "build")](self, *a, **k)
        stages.mark("world assembly (truth, twin, linkage report, shuffle to the citizens' shards)")
        return out

    def months(self, *a, **k):
        out = saved[(sh.ShardWorld, "run")](self, *a, **k)
        stages.mark("monthly stepping (month slices, feedback, appeals, spells; 4 scenarios)")
        return out

    def final_score(*a, **k):
        stages.mark("spells, wrongful tables")
        out = saved[(sh, "score")](*a, **k)
        stages.mark("engine: final recompute of the ledger")
        return out

    class TimedEngine(saved[(rn, "MonthlyEngine")]):
        def step(self, *a, **k):
            t = time.perf_counter()
            out = super().step(*a, **k)
            step_seconds.append(time.perf_counter() - t)
            return out

    sh.write_citizens, sw.national_register, ln.link_sources = population, register, link
    sh.ShardWorld.build, sh.ShardWorld.run, sh.score, rn.MonthlyEngine = build, months, final_score, TimedEngine

    def restore() -> None:
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)
    return restore


def run(people: int, years: float, out: Path, threads: int | None = None, shards: int = 1,
        block_size: int | None = None, history_years: float | None = None) -> tuple[Stages, dict, list[float]]:
    """One in-process run with the command line's thread pool (`threads`: its size), in
    `shards` shards (one after the other, as `run --shards` does without a scheduler)."""
    from socialrating import parallel

    with parallel.threads(threads):
        return _run(people, years, out, shards, block_size, history_years)


def _run(people: int, years: float, out: Path, shards: int = 1,
         block_size: int | None = None, history_years: float | None = None) -> tuple[Stages, dict, list[float]]:
    from socialrating.engine.allocator import keep_freed_memory
    from socialrating.simulate import simulation as sim

    keep_freed_memory()  # as the command line does
    stages = Stages(out)
    step_seconds: list[float] = []
    restore = instrument(stages, step_seconds)
    months = max(1, int(round(years * 12)))

    try:
        cfg = sim.SimConfig(people=people, years=years, world="synthetic", store=True, block_size=block_size,
                            history_years=history_years)
        manifest = sim.simulate(cfg, out, shards=shards)
        stages.mark("outputs (ledger, quarantine, current tables; the store, the manifest)")
    finally:
        restore()
        stages.stop()
    assert months == manifest["months"]
    return stages, manifest, step_seconds


def report(stages: Stages, manifest: dict, step_seconds: list[float], people: int, years: float,
           shards: int = 1) -> None:
    total = sum(r[1] for r in stages.rows)
    disk = sum(r[3] for r in stages.rows)
    peak = max(r[2] for r in stages.rows)
    print(f"people {people:,}, {manifest['months']} months, history {manifest['history']['years']} years, "
          f"{len(manifest['scenarios'])} scenarios; records linked {manifest['counts']['records_linked']:,}")
    cpu = sum(stages.cpu)
    print(f"{'stage':80s} {'wall s':>8s} {'cpu s':>7s} {'peak RSS':>9s} {'written':>9s} {'us/person':>9s}")
    for (name, sec, pk, by), c in zip(stages.rows, stages.cpu):
        print(f"{name:80s} {sec:8.1f} {c:7.1f} {pk / 1e9:7.2f}GB {by / 1e6:7.0f}MB {sec / people * 1e6:9.2f}")
    print(f"{'total':80s} {total:8.1f} {cpu:7.1f} {peak / 1e9:7.2f}GB {disk / 1e6:7.0f}MB {total / people * 1e6:9.2f}")
    print(f"(wall us/person; cpu s = CPU time of all threads: on a shared machine it shows how much of the wall "
          f"time was waiting for a core; the run had {cpu / total:.2f} cores on average)")
    print(f"monthly engine steps: {len(step_seconds)} calls, {sum(step_seconds):.1f} s summed over the pool's "
          f"threads ({sum(step_seconds) / (people * manifest['months'] * 4) * 1e6:.3f} us per "
          f"citizen-month-scenario)")
    print(f"process peak (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9:.2f} GB; "
          f"per person: {peak / people:,.0f} B of memory, {disk / people:,.0f} B on disk, "
          f"{total / people * 1e6:.1f} us")
    top = stages.disk_peak - stages.start_bytes
    print(f"run folder on disk: {disk / 1e9:.2f} GB at the end, {top / 1e9:.2f} GB at its largest during the run "
          f"(sampled every second; per person {disk / people:,.0f} B and {top / people:,.0f} B)")
    scale = TARGET_PEOPLE / people * (1.0 / years)
    t146, m146, d146 = total * scale, peak / people * TARGET_PEOPLE, max(disk, top) * scale
    print(f"\nEXTRAPOLATION (linear in people, not a measurement) to {TARGET_PEOPLE / 1e6:.0f}M people, one year, "
          "in one process:")
    print(f"  wall time  {t146 / 60:8.0f} min   target {TARGET_SECONDS / 60:.0f} min: {t146 / TARGET_SECONDS:6.1f}x the target")
    if shards == 1:
        print(f"  memory     {m146 / 1e9:8.0f} GB    target {TARGET_MEMORY / 1e9:.0f} GB:  {m146 / TARGET_MEMORY:6.1f}x the target")
    else:  # a shard's memory does not grow with N, the national register's does: not linear in people
        print(f"  memory     not extrapolated: {shards} shards, the peak is one shard's plus the national register's")
    print(f"  disk       {d146 / 1e9:8.0f} GB    target {TARGET_DISK / 1e9:.0f} GB:  {d146 / TARGET_DISK:6.1f}x the target "
          "(the folder at its largest)")
    c146 = cpu * scale / 2
    print(f"  wall time if both cores were free (CPU time / 2): {c146 / 60:.0f} min: {c146 / TARGET_SECONDS:.1f}x the target")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="run folder (default: a new temporary folder)")
    ap.add_argument("--max-gb", type=float, default=12.0, help="refuse a size whose estimated memory exceeds this")
    ap.add_argument("--threads", type=int, default=None, help="the pool's threads (default: the CPUs available)")
    ap.add_argument("--shards", type=int, default=1, help="shards of whole generation blocks, one after the other")
    ap.add_argument("--block-size", type=int, default=None, help="people per generation block (default: calibration's)")
    ap.add_argument("--history-years", type=float, default=None,
                    help="years of records on file at the start (default: the policy's, as `run`)")
    ap.add_argument("--compare", action="store_true",
                    help="two runs in fresh processes, one shard and shards of one block each: peak memory of both "
                         "and the ratio")
    args = ap.parse_args()
    if args.compare:
        return compare(args)
    estimate = GB_PER_MILLION * args.people / 1e6 * max(args.years, 1.0)
    if args.shards == 1 and estimate > args.max_gb:
        raise SystemExit(f"--people {args.people:,}: estimated {estimate:.0f} GB of memory in one process "
                         f"(about {GB_PER_MILLION} GB per million people-years, measured at 1M), above "
                         f"--max-gb {args.max_gb:g}; not run")
    out = Path(args.out or tempfile.mkdtemp(prefix="national-bench-"))
    stages, manifest, step_seconds = run(args.people, args.years, out, args.threads, args.shards, args.block_size,
                                         args.history_years)
    report(stages, manifest, step_seconds, args.people, args.years, args.shards)
    print(f"run folder: {out}")
    print(f"PEAK_BYTES {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024} WALL_S {sum(r[1] for r in stages.rows):.1f}")


def compare(args) -> None:
    """The same run in one shard and in shards of one generation block each, each in a fresh
    process (ru_maxrss is per process): both peaks, and the sharded one as a share of one shard's."""
    import subprocess
    import sys

    from socialrating.simulate.synthetic_world import block_size_of

    bs = block_size_of(args.block_size)
    blocks = -(-args.people // bs)
    figures = {}
    for shards in (1, blocks):
        cmd = [sys.executable, __file__, "--people", str(args.people), "--years", str(args.years),
               "--shards", str(shards), "--block-size", str(bs), "--max-gb", str(args.max_gb)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print(f"--- {shards} shard(s) of {bs:,}-person blocks: {' '.join(cmd[1:])}", flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(out, flush=True)
        last = [ln for ln in out.splitlines() if ln.startswith("PEAK_BYTES")][-1].split()
        figures[shards] = (int(last[1]), float(last[3]))
    (p1, w1), (pk, wk) = figures[1], figures[blocks]
    print(f"peak memory, one shard:                  {p1 / 1e9:6.2f} GB  (wall {w1:.0f} s)")
    print(f"peak memory, {blocks} shards of one block each: {pk / 1e9:6.2f} GB  (wall {wk:.0f} s)")
    print(f"ratio sharded / one shard: {pk / p1:.2f} (memory), {wk / w1:.2f} (wall time)")


if __name__ == "__main__":
    main()
