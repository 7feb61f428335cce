"""National-scale cost per stage: python benchmarks/national.py [--people 1000000] [--years 1] [--shards K]
(--compare: one shard against shards of one generation block each, peak memory of both).

Runs the in-process pipeline as `socialrating run` does (Synthetic Russia world, default
history, the four scenarios, the ledger store; with --shards K, K shards run as many at once
as the pool has threads, as `run --shards` does without a scheduler) and prints, per phase,
the wall time, the CPU time, the peak resident memory inside the phase, the bytes the phase
added to the run folder and the cost per person; then where the shards' time went; then the
issue 15 targets for 146M people, one year (<= 90 min, <= 16 GB peak memory, <= 25 GB on
disk) against a LINEAR EXTRAPOLATION of the measured per-person costs. The extrapolation
is labelled as such and is never a measurement; memory is extrapolated only for one shard
(the whole population in one process), as a sharded run's peak is its shards' plus the
national register's, not linear in people.

Phases and stages are timed from outside, without changing the pipeline: the benchmark
wraps the functions the shards call (the national register, record generation, linkage,
the months, the final recompute, a shard's build and finish) and marks the phases where
they meet: the population written, every shard built (the first shard's months start),
every shard finished. Inside the shards the wrapped functions' wall time is summed over the
shards, on the shard's own thread (the shards may run side by side, so the sums exceed
the phases' wall time; their shares say where the time goes). A sampling thread reads the
process's resident memory every 20 ms for the per-phase peaks. The stage names depend on
simulate/ and its world builder; if they are renamed the benchmark fails loudly rather
than timing the wrong thing.

Memory in one process (--shards 1): measured 11.9 GB peak at 1M people, one year with the
default 7 years of history (2026-11-29), so 10M would need about 120 GB; `--people` above
what --max-gb allows in one shard is refused with that estimate.
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


class Within:
    """Where the shards' time goes: wall seconds inside each stage function, summed over the
    shards (shards run side by side, so these add up to more than the phase's wall time;
    their shares say where the time goes). Thread-safe: each shard's thread adds its own."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def timed(self, name: str, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.add(name, time.perf_counter() - t)
        return wrapper


BUILDS = "shard builds: records, national linkage, assembly and shuffle"
MONTHS = "shard months and finish: 4 scenarios, spells, final recompute, parts"
OUTPUTS = "outputs (the store's last part, appeals, linkage report, manifest)"
RECORDS = "records (agencies, errors; seen + error-free twin)"
REGISTER = "national register index (built once, shared by the shards)"
LINKAGE = "linkage (deterministic + probabilistic, against the register)"
ASSEMBLY = "assembly (truth, twin, linkage report, shuffle to the citizens' shards)"
STEPPING = "monthly stepping (month slices, feedback, appeals; 4 scenarios)"
SCORE = "engine: final recompute of the ledger"
FINISH = "spells, wrongful tables, parts written"


def instrument(stages: Stages, within: Within, step_seconds: list[float]):
    """Wrap the pipeline's stage functions (restored by the returned callable). The phases
    (population, builds, months, outputs) follow one another and are marked on `stages`; inside
    them the shards' stage functions are timed on `within` (shards may run side by side)."""
    from socialrating.simulate import runner as rn
    from socialrating.simulate import shardworld as sh
    from socialrating.simulate import synthetic_world as sw
    from socialrating.sources import link as ln

    saved = {(sh, "write_citizens"): sh.write_citizens, (sw, "national_register"): sw.national_register,
             (sw, "block_records"): sw.block_records, (ln, "link_sources"): ln.link_sources,
             (sh.ShardWorld, "build"): sh.ShardWorld.build, (sh.ShardWorld, "run"): sh.ShardWorld.run,
             (sh.ShardWorld, "finish"): sh.ShardWorld.finish, (sh, "score"): sh.score,
             (sh, "run_shards"): sh.run_shards, (rn, "MonthlyEngine"): rn.MonthlyEngine}
    first_run = threading.Lock()
    months_started: list[bool] = []

    def population(*a, **k):
        out = saved[(sh, "write_citizens")](*a, **k)
        stages.mark("population (streamed by block, citizens per shard)")
        return out

    def months(self, *a, **k):
        with first_run:  # every shard is built before the first one's months start
            if not months_started:
                months_started.append(True)
                stages.mark(BUILDS)
        return within.timed(STEPPING, saved[(sh.ShardWorld, "run")])(self, *a, **k)

    def run_shards(*a, **k):
        out = saved[(sh, "run_shards")](*a, **k)
        stages.mark(MONTHS)
        return out

    def build(self, *a, **k):  # its parts are timed inside it, on the same thread
        return within.timed("_build", saved[(sh.ShardWorld, "build")])(self, *a, **k)

    def finish(self, *a, **k):
        return within.timed("_finish", saved[(sh.ShardWorld, "finish")])(self, *a, **k)

    class TimedEngine(saved[(rn, "MonthlyEngine")]):
        def step(self, *a, **k):
            t = time.perf_counter()
            out = super().step(*a, **k)
            step_seconds.append(time.perf_counter() - t)
            return out

    sh.write_citizens, sh.run_shards = population, run_shards
    sw.national_register = within.timed(REGISTER, saved[(sw, "national_register")])
    sw.block_records = within.timed(RECORDS, saved[(sw, "block_records")])
    ln.link_sources = within.timed(LINKAGE, saved[(ln, "link_sources")])
    sh.score = within.timed(SCORE, saved[(sh, "score")])
    sh.ShardWorld.build, sh.ShardWorld.run, sh.ShardWorld.finish = build, months, finish
    rn.MonthlyEngine = TimedEngine

    def restore() -> None:
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)
    return restore


def run(people: int, years: float, out: Path, threads: int | None = None, shards: int = 1,
        block_size: int | None = None, history_years: float | None = None) -> tuple[Stages, Within, dict, list[float]]:
    """One in-process run with the command line's thread pool (`threads`: its size), in
    `shards` shards (as many at once as the pool has threads, as `run --shards` does without a
    scheduler)."""
    from socialrating import parallel

    with parallel.threads(threads):
        return _run(people, years, out, shards, block_size, history_years)


def _run(people: int, years: float, out: Path, shards: int = 1,
         block_size: int | None = None, history_years: float | None = None) -> tuple[Stages, Within, dict, list[float]]:
    from socialrating.engine.allocator import keep_freed_memory
    from socialrating.simulate import simulation as sim

    keep_freed_memory()  # as the command line does
    stages = Stages(out)
    step_seconds: list[float] = []
    within = Within()
    restore = instrument(stages, within, step_seconds)
    months = max(1, int(round(years * 12)))

    try:
        cfg = sim.SimConfig(people=people, years=years, world="synthetic", store=True, block_size=block_size,
                            history_years=history_years)
        manifest = sim.simulate(cfg, out, shards=shards)
        stages.mark(OUTPUTS)
    finally:
        restore()
        stages.stop()
    assert months == manifest["months"]
    return stages, within, manifest, step_seconds


def report(stages: Stages, within: Within, manifest: dict, step_seconds: list[float], people: int, years: float,
           shards: int = 1, side: int = 1) -> None:
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
    w = dict(within.seconds)
    parts = [(REGISTER, w.get(REGISTER, 0.0)), (RECORDS, w.get(RECORDS, 0.0)), (LINKAGE, w.get(LINKAGE, 0.0)),
             (ASSEMBLY, w.get("_build", 0.0) - w.get(REGISTER, 0.0) - w.get(RECORDS, 0.0) - w.get(LINKAGE, 0.0)),
             (STEPPING, w.get(STEPPING, 0.0)), (SCORE, w.get(SCORE, 0.0)),
             (FINISH, w.get("_finish", 0.0) - w.get(SCORE, 0.0))]
    summed = sum(v for _, v in parts)
    print(f"inside the shards ({side} at a time): wall seconds on the shards' threads, summed over the shards")
    for name, sec in parts:
        print(f"  {name:78s} {sec:8.1f} {sec / max(summed, 1e-9):6.1%}")
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
          + ("in one process:" if shards == 1 else f"in shards, {side} at a time:"))
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
    ap.add_argument("--shards", type=int, default=1, help="shards of whole generation blocks, as many at once as --threads")
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
    stages, within, manifest, step_seconds = run(args.people, args.years, out, args.threads, args.shards,
                                                 args.block_size, args.history_years)
    from socialrating.parallel import available_cpus

    side = 1 if args.shards == 1 else min(args.shards, args.threads or available_cpus())
    report(stages, within, manifest, step_seconds, args.people, args.years, args.shards, side)
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
