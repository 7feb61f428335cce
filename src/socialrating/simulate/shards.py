"""A world built whole, run in shards of whole households, merged into the very run folder of
one shard: the basic world (its generator has no blocks) and a world given to simulate (the
league's). Synthetic Russia is built and run shard by shard instead (shardworld.py).

The citizens, in the engine's order, are cut into K contiguous blocks at household
boundaries; each block runs its own `ScenarioRunner` (engines, spells, paired counts) on
an executor (executors.py: in this process or as Dask actors). What is drawn over the
whole population stays whole, on the coordinator, month by month: the feedback records
(their stream is seeded per month over everyone whose risk feedback scales up) and the
appeal draws (one uniform per record of the month, in the month's record order). Each
shard gets its rows of those, in order, and returns its holds and the actual scenario's
ratings; the coordinator writes the panel and, at the end, merges the shards' results
(spells, months held, counters, appeals with their entry ids mapped back to the whole
month's rows) so every file equals the unsharded run's byte for byte.

Memory grows with N here (the world and the outputs are whole); shardworld.py bounds it
by the shard.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import polars as pl

from ..engine.ledger import SLOT_BITS
from ..engine.monthly import MonthlyEngine
from . import outputs as O
from .feedback import Feedback, FeedbackModel
from .runner import (SPECS, Calendar, MonthInput, MonthOutcome, PairedMonths, Scenario, ScenarioRunner, Shard,
                     ShardResult, feedback_seed, month_input)


def household_bounds(households: np.ndarray, k: int) -> list[tuple[int, int]]:
    """K contiguous (lo, hi) blocks of about N/K citizens, each cut where the household
    changes, so no household is split; fewer blocks when households are too few. A
    household whose members are not contiguous is an error (it could not stay whole)."""
    n = len(households)
    if k < 1:
        raise ValueError(f"--shards: expected 1 or more, got {k}")
    change = np.flatnonzero(np.diff(households) != 0) + 1  # first citizen of each new household
    if len(np.unique(households)) != len(change) + 1:
        raise ValueError("households are not contiguous in the citizens' order: they cannot be sharded whole")
    cuts = [0]
    for i in range(1, k):
        j = np.searchsorted(change, i * n // k)
        if j < len(change) and change[j] > cuts[-1]:
            cuts.append(int(change[j]))
    cuts.append(n)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


class ShardWorker:
    """One shard's runner where it runs (this process or a Dask worker): steps with the
    inputs the coordinator drew, returns what the coordinator needs back."""

    def __init__(self, policy, shard: Shard, feedback: Feedback, calendar: Calendar):
        self.runner = ScenarioRunner(policy, shard, feedback, calendar)

    def step(self, k: int, inputs: dict[str, MonthInput]) -> tuple[dict[str, np.ndarray], dict]:
        out = self.runner.step(k, inputs)
        return {s: sc.held for s, sc in self.runner.scenarios.items()}, out.state.ctx

    def finish(self) -> dict:
        """The shard's result without its engines' monthly arrays: what the merge needs."""
        r = self.runner.finish()
        actual = r.scenarios["actual"].engine
        return {"spells": r.spells, "paired": r.paired, "spill_idx": r.spill_idx,
                "months_in": {s: sc.months_in for s, sc in r.scenarios.items()},
                "counts": {s: sc.counts for s, sc in r.scenarios.items()},
                "appeals": actual.appeals, "bal_s": actual.bal_s, "bal_l": actual.bal_l, "flags": actual.flags}


@dataclass
class _Rows:
    """Where one shard's rows sit in each month's whole batch, per scenario."""

    offsets: dict[str, list[int]]       # per scenario: the whole batch's first row of each month
    positions: dict[str, list[np.ndarray]]  # per scenario and month: this shard's rows in it


def _split_rows(batch: pl.DataFrame, uppers: np.ndarray) -> list[np.ndarray]:
    """Per shard, the rows of `batch` whose citizen is in it, in the batch's order (so its
    base records, then its feedback records); a record of an unknown citizen goes with the
    shard its id would sort into (the engine quarantines it there, once)."""
    cit = batch["citizen_id"].fill_null(-1).to_numpy()
    owner = np.minimum(np.searchsorted(uppers, cit, side="left"), len(uppers) - 1)
    order = np.argsort(owner, kind="stable")  # rows by shard, in batch order inside one
    counts = np.bincount(owner, minlength=len(uppers))
    return np.split(order, np.cumsum(counts)[:-1])


def run_sharded(policy, world, cfg, whole: Shard, calendar: Calendar, executor, panel: O.PanelWriter,
                bounds: list[tuple[int, int]], progress: Callable[[int, int, int], None] | None = None):
    # progress(month, shards done, shards) after each shard's step
    """Every month of every shard; returns (the merged ShardResult, the actual scenario's
    records) as the unsharded run would have them."""
    # a shard's records and feedback come with each month's inputs (drawn here)
    shards = [Shard(whole.citizens[a:b], whole.households[a:b], {}, extra=None) for a, b in bounds]
    uppers = np.array([whole.citizens[b - 1] for _, b in bounds], np.int64)
    uppers[-1] = np.iinfo(np.int64).max
    model = FeedbackModel(cfg.feedback, policy.consequences, whole.household_index)
    C, N = len(policy.consequences), len(whole.citizens)
    held = {s: np.zeros((C, N), bool) for s in SPECS}
    workers = [executor.spawn(ShardWorker, policy, sh, cfg.feedback, calendar) for sh in shards]
    rows = [_Rows({s: [] for s in SPECS}, {s: [] for s in SPECS}) for _ in shards]
    offset = {s: 0 for s in SPECS}
    for k in range(calendar.months):
        per_shard: list[dict[str, MonthInput]] = [{} for _ in shards]
        actual = None
        extra_cache: dict[bytes, pl.DataFrame] = {}
        for s, spec in SPECS.items():
            month = whole.records[spec.records][k]
            extra = None
            if spec.feedback:
                scale = model.scale(held[s])
                key = scale.tobytes()
                if key not in extra_cache:
                    extra_cache[key] = world.extra(scale > 0, scale, calendar.starts[k], feedback_seed(calendar, k))
                extra = extra_cache[key]
            inp = month_input(policy, spec, month, extra, calendar, k)
            if s == "actual":
                actual = inp.batch
            parts = _split_rows(inp.batch, uppers)
            for i, p in enumerate(parts):
                per_shard[i][s] = inp.take(p, int((p >= month.height).sum()))
                rows[i].offsets[s].append(offset[s])
                rows[i].positions[s].append(p)
            offset[s] += inp.batch.height
        futures = [w.call("step", k, per_shard[i]) for i, w in enumerate(workers)]
        done = []
        for i, f in enumerate(futures):
            done.append(f.result())
            if progress:
                progress(k, i + 1, len(shards))
        held = {s: np.concatenate([d[0][s] for d in done], axis=1) for s in SPECS}
        ctx = {key: np.concatenate([d[1][key] for d in done]) for key in done[0][1]}
        panel.write(MonthOutcome(k, actual, SimpleNamespace(ctx=ctx, holds=held["actual"])))
    finished = [w.call("finish").result() for w in workers]
    executor.forget(workers)
    return _merge(policy, whole, calendar, bounds, finished, rows)


def _global_ids(ids: np.ndarray, rows: _Rows) -> np.ndarray:
    """A shard's entry ids ((shard row) * 8 + slot) as the whole run numbers them."""
    g = np.concatenate([o + p for o, p in zip(rows.offsets["actual"], rows.positions["actual"])]
                       or [np.zeros(0, np.int64)]).astype(np.int64)
    return (g[ids >> SLOT_BITS] << SLOT_BITS) | (ids & ((1 << SLOT_BITS) - 1))


def _merge(policy, whole: Shard, calendar: Calendar, bounds, finished: list[dict], rows: list[_Rows]) -> ShardResult:
    """The shards' results as one ShardResult over every citizen (shard order = citizen order)."""
    spells = {}
    for s in SPECS:
        parts = [tuple(a.copy() for a in f["spells"][s]) for f in finished]
        for (lo, _), p in zip(bounds, parts):
            p[1][:] += lo  # citizen index: the shard's -> the whole's
        spells[s] = tuple(np.concatenate([p[i] for p in parts]) for i in range(5))
    paired = PairedMonths(*(np.concatenate([getattr(f["paired"], a) for f in finished], axis=1)
                            for a in ("wrongful", "feedback", "wrongful_no_appeals", "prevented")))
    engine = MergedEngine(calendar, finished, rows)
    scenarios = {}
    for s, spec in SPECS.items():
        months_in = np.concatenate([f["months_in"][s] for f in finished], axis=1)
        counts = {c: sum(f["counts"][s][c] for f in finished) for c in finished[0]["counts"][s]}
        scenarios[s] = Scenario(s, spec, engine if s == "actual" else None, None, None, months_in, counts)
    return ShardResult(scenarios, spells, paired, finished[0]["spill_idx"])


class MergedEngine:
    """The actual scenario's engine as the outputs read it after the months: the appeals
    (entry ids of the whole run) and the last balances and flags, over every citizen."""

    appeal_states = MonthlyEngine.appeal_states
    appeal_changes = MonthlyEngine.appeal_changes

    def __init__(self, calendar: Calendar, finished: list[dict], rows: list[_Rows]):
        self.ends: list[dt.date] = calendar.ends
        self.k = calendar.months
        self.appeals = [(_global_ids(a[0], r), *a[1:]) for f, r in zip(finished, rows) for a in f["appeals"]]
        self.bal_s = np.concatenate([f["bal_s"] for f in finished])
        self.bal_l = np.concatenate([f["bal_l"] for f in finished])
        self.flags = {t: np.concatenate([f["flags"][t] for f in finished]) for t in finished[0]["flags"]}


def simulate_sharded(cfg, out, shards: int, executor, progress=None, shard_progress=None, *, world=None) -> dict:
    """simulation.simulate's run with its citizens in `shards` shards on `executor` (default:
    this process): the same stages, the same files."""
    from ..policy.load import parse_policy, read_policy_text
    from ..store.runfolder import RunFolder
    from .executors import InProcess
    from .shardworld import ShardWorld
    from .simulation import _write_run, history_years, make_world, shard_of

    text, origin = read_policy_text(cfg.policy)
    policy = parse_policy(text, origin)
    hist = history_years(policy, cfg.history_years)
    world = world if world is not None else make_world(cfg, hist, policy)
    if progress:
        progress(0, cfg.months)
    folder = RunFolder(out)
    folder.path.mkdir(parents=True, exist_ok=True)
    (folder.path / "policy.yaml").write_text(text, encoding="utf-8")
    calendar = Calendar(cfg.start, cfg.months, cfg.seed, world.block_size)
    whole = shard_of(world, cfg)
    bounds = household_bounds(whole.households, shards)
    panel = O.PanelWriter(folder, policy, whole.citizens, calendar.ends, block_size=world.block_size)

    def step_done(k: int, shard: int, of: int) -> None:
        if shard_progress:
            shard_progress(k, shard, of)
        if progress and shard == of:
            progress(k + 1, cfg.months)

    own = executor is None
    executor = executor if executor is not None else InProcess()
    try:
        result = run_sharded(policy, world, cfg, whole, calendar, executor, panel, bounds, step_done)
    finally:
        if own:
            executor.close()
    one = ShardWorld.of_world(cfg, policy, hist, folder, world)
    one.shard, one.result, one.events = whole, result, panel.close()
    return _write_run(cfg, folder, policy, [one.finish(0)], hist, world.linkage, world.block_size)
