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

Feedback is explicit and parameterised (`Feedback`); each mechanism's assumption is
written next to it and copied into the manifest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from ..engine.monthly import MonthlyEngine, month_ends
from ..engine.score import score
from ..policy.load import parse_policy, policy_hash, read_policy_text
from ..store.runfolder import KIND_ENUM, SCENARIO_ENUM, SCENARIOS, RunFolder, TableWriter
from .world import ENGINE_COLUMNS, World, basic_world



@dataclass(frozen=True)
class Feedback:
    """How consequences feed back into behaviour (rates of arrears-type records)."""

    credit_arrears_uplift: float = 0.5
    employment_risk_uplift: float = 0.3
    household_spillover: float = 0.0
    assumptions: tuple[str, ...] = (
        "credit_arrears_uplift: a person refused credit cannot refinance, so arrears-type records "
        "(overdue loans, utility and tax arrears, enforcement) become 50% more frequent while the "
        "restriction lasts (assumption; no published estimate).",
        "employment_risk_uplift: a person barred from jobs loses income, and arrears-type records "
        "become 30% more frequent (assumption).",
        "household_spillover: with a value above 0, household members of a restricted person see "
        "their arrears-type rates rise by that share ('joint punishment'); off by default.",
    )


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
        horizon = event_type.cast(pl.String).replace_strict(months, default=0, return_dtype=pl.Int32).to_numpy()
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
                               keep=on_file_mask(policy, cfg.start) if loading else None)
    raise ValueError(f"unknown world '{cfg.world}' (basic or synthetic)")


class SpellTracker:
    """Turns monthly hold masks into spells (start month, end month) without a panel.

    Layers 0..C-1 are the consequences held in one's own right; layers C.. are the
    household spill-over layers, one per consequence that spills, carrying who it came via.
    """

    def __init__(self, layers: int, n: int, own: int):
        self.since = np.full((layers, n), -1, dtype=np.int16)
        self.own = own
        self.via = np.full((layers - own, n), -1, dtype=np.int64)
        self.rows: list[tuple[np.ndarray, ...]] = []

    def _emit(self, j: int, e: np.ndarray, end) -> None:
        via = self.via[j - self.own][e] if j >= self.own else np.full(len(e), -1, np.int64)
        self.rows.append((np.full(len(e), j), e, self.since[j][e].astype(np.int32),
                          np.full(len(e), end, np.int32), via))

    def update(self, k: int, holds: np.ndarray, via: np.ndarray | None = None) -> None:
        for j in range(holds.shape[0]):
            h = holds[j]
            since = self.since[j]
            ended = np.flatnonzero(~h & (since >= 0))
            if len(ended):
                self._emit(j, ended, k)
                since[ended] = -1
            started = np.flatnonzero(h & (since < 0))
            since[started] = k
            if j >= self.own and via is not None:
                self.via[j - self.own][started] = via[j - self.own][started]

    def close(self) -> tuple[np.ndarray, ...]:
        for j in range(self.since.shape[0]):
            e = np.flatnonzero(self.since[j] >= 0)
            if len(e):
                self._emit(j, e, -1)
        if not self.rows:
            z = np.zeros(0, np.int64)
            return z, z, z, z, z
        return tuple(np.concatenate([r[i] for r in self.rows]) for i in range(5))


def simulate(cfg: SimConfig, out: str | Path, progress: Callable[[int, int], None] | None = None,
             *, world: World | None = None) -> dict:
    """Run the simulation and write the run folder; returns the manifest. `world`, when
    given, must be `make_world(cfg, history_years(...))`'s with every history record kept (the
    league builds it once for every policy, see audit/league.py)."""
    text, origin = read_policy_text(cfg.policy)
    policy = parse_policy(text, origin)
    hist = history_years(policy, cfg.history_years)
    world = world if world is not None else make_world(cfg, hist, policy)
    if progress:
        progress(0, cfg.months)  # the world is built: months start
    folder = RunFolder(out)
    folder.path.mkdir(parents=True, exist_ok=True)
    (folder.path / "policy.yaml").write_text(text, encoding="utf-8")
    M = cfg.months
    ends = month_ends(cfg.start, M)
    starts = [dt.date(e.year, e.month, 1) for e in ends]
    people = world.people
    citizens = people["citizen_id"].to_numpy().astype(np.int64)
    N = len(citizens)
    hh = people["household_id"].to_numpy()
    _, hh_idx = np.unique(hh, return_inverse=True)
    cons = policy.consequences
    C = len(cons)
    credit = np.array([c.kind == "restriction" and c.context == "credit" for c in cons], bool)
    employ = np.array([c.kind == "restriction" and c.context == "employment" for c in cons], bool)
    restrict = np.array([c.kind == "restriction" for c in cons], bool)
    spill = np.array([c.applies_to_household for c in cons], bool)

    months = {s: world.month_slice(world.perfect if s == "perfect_data" else world.seen, cfg.start, M)
              for s in SCENARIOS}
    arrived = sum(f.height for f in months["actual"])
    start_days = (cfg.start - dt.date(1970, 1, 1)).days
    on_file = int((world.seen["reported_on"].cast(pl.Int32) < start_days).sum()) if world.seen.height else 0
    after_horizon = world.seen.height - arrived  # reported after the last month end: never seen
    engines = {s: MonthlyEngine(policy, citizens, cfg.start, M) for s in SCENARIOS}
    spill_idx = np.flatnonzero(spill)
    trackers = {s: SpellTracker(C + len(spill_idx), N, C) for s in SCENARIOS}
    held = {s: np.zeros((C, N), bool) for s in SCENARIOS}
    months_in = {s: np.zeros((C, N), np.int16) for s in SCENARIOS}
    wrongful = np.zeros((C, N), np.int16)
    fb_added = np.zeros((C, N), np.int16)
    prevented = np.zeros((C, N), np.int16)
    wrongful_no_appeals = np.zeros((C, N), np.int16)
    appeal_counts = {s: {"contested": 0, "overturned": 0} for s in SCENARIOS}
    am = policy.contest.simulation
    extra_counts = {s: 0 for s in SCENARIOS}
    event_counts = {s: 0 for s in SCENARIOS}
    ratings_w = TableWriter(folder.path / "ratings.parquet")
    events_w = TableWriter(folder.path / "events.parquet")
    actual_events: list[pl.DataFrame] = []
    fb = cfg.feedback
    band_enum = pl.Enum(policy.rating.bands.names) if policy.rating.bands else None

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2)
    for k in range(M):
        def advance(s: str):
            """One scenario's month: feedback draws, appeal draws, the engine step, spells.
            Scenarios share nothing mutable, so two run at once on the two cores."""
            base = months[s][k].select(ENGINE_COLUMNS)
            batch = base
            if s != "no_feedback":
                prev = held[s]
                scale = (fb.credit_arrears_uplift * prev[credit].any(axis=0)
                         + fb.employment_risk_uplift * prev[employ].any(axis=0))
                if fb.household_spillover > 0 and restrict.any():
                    restricted = prev[restrict].any(axis=0)
                    hh_hit = np.bincount(hh_idx, weights=restricted, minlength=hh_idx.max() + 1) > 0
                    scale = scale + fb.household_spillover * (hh_hit[hh_idx] & ~restricted)
                extra = world.extra(scale > 0, scale, starts[k], np.random.SeedSequence(cfg.seed, spawn_key=(2, k)))
                if extra.height:
                    extra = extra.with_columns(pl.col(c).cast(base.schema[c]) for c in ENGINE_COLUMNS)
                    batch = pl.concat([base, extra], how="vertical")
                    extra_counts[s] += extra.height
            event_counts[s] += batch.height
            contested = overturned = None
            if s in ("actual", "no_feedback") and policy.contest.allowed:
                wrong = np.zeros(batch.height, bool)
                if "erroneous" in months[s][k].columns:
                    wrong[: base.height] = months[s][k]["erroneous"].to_numpy()
                u = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(3, k))).random((2, batch.height))
                contested = u[0] < np.where(wrong, am.share_contesting_erroneous, am.share_contesting_correct)
                overturned = contested & (u[1] < np.where(wrong, am.reviewer_accuracy, am.wrong_overturn))
            state = engines[s].step(batch, contested=contested, overturned=overturned)
            appeal_counts[s]["contested"] += state.counts.get("contested", 0)
            appeal_counts[s]["overturned"] += state.counts.get("overturned", 0)
            holds = state.holds
            if len(spill_idx):
                via_layer, via_who = _household(holds, spill_idx, hh_idx, citizens)
                trackers[s].update(k, np.concatenate([holds, via_layer]), via_who)
            else:
                trackers[s].update(k, holds)
            months_in[s] += holds
            return s, state, batch

        holds_now = {}
        for s, state, batch in pool.map(advance, SCENARIOS):
            holds_now[s] = state.holds
            if s == "actual":
                actual_events.append(batch)
                events_w.write(batch)
                cols = {
                    "citizen_id": citizens,
                    "month": pl.Series([ends[k]], dtype=pl.Date).extend_constant(ends[k], N - 1),
                    "balance_status": pl.Series(state.ctx["balance_status"], dtype=pl.Int32),
                    "balance_level": pl.Series(state.ctx["balance_level"], dtype=pl.Int32),
                    "status": pl.Series(state.ctx["status"], dtype=pl.Int8),
                    "level": pl.Series(state.ctx["level"], dtype=pl.Int8),
                }
                if band_enum is not None:
                    cols["band"] = pl.Series(state.ctx["band"].astype(np.uint32)).cat.to(band_enum)
                ratings_w.write(pl.DataFrame(cols))
        wrongful += holds_now["actual"] & ~holds_now["perfect_data"]
        fb_added += holds_now["actual"] & ~holds_now["no_feedback"]
        wrong_na = holds_now["no_appeals"] & ~holds_now["perfect_data"]
        wrongful_no_appeals += wrong_na
        prevented += wrong_na & ~holds_now["actual"]
        held = holds_now
        if progress:
            progress(k + 1, M)
    pool.shutdown()
    ratings_w.close()
    events_w.close()

    spells = _spell_table(trackers, policy, citizens, ends, M, spill_idx)
    spells.write_parquet(folder.path / "consequences.parquet", compression="zstd")
    all_events = pl.concat(actual_events, how="vertical")
    err_src = _error_sources(world, all_events)
    wt = _wrongful_table(policy, citizens, months_in, wrongful, fb_added, err_src, wrongful_no_appeals, prevented)
    wt.write_parquet(folder.path / "wrongful.parquet", compression="zstd")
    people.write_parquet(folder.path / "citizens.parquet", compression="zstd")
    if world.truth is not None:
        world.truth.write_parquet(folder.path / "truth.parquet", compression="zstd")

    # The ledger as of the last month end, recomputed from every record received.
    appeals = engines["actual"].appeal_states()
    final = score(all_events, policy, ends[-1], citizens, households=hh, overrides=appeals)
    final.ledger.write_parquet(folder.path / "ledger.parquet", compression="zstd")
    final.quarantine.write_parquet(folder.path / "quarantine.parquet", compression="zstd")
    final.ratings.write_parquet(folder.path / "current_ratings.parquet", compression="zstd")
    final.consequences.write_parquet(folder.path / "current_consequences.parquet", compression="zstd")
    last = engines["actual"]
    same = int(np.sum((final.ratings["status"].to_numpy() == last_ctx(last, policy)["status"])))
    head = None
    n_changes, change_head = 0, None
    if cfg.store:
        from ..store.ledger_store import LedgerStore

        if cfg.db is None:
            (folder.path / "ledger.duckdb").unlink(missing_ok=True)
        with LedgerStore.open(cfg.db or folder.path) as store:
            store.append_entries(final.ledger)
            head = store.head()
            n_changes = store.record_changes(engines["actual"].appeal_changes(policy.contest.review_deadline_days))
            tip = store.changes().tail(1)
            change_head = tip["hash"][0] if tip.height else None
    lint = _lint(policy)
    import json

    (folder.path / "linkage.json").write_text(json.dumps(world.linkage, indent=2, sort_keys=True, default=str) + "\n")
    c = final.counts
    manifest = {
        "kind": "simulation",
        "seed": cfg.seed,
        "seed_scheme": ("numpy SeedSequence(seed, spawn_key=...): (0,) world: its children [0] the population, "
                        "[1] the records over one window from history_start to the last month (the history "
                        "before the start and the run's months are one stream, so a process spanning the "
                        "start carries on); (2, month) feedback draws; (3, month) appeal draws"),
        "history": {"years": hist, "start": (history_start(cfg.start, hist) if hist > 0 else cfg.start).isoformat(),
                    "records_on_file_at_start": on_file,
                    "records_not_loaded": int(world.records_not_loaded),
                    "note": ("records reported before the start are loaded in the first month as the records "
                             "on file, except those that can no longer count (older than the longest expiry "
                             "of the rules for their event type, or of a type the policy does not use); the "
                             "policy's own dates (valid_from) decide which of the loaded ones count")},
        "people": N,
        "years": cfg.years,
        "months": M,
        "start": cfg.start.isoformat(),
        "as_of": ends[-1].isoformat(),
        "month_ends": [e.isoformat() for e in ends],
        "world": world.generator,
        "policy": {"name": policy.name, "version": policy.version, "sha256": policy_hash(policy), "origin": cfg.policy},
        "feedback": asdict(fb),
        "appeals_model": policy.contest.simulation.model_dump(),
        "scenarios": list(SCENARIOS),
        "counts": {**{k2: int(v) for k2, v in c.items()},
                   "records_seen_by_scenario": event_counts, "feedback_records_by_scenario": extra_counts,
                   "appeals_by_scenario": appeal_counts,
                   "consequence_spells": spells.height,
                   "records_linked": world.seen.height,
                   "records_reported_after_last_month": int(after_horizon)},
        "rows": {"citizens": N, "ratings": N * M, "events": all_events.height, "ledger": final.ledger.height,
                 "consequences": spells.height, "wrongful": wt.height, "quarantine": final.quarantine.height,
                 "current_ratings": final.ratings.height, "current_consequences": final.consequences.height},
        "checks": {
            "events_in == accepted + quarantined": c["events_in"] == c["accepted"] + c["quarantined"],
            "final status: monthly engine == full recompute (citizens agreeing)": f"{same} of {N}",
            "note": ("the monthly engine scores a late record when it arrives (caps allocated in arrival "
                     "order), the full recompute by date; they differ only for late records in capped or "
                     "closable groups"),
        },
        "ledger_store": {"file": "ledger.duckdb" if cfg.db is None else _redact(cfg.db), "head": head} if head else None,
        "changes": {"store": "ledger.duckdb" if cfg.db is None else _redact(cfg.db), "count": n_changes,
                    "head": change_head,
                    "note": "simulated appeals, recorded as hash-chained state changes"} if head else None,
        "lint": lint,
        "shard_size": N,
    }
    folder.write_manifest(manifest)
    return manifest


def _redact(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def last_ctx(engine: MonthlyEngine, policy) -> dict:
    from ..engine.evaluate import derive

    return derive(engine.bal_s, engine.bal_l, engine.flags, policy)


def _household(holds: np.ndarray, spill_idx: np.ndarray, hh_idx: np.ndarray, citizens: np.ndarray):
    """Household members of a holder of a spill-over consequence hold it too, via them
    (the household's lowest citizen id among the holders)."""
    N = holds.shape[1]
    via = np.zeros((len(spill_idx), N), bool)
    who = np.full((len(spill_idx), N), -1, np.int64)
    big = np.iinfo(np.int64).max
    for i, j in enumerate(spill_idx):
        h = holds[j]
        first = np.full(hh_idx.max() + 1, big)
        np.minimum.at(first, hh_idx[h], citizens[h])
        has = first[hh_idx] != big
        via[i] = has & ~h
        who[i] = np.where(via[i], first[hh_idx], -1)
    return via, who


def _spell_table(trackers, policy, citizens, ends, M, spill_idx) -> pl.DataFrame:
    frames = []
    C = len(policy.consequences)
    ids = [c.id for c in policy.consequences]
    contexts = sorted({c.context for c in policy.consequences})
    kind_code = np.array([["privilege", "restriction"].index(c.kind) for c in policy.consequences])
    ctx_code = np.array([contexts.index(c.context) for c in policy.consequences])
    end_dates = pl.Series([e for e in ends], dtype=pl.Date)
    for s, tr in trackers.items():
        layer, cit, start, end, via = tr.close()
        if not len(cit):
            continue
        own = layer < C
        j = np.where(own, layer, spill_idx[np.maximum(layer - C, 0)] if len(spill_idx) else 0)
        frames.append(pl.DataFrame({
            "citizen_id": citizens[cit],
            "scenario": pl.Series([s], dtype=SCENARIO_ENUM).extend_constant(s, len(cit) - 1),
            "consequence_id": pl.Series(j.astype(np.uint32)).cat.to(pl.Enum(ids)),
            "kind": pl.Series(kind_code[j].astype(np.uint32)).cat.to(KIND_ENUM),
            "context": pl.Series(ctx_code[j].astype(np.uint32)).cat.to(pl.Enum(contexts)).cast(pl.String),
            "start_month": end_dates.gather(start),
            "end_month": end_dates.gather(pl.Series(np.where(end < 0, 0, end)).set(pl.Series(end < 0), None)),
            "months": pl.Series(np.where(end < 0, M, end) - start, dtype=pl.Int16),
            "via_citizen_id": pl.Series(np.where(own, 0, via)).set(pl.Series(own), None),
        }))
    if not frames:
        return pl.DataFrame(schema={"citizen_id": pl.Int64, "scenario": SCENARIO_ENUM, "consequence_id": pl.Enum(ids),
                                    "kind": KIND_ENUM, "context": pl.String, "start_month": pl.Date,
                                    "end_month": pl.Date, "months": pl.Int16, "via_citizen_id": pl.Int64})
    return pl.concat(frames).sort(["scenario", "consequence_id", "citizen_id", "start_month"])


def _error_sources(world: World, events: pl.DataFrame) -> pl.DataFrame:
    """Per citizen: the sources of records wrongly attached to them (erroneous or mislinked)."""
    if world.truth is None:
        return pl.DataFrame(schema={"citizen_id": pl.Int64, "error_sources": pl.String})
    t = world.truth.select("source", "record_id", "true_citizen_id", "erroneous")
    j = events.select("citizen_id", pl.col("source").cast(pl.String), "record_id").join(
        t.with_columns(pl.col("source").cast(pl.String)), on=["source", "record_id"], how="inner")
    bad = j.filter(pl.col("erroneous") | (pl.col("true_citizen_id") != pl.col("citizen_id"))
                   | pl.col("true_citizen_id").is_null())
    return bad.group_by("citizen_id").agg(pl.col("source").unique().sort().str.join(",").alias("error_sources"))


def _wrongful_table(policy, citizens, months_in, wrongful, fb_added, err_src, wrongful_na, prevented) -> pl.DataFrame:
    frames = []
    for j, c in enumerate(policy.consequences):
        idx = np.flatnonzero((months_in["actual"][j] > 0) | (months_in["no_appeals"][j] > 0))
        frames.append(pl.DataFrame({
            "citizen_id": citizens[idx],
            "consequence_id": pl.Series([c.id] * len(idx), dtype=pl.Enum([x.id for x in policy.consequences])),
            "kind": pl.Series([c.kind] * len(idx), dtype=KIND_ENUM),
            "months_actual": pl.Series(months_in["actual"][j][idx], dtype=pl.Int16),
            "months_perfect_data": pl.Series(months_in["perfect_data"][j][idx], dtype=pl.Int16),
            "months_no_feedback": pl.Series(months_in["no_feedback"][j][idx], dtype=pl.Int16),
            "wrongful_months": pl.Series(wrongful[j][idx], dtype=pl.Int16),
            "feedback_months": pl.Series(fb_added[j][idx], dtype=pl.Int16),
            "months_no_appeals": pl.Series(months_in["no_appeals"][j][idx], dtype=pl.Int16),
            "wrongful_months_no_appeals": pl.Series(wrongful_na[j][idx], dtype=pl.Int16),
            "appeals_prevented_months": pl.Series(prevented[j][idx], dtype=pl.Int16),
        }))
    out = pl.concat(frames) if frames else pl.DataFrame()
    if frames:  # also when nobody is under anything: the table keeps its columns
        out = out.join(err_src, on="citizen_id", how="left").with_columns(pl.col("error_sources").fill_null(""))
    return out


def _lint(policy) -> list[dict]:
    try:
        from ..policy.lint import lint
    except ImportError:  # pragma: no cover
        return []
    return [{"severity": f.severity, "code": f.code, "target": f.target, "message": f.message, "anchor": f.anchor}
            for f in lint(policy)]
