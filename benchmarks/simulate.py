"""Simulation benchmark: python benchmarks/simulate.py [--people 1000000] [--years 3] [--world synthetic].

Runs the full monthly simulation (Synthetic Russia world: population, agency records
with errors, linkage; then 36 monthly steps of the engine for each of the four paired
scenarios: actual, perfect data, no feedback, no appeals; then the final recompute and
the run folder) and prints the time of each phase, citizen-months per second (people x
months x scenarios / simulation time), peak memory, and the ratio to the target: 1M
people, 3 years, both counterfactuals in <= 120 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

TARGET_SECONDS = 120.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--world", default="synthetic")
    ap.add_argument("--policy", default="we-platform")
    ap.add_argument("--out", default=None)
    ap.add_argument("--history-years", type=float, default=None, help="default: the policy's longest expiry, at most 7")
    ap.add_argument("--threads", type=int, default=None, help="the pool's threads (default: the CPUs available)")
    args = ap.parse_args()

    from socialrating import parallel
    from socialrating.engine.allocator import keep_freed_memory
    from socialrating.simulate import simulation as sim

    keep_freed_memory()  # as the command line does

    phases: dict[str, float] = {}
    original = sim.make_world

    def timed_world(cfg, *args, **kwargs):
        t = time.perf_counter()
        w = original(cfg, *args, **kwargs)
        phases["world (population, records, linkage)"] = time.perf_counter() - t
        return w

    sim.make_world = timed_world
    out = args.out or tempfile.mkdtemp(prefix="sim-bench-")
    cfg = sim.SimConfig(policy=args.policy, people=args.people, years=args.years, world=args.world, store=False,
                        history_years=args.history_years)
    with parallel.threads(args.threads) as pool:  # as the command line opens it
        t0 = time.perf_counter()
        m = sim.simulate(cfg, out)
        total = time.perf_counter() - t0
    print(f"threads: {pool.threads}")
    engine = total - sum(phases.values())
    cm = args.people * m["months"] * len(m["scenarios"])
    print(f"people {args.people:,}, {m['months']} months, {len(m['scenarios'])} scenarios ({', '.join(m['scenarios'])})")
    for k, v in phases.items():
        print(f"{k:45s} {v:7.1f} s")
    print(f"{'monthly engine, feedback, spells, outputs':45s} {engine:7.1f} s")
    print(f"{'total':45s} {total:7.1f} s   ({total / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:.0f} s target)")
    print(f"citizen-months/s (all scenarios, whole run)    {cm / total:,.0f}")
    print(f"citizen-months/s (monthly stepping only)       {cm / engine:,.0f}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(f"records seen (actual): {m['counts']['records_seen_by_scenario']['actual']:,}; "
          f"check: {m['checks']['final status: monthly engine == full recompute (citizens agreeing)']}")
    print(f"run folder: {out}")


if __name__ == "__main__":
    main()
