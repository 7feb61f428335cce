"""Months and years of a rating in force, with feedback and paired counterfactuals.

Each month: the records that reached the operator that month -> the monthly engine ->
ratings and consequences -> feedback into next month's behaviour. Four scenarios run in
lockstep on the same random streams:

- `actual`: the sources' errors and linkage mistakes, with feedback;
- `perfect_data`: the same behaviour recorded without errors, with feedback (and no
  appeals: with correct records there is nothing to contest);
- `no_feedback`: the actual records, but consequences change nobody's behaviour;
- `no_appeals`: the actual records and feedback, but nobody contests anything.

So for every citizen and consequence the months caused only by data errors
(actual but not perfect_data), the months added by feedback (actual but not
no_feedback) and the wrongful months that appeals prevented (wrongful without appeals
but not in actual) are counted exactly. Who contests and what reviewers decide is drawn
from the policy's `contest.simulation` model, from a stream of its own.

Feedback is data (`Feedback`, feedback.py): an uplift per consequence context; each
assumption is copied into the manifest. The stages are apart so a shard of citizens can
run through them on its own: the world's records -> `ScenarioRunner` (runner.py: the
engine's monthly steps in every scenario) -> the outputs (outputs.py). Synthetic Russia
runs them shard by shard, each shard building its own world (shardworld.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from ..engine.monthly import MonthlyEngine
from ..policy.load import parse_policy, policy_hash, read_policy_text
from ..store.runfolder import SCENARIOS, RunFolder
from . import outputs as O
from .feedback import Feedback
from .runner import Calendar, Shard, ShardResult
from .world import World, basic_world

__all__ = ["Feedback", "SimConfig", "simulate", "make_world", "history_years", "history_start"]


@dataclass(frozen=True)
class SimConfig:
    policy: str = "we-platform"
    people: int = 100_000
    years: float = 2.0
    seed: int = 20240701
    start: dt.date = dt.date(2024, 7, 1)
    feedback: Feedback = field(default_factory=Feedback)
    world: str = "basic"
    store: bool = True
    db: str | None = None  # a postgresql:// URL for the ledger store; default ledger.duckdb in the run folder
    #: years of records on file at the start (generated before it); None = the policy's longest
    #: expiry, at most MAX_DEFAULT_HISTORY_YEARS
    history_years: float | None = None
    #: people per generation block (households never cross one; records, feedback and appeal
    #: draws have a stream per block); None = the calibration's model.block_size (131,072)
    block_size: int | None = None

    @property
    def months(self) -> int:
        return max(1, int(round(self.years * 12)))


MAX_DEFAULT_HISTORY_YEARS = 7.0
MAX_HISTORY_YEARS = 20.0


def history_years(policy, requested: float | None) -> float:
    """Years of records generated before the start and loaded as the records on file.

    A real platform starts by loading the registers' existing records, so a run must not
    start from an empty history. By default: as many years as the policy's longest expiry
    can still reach (a rule without expiry counts as unbounded), at most 7 (the credit
    history and negative-entry bound, 218-FZ Art. 7); whole months."""
    if requested is None:
        longest = max((r.expires_after_months or 10**6 for r in policy.rules), default=0)
        requested = min(longest / 12.0, MAX_DEFAULT_HISTORY_YEARS)
    if not 0 <= requested <= MAX_HISTORY_YEARS:
        raise ValueError(f"history_years: expected 0 to {MAX_HISTORY_YEARS:g} years, got {requested:g}")
    return round(requested * 12) / 12.0


def history_start(start: dt.date, years: float) -> dt.date:
    """The first day of the history: ``years`` (whole months) before the run's first month."""
    first = np.datetime64(dt.date(start.year, start.month, 1), "M") - int(round(years * 12))
    return first.astype("datetime64[D]").item()


def countable_months(policy) -> dict[str, int | None]:
    """Per event type, how many months after it occurred a record can still count: the
    longest expiry of the rules pricing it (None: no expiry), and for a closure the longest
    of the types it closes. Event types the policy does not use are absent."""
    out: dict[str, int | None] = {}

    def longest(a, b):
        return None if a is None or b is None else max(a, b)

    for r in policy.rules:
        out[r.event_type] = longest(out[r.event_type], r.expires_after_months) if r.event_type in out else r.expires_after_months
    for c in policy.closures:
        for t in c.closes:
            if t in out:
                out[c.event_type] = longest(out[c.event_type], out[t]) if c.event_type in out else out[t]
    return out


def _per_type(event_type: pl.Series, months: dict[str, int]) -> np.ndarray:
    """months[event type] per row (0 for a type not in it), as int32. An Enum column is
    mapped through its few categories, not row by row: the records come as codes
    (sources/synthetic.py), and matching millions of strings was 3% of a run's CPU."""
    if isinstance(event_type.dtype, pl.Enum) and not event_type.null_count():
        cats = event_type.dtype.categories.to_list()
        table = np.array([months.get(c, 0) for c in cats] or [0], np.int32)
        return table[event_type.to_physical().to_numpy()]
    return event_type.cast(pl.String).replace_strict(months, default=0, return_dtype=pl.Int32).to_numpy()


def on_file_mask(policy, start: dt.date) -> Callable[[pl.Series, np.ndarray, np.ndarray], np.ndarray]:
    """``keep(event_type, occurred_days, reported_days) -> bool mask``: False for the history
    records that cannot count at the start: reported before it and either of an event type
    the policy does not use or older than the longest expiry of the rules that price it.
    Loading them could not change any rating; they would only make the first month slower.
    Records reported from the start on are all kept."""
    from ..engine.dates import add_months

    months = {t: (-1 if m is None else m) for t, m in countable_months(policy).items()}
    start_days = to_days_(start)

    def keep(event_type: pl.Series, occurred: np.ndarray, reported: np.ndarray) -> np.ndarray:
        before = np.asarray(reported) < start_days
        if not before.any():
            return np.ones(before.size, bool)
        horizon = _per_type(event_type, months)
        occ = np.asarray(occurred, dtype=np.int32)
        still = (horizon < 0) | ((horizon > 0) & (add_months(occ, np.maximum(horizon, 0)) > start_days))
        return ~before | still

    return keep


def records_on_file(frame: pl.DataFrame, policy, start: dt.date) -> pl.DataFrame:
    """The records of ``frame`` (event_type, occurred_on, reported_on) an operator starting
    on ``start`` loads (see ``on_file_mask``)."""
    if not frame.height:
        return frame
    keep = on_file_mask(policy, start)(frame["event_type"], frame["occurred_on"].cast(pl.Int32).to_numpy(),
                                       frame["reported_on"].cast(pl.Int32).to_numpy())
    return frame.filter(pl.Series(keep))


def to_days_(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def make_world(cfg: SimConfig, history: float = 0.0, policy=None) -> World:
    """The world's records over the history and the run: one continuous window, so processes
    that span the start (open proceedings, renewed exit bans, yearly statuses) carry on.
    With a policy, history records it can no longer count are not loaded (``records_on_file``)."""
    first = history_start(cfg.start, history) if history > 0 else cfg.start
    span = cfg.years + (cfg.start - first).days / 365.25
    loading = policy is not None and history > 0
    if cfg.world == "basic":
        world = basic_world(cfg.people, first, span, cfg.seed)
        if loading:
            n = world.seen.height
            world.seen = world.perfect = records_on_file(world.seen, policy, cfg.start)
            world.records_not_loaded = n - world.seen.height
        return world
    if cfg.world == "synthetic":
        from .synthetic_world import synthetic_world

        return synthetic_world(cfg.people, first, span, cfg.seed, as_of=cfg.start,
                               keep=on_file_mask(policy, cfg.start) if loading else None,
                               block_size=cfg.block_size)
    raise ValueError(f"unknown world '{cfg.world}' (basic or synthetic)")


def shard_of(world: World, cfg: SimConfig) -> Shard:
    """The whole world as one shard: every citizen, their records month by month."""
    seen = world.month_slice(world.seen, cfg.start, cfg.months)
    perfect = world.month_slice(world.perfect, cfg.start, cfg.months)
    people = world.people
    return Shard(citizens=people["citizen_id"].to_numpy().astype(np.int64),
                 households=people["household_id"].to_numpy(), records={"seen": seen, "perfect": perfect},
                 extra=world.extra)


def simulate(cfg: SimConfig, out: str | Path, progress: Callable[[int, int], None] | None = None,
             *, world: World | None = None, shards: int = 1, executor=None,
             shard_progress: Callable[[int, int, int], None] | None = None,
             shards_done: Callable[[str, int, int], None] | None = None) -> dict:
    """Run the simulation and write the run folder; returns the manifest.

    Synthetic Russia (without a given `world`) is built and run shard by shard
    (shardworld.py: memory bounded by the shard, `shards` runs of whole generation blocks
    on `executor`, default this process); the tables read back the same whatever the
    sharding. `world`, when given, must be `make_world(cfg, history_years(...))`'s with
    every history record kept (the league builds it once for every policy, see
    audit/league.py); it and the basic world run whole, or with `shards` > 1 or an
    `executor` as shards drawn by a coordinator (shards.py), byte for byte the same.
    ``shards_done(stage, done, of)``: told as each Synthetic Russia shard is "built" and has
    "run", in shard order (a long run's progress)."""
    text, origin = read_policy_text(cfg.policy)
    policy = parse_policy(text, origin)
    hist = history_years(policy, cfg.history_years)
    folder = RunFolder(out)
    if world is None and cfg.world == "synthetic":
        folder.path.mkdir(parents=True, exist_ok=True)
        (folder.path / "policy.yaml").write_text(text, encoding="utf-8")
        return _simulate_blocks(cfg, folder, policy, hist, shards, executor, progress, shard_progress,
                                shards_done)
    if shards > 1 or executor is not None:
        from .shards import simulate_sharded

        return simulate_sharded(cfg, out, shards, executor, progress, shard_progress, world=world)
    from .shardworld import ShardWorld

    world = world if world is not None else make_world(cfg, hist, policy)
    if progress:
        progress(0, cfg.months)  # the world is built: months start
    folder.path.mkdir(parents=True, exist_ok=True)
    (folder.path / "policy.yaml").write_text(text, encoding="utf-8")
    one = ShardWorld.of_world(cfg, policy, hist, folder, world)
    one.run((lambda k: progress(k + 1, cfg.months)) if progress else None)
    return _write_run(cfg, folder, policy, [one.finish(0)], hist, world.linkage, world.block_size)


def _simulate_blocks(cfg: SimConfig, folder: RunFolder, policy, hist: float, shards: int, executor,
                     progress, shard_progress, shards_done=None) -> dict:
    """Synthetic Russia shard by shard on `executor` (default: this process, one shard after
    the other); the coordinator keeps only the tallies, the appeals and the linkage report."""
    from .executors import InProcess
    from .shardworld import StoreWriter, run_shards
    from .synthetic_world import block_size_of

    own = executor is None
    executor = executor if executor is not None else InProcess()

    def month_done(k: int, shard: int, of: int) -> None:
        if shard_progress:
            shard_progress(k, shard, of)
        if progress and shard == of:
            progress(k + 1, cfg.months)

    def said(stage: str, done: int, of: int) -> None:
        if shards_done:
            shards_done(stage, done, of)
        if progress and stage == "built" and done == of:
            progress(0, cfg.months)  # every shard is built: the months start

    # the store takes each shard's ledger as the shard finishes, while the next ones run
    writer = StoreWriter(folder, cfg.db) if cfg.store else None
    try:
        finished, linkage, not_loaded = run_shards(cfg, policy, hist, folder, shards, executor, month_done,
                                                   writer.add if writer else None, said)
    except BaseException:
        if writer:
            writer.abort()
        raise
    finally:
        if own:
            executor.close()
    finished[0]["tallies"]["not_loaded"] = not_loaded  # counted where the records were made
    for f in finished[1:]:
        f["tallies"]["not_loaded"] = 0
    return _write_run(cfg, folder, policy, finished, hist, linkage, block_size_of(cfg.block_size), writer)


def _write_run(cfg: SimConfig, folder: RunFolder, policy, finished: list[dict], hist: float, linkage: dict,
               block_size: int | None, writer=None) -> dict:
    """After every shard wrote its parts: the store (ledgers in shard order, the appeals as
    state changes; `writer`: a StoreWriter that already has the ledgers), linkage.json and
    the manifest from the shards' tallies."""
    from .shardworld import add_tallies, write_store

    calendar = Calendar(cfg.start, cfg.months, cfg.seed, block_size)
    deadline = policy.contest.review_deadline_days
    if writer is not None:
        store = writer.close(finished, calendar, deadline)
    else:
        store = write_store(folder, cfg.db, finished, calendar, deadline) if cfg.store else (None, 0, None)
    O.write_linkage(folder.path, linkage)
    total: dict = {}
    for f in finished:
        total = add_tallies(total, f["tallies"])
    manifest = _manifest(cfg, policy, total, hist, calendar.ends, store, block_size)
    if len(finished) > 1:
        manifest["shards"] = len(finished)
        manifest["shard_size"] = max(f["tallies"]["people"] for f in finished)
    folder.write_manifest(manifest)
    return manifest


def tallies(world: World, shard: Shard, result: ShardResult, final, rows: dict, start: dt.date) -> dict:
    """One shard's numbers for the manifest; the shards' add up to the whole run's."""
    start_days = to_days_(start)
    return {"people": len(shard.citizens), "arrived": sum(f.height for f in shard.records["seen"]),
            "linked": world.seen.height, "not_loaded": int(world.records_not_loaded),
            "on_file": int((world.seen["reported_on"].cast(pl.Int32) < start_days).sum()) if world.seen.height else 0,
            "counts": {k: int(v) for k, v in final.counts.items()}, "scenarios": O.scenario_counts(result),
            "ledger": final.ledger.height, "quarantine": final.quarantine.height,
            "current_ratings": final.ratings.height, "current_consequences": final.consequences.height, **rows}


def _history_note(cfg: SimConfig, t: dict, hist: float) -> dict:
    return {"years": hist, "start": (history_start(cfg.start, hist) if hist > 0 else cfg.start).isoformat(),
            "records_on_file_at_start": t["on_file"],
            "records_not_loaded": t["not_loaded"],
            "note": ("records reported before the start are loaded in the first month as the records "
                     "on file, except those that can no longer count (older than the longest expiry "
                     "of the rules for their event type, or of a type the policy does not use); the "
                     "policy's own dates (valid_from) decide which of the loaded ones count")}


def _manifest(cfg, policy, t: dict, hist, ends, store, block_size) -> dict:
    """The run's manifest (before sealing): what ran, on what, with which counts and checks;
    `t` the tallies of every shard added up."""
    N, M, c = t["people"], cfg.months, t["counts"]
    head, n_changes, change_head = store
    where = "ledger.duckdb" if cfg.db is None else O.redact(cfg.db)
    return {
        "kind": "simulation",
        "seed": cfg.seed,
        "seed_scheme": seed_scheme(N, block_size),
        "history": _history_note(cfg, t, hist),
        "people": N, "years": cfg.years, "months": M, "start": cfg.start.isoformat(),
        "as_of": ends[-1].isoformat(), "month_ends": [e.isoformat() for e in ends],
        "world": "synthetic-russia" if cfg.world == "synthetic" else cfg.world,
        "policy": {"name": policy.name, "version": policy.version, "sha256": policy_hash(policy), "origin": cfg.policy},
        "feedback": cfg.feedback.manifest(),
        "appeals_model": policy.contest.simulation.model_dump(),
        "scenarios": list(SCENARIOS),
        "counts": {**c, **t["scenarios"],
                   "consequence_spells": t["spells"],
                   "records_linked": t["linked"],
                   # reported after the last month end: never seen
                   "records_reported_after_last_month": int(t["linked"] - t["arrived"])},
        "rows": {"citizens": N, "ratings": N * M, "events": t["events"], "ledger": t["ledger"],
                 "consequences": t["spells"], "wrongful": t["wrongful"], "quarantine": t["quarantine"],
                 "current_ratings": t["current_ratings"], "current_consequences": t["current_consequences"]},
        "checks": {
            "events_in == accepted + quarantined": c["events_in"] == c["accepted"] + c["quarantined"],
            "final status: monthly engine == full recompute (citizens agreeing)": f"{t['same']} of {N}",
            "note": ("the monthly engine scores a late record when it arrives (caps allocated in arrival "
                     "order), the full recompute by date; they differ only for late records in capped or "
                     "closable groups"),
        },
        "ledger_store": {"file": where, "head": head} if head else None,
        "changes": {"store": where, "count": n_changes, "head": change_head,
                    "note": "simulated appeals, recorded as hash-chained state changes"} if head else None,
        "lint": O.lint_findings(policy),
        "shard_size": N,
    }


def seed_scheme(people: int, block_size: int | None) -> str:
    """The manifest's account of the random streams. A run of one generation block has only
    block 0's streams, the whole population's before blocks had streams (same words)."""
    text = ("numpy SeedSequence(seed, spawn_key=...): (0,) world: its children [0] the population, "
            "[1] the records over one window from history_start to the last month (the history "
            "before the start and the run's months are one stream, so a process spanning the "
            "start carries on); (2, month) feedback draws; (3, month) appeal draws")
    if block_size is None or people <= block_size:
        return text
    return (text + f"; these are generation block 0's streams: people come in blocks of {block_size} "
            "(households never cross one) and block b >= 1 has its own: (4, b) its records (identifier "
            "keys shared with block 0's and record numbers in the block's own range, so ids stay "
            "unique), (5, b, month) its feedback draws, (6, b, month) its appeal draws. Errors that "
            "pick another person (namesake merges, false name matches) pick within the block; the "
            "linkage is against the register of everybody")


def last_ctx(engine: MonthlyEngine, policy) -> dict:
    from ..engine.evaluate import derive

    return derive(engine.bal_s, engine.bal_l, engine.flags, policy)
