"""The scenario runner: one shard of citizens through months of a rating in force.

Inputs are explicit: the policy, a `Shard` (the citizens, their households, their records
month by month in each scenario's view, and where feedback records come from), the
`Feedback` and a `Calendar` (first month, month ends, seed). Each month `step(k)` runs
every scenario's month (feedback draws, appeal draws, the engine step, spells) and
returns the actual scenario's records and state; `finish()` returns the shard's spells,
months held and paired counts. Every scenario's state lives in its own `Scenario`
object, so scenarios share nothing mutable and run side by side on the command's pool.

The scenarios (see simulation.py): `actual` (sources' errors, feedback, appeals),
`perfect_data` (no errors: nothing to contest), `no_feedback`, `no_appeals`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import polars as pl

from .. import parallel
from ..engine.monthly import MonthlyEngine, month_ends
from ..store.runfolder import SCENARIOS
from .feedback import Feedback, FeedbackModel
from .world import ENGINE_COLUMNS, blocks_of


@dataclass(frozen=True)
class ScenarioSpec:
    """What a scenario sees and does: its records (the agencies' view or perfect data),
    whether consequences feed back, whether anyone contests."""

    records: str  # "seen" or "perfect"
    feedback: bool
    appeals: bool


SPECS = {"actual": ScenarioSpec("seen", True, True), "perfect_data": ScenarioSpec("perfect", True, False),
         "no_feedback": ScenarioSpec("seen", False, True), "no_appeals": ScenarioSpec("seen", True, False)}
assert tuple(SPECS) == SCENARIOS


@dataclass(frozen=True)
class Calendar:
    """The run's months and the seed of its feedback and appeal streams (one per generation
    block and month, see ``block_stream``); block_size None: one block."""

    start: dt.date
    months: int
    seed: int
    block_size: int | None = None

    @property
    def ends(self) -> list[dt.date]:
        return month_ends(self.start, self.months)

    @property
    def starts(self) -> list[dt.date]:
        return [dt.date(e.year, e.month, 1) for e in self.ends]


@dataclass
class Shard:
    """The citizens one runner covers and everything it reads about them.

    records: per view ("seen", "perfect"), the records reaching the operator in month k
    (ENGINE_COLUMNS, plus `erroneous` in the agencies' view when the world knows it).
    extra(mask, scale, month_start, seed) -> the feedback records of the people in mask."""

    citizens: np.ndarray     # int64 ids, the engine's citizen order
    households: np.ndarray   # household id per citizen
    records: dict[str, list[pl.DataFrame]]
    extra: Callable[[np.ndarray, np.ndarray, dt.date, np.random.SeedSequence], pl.DataFrame]

    @property
    def household_index(self) -> np.ndarray:
        return np.unique(self.households, return_inverse=True)[1]


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
        """(layer, citizen index, start month, end month or -1 if still running, via id)."""
        for j in range(self.since.shape[0]):
            e = np.flatnonzero(self.since[j] >= 0)
            if len(e):
                self._emit(j, e, -1)
        if not self.rows:
            z = np.zeros(0, np.int64)
            return z, z, z, z, z
        return tuple(np.concatenate([r[i] for r in self.rows]) for i in range(5))


def household_holds(holds: np.ndarray, spill_idx: np.ndarray, hh_idx: np.ndarray, citizens: np.ndarray):
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


@dataclass
class Scenario:
    """One scenario's state: its engine, spells, last month's holds and its counters."""

    name: str
    spec: ScenarioSpec
    engine: MonthlyEngine
    tracker: SpellTracker
    held: np.ndarray       # C x N: consequences held at the last month end
    months_in: np.ndarray  # C x N: months held so far
    counts: dict[str, int] = field(default_factory=lambda: {"records": 0, "feedback_records": 0,
                                                            "contested": 0, "overturned": 0})


@dataclass
class MonthOutcome:
    """What one month leaves for the outputs: the actual scenario's records and state."""

    k: int
    records: pl.DataFrame
    state: object  # engine.monthly's month state: .ctx (ratings), .holds, .counts


@dataclass
class PairedMonths:
    """Per consequence and citizen (C x N), months counted by comparing scenarios."""

    wrongful: np.ndarray             # actual but not perfect_data
    feedback: np.ndarray             # actual but not no_feedback
    wrongful_no_appeals: np.ndarray  # no_appeals but not perfect_data
    prevented: np.ndarray            # wrongful without appeals, not in actual

    @classmethod
    def zeros(cls, shape: tuple[int, int]) -> "PairedMonths":
        return cls(*(np.zeros(shape, np.int16) for _ in range(4)))

    def add(self, holds: dict[str, np.ndarray]) -> None:
        self.wrongful += holds["actual"] & ~holds["perfect_data"]
        self.feedback += holds["actual"] & ~holds["no_feedback"]
        wrong_na = holds["no_appeals"] & ~holds["perfect_data"]
        self.wrongful_no_appeals += wrong_na
        self.prevented += wrong_na & ~holds["actual"]


@dataclass
class ShardResult:
    """A finished shard: each scenario (engine, months held, counters), the spells per
    scenario as tracker rows, and the paired month counts."""

    scenarios: dict[str, Scenario]
    spells: dict[str, tuple[np.ndarray, ...]]
    paired: PairedMonths
    spill_idx: np.ndarray


@dataclass
class MonthInput:
    """One scenario's month as the engine takes it: the records (feedback records last),
    how many of them are feedback records, and the appeal draws per record (or None)."""

    batch: pl.DataFrame
    feedback_records: int = 0
    contested: np.ndarray | None = None
    overturned: np.ndarray | None = None

    def take(self, rows: np.ndarray, feedback_records: int) -> "MonthInput":
        """The rows `rows` of this month (one shard's records, in order)."""
        pick = (lambda a: None if a is None else a[rows])
        return MonthInput(self.batch[rows], feedback_records, pick(self.contested), pick(self.overturned))


#: SeedSequence branches of the monthly streams: block 0 (2, k) feedback, (3, k) appeals, as
#: before blocks had streams; block b >= 1 (5, b, k) feedback, (6, b, k) appeals
_BRANCH = {"feedback": (2, 5), "appeals": (3, 6)}


def block_stream(calendar: Calendar, kind: str, k: int, block: int) -> np.random.SeedSequence:
    """The stream of ``kind`` ("feedback" or "appeals") for generation block ``block`` in month k."""
    first, other = _BRANCH[kind]
    key = (first, k) if block == 0 else (other, block, k)
    return np.random.SeedSequence(calendar.seed, spawn_key=key)


def feedback_seed(calendar: Calendar, k: int) -> Callable[[int], np.random.SeedSequence]:
    """Month k's feedback stream per generation block (what ``World.extra`` takes)."""
    return lambda block: block_stream(calendar, "feedback", k, block)


def appeal_draws(calendar: Calendar, k: int, citizen_ids: np.ndarray) -> np.ndarray:
    """Two uniforms per record (2 x n): each generation block's records, in their order here,
    draw from the block's month-k appeals stream, so a record's draws do not depend on which
    other blocks' records share the batch (the shard)."""
    blocks = blocks_of(citizen_ids, calendar.block_size)
    u = np.empty((2, len(blocks)))
    if not len(blocks):
        return u
    order = np.argsort(blocks, kind="stable")
    first = np.flatnonzero(np.r_[True, blocks[order][1:] != blocks[order][:-1]])
    for b, rows in zip(blocks[order][first], np.split(order, first[1:])):
        u[:, rows] = np.random.default_rng(block_stream(calendar, "appeals", k, int(b))).random((2, len(rows)))
    return u


def month_input(policy, spec: ScenarioSpec, month: pl.DataFrame, extra: pl.DataFrame | None,
                calendar: Calendar, k: int) -> MonthInput:
    """The month's records plus the feedback records (`extra`), and, when the scenario
    contests, who contests each record and whether the reviewer overturns it: drawn from
    the month's appeals stream of each record's generation block (``appeal_draws``)."""
    batch = month.select(ENGINE_COLUMNS)
    n_extra = 0
    if extra is not None and extra.height:
        extra = extra.with_columns(pl.col(c).cast(batch.schema[c]) for c in ENGINE_COLUMNS)
        n_extra = extra.height
        batch = pl.concat([batch, extra], how="vertical")
    contested = overturned = None
    if spec.appeals and policy.contest.allowed:
        am, n = policy.contest.simulation, batch.height
        wrong = np.zeros(n, bool)
        if "erroneous" in month.columns:
            wrong[: month.height] = month["erroneous"].to_numpy()
        u = appeal_draws(calendar, k, batch["citizen_id"].fill_null(-1).to_numpy())
        contested = u[0] < np.where(wrong, am.share_contesting_erroneous, am.share_contesting_correct)
        overturned = contested & (u[1] < np.where(wrong, am.reviewer_accuracy, am.wrong_overturn))
    return MonthInput(batch, n_extra, contested, overturned)


def same_month(scenarios: list[Scenario], inputs: "dict[str, MonthInput]") -> dict[str, str]:
    """Scenarios whose engine step this month is another's, by name: {scenario: the earlier
    scenario it repeats}. Only before the first step, when every engine is in the same state
    (the same policy and citizens, nothing scored yet), and only for the same input: the
    same records (the first month is every record on file; feedback adds none yet, as no
    one held anything last month) and the same appeal draws, or none. So `actual` and
    `no_feedback` score the records on file once (`no_appeals` differs: nobody contests)."""
    # the draws first: comparing them is cheaper than comparing the records
    return _repeats(scenarios, inputs, lambda a, b: _same(a.contested, b.contested)
                    and _same(a.overturned, b.overturned) and _same_records(a, b))


def same_records(scenarios: list[Scenario], inputs: "dict[str, MonthInput]") -> dict[str, str]:
    """Before the first step, scenarios given the same records as an earlier one (their
    appeal draws may differ): {scenario: the earlier one}. Their engines are in the same
    state, so the records score alike (`MonthlyEngine.score_month`), once for all of them;
    what the appeals change comes after (so `no_appeals` scores the records on file with
    `actual`)."""
    return _repeats(scenarios, inputs, _same_records)


def _repeats(scenarios: list[Scenario], inputs: "dict[str, MonthInput]", alike) -> dict[str, str]:
    if any(sc.engine.k for sc in scenarios):  # not all in the first state any more
        return {}
    like: dict[str, str] = {}
    for i, sc in enumerate(scenarios):
        first = next((f for f in scenarios[:i] if f.name not in like and alike(inputs[sc.name], inputs[f.name])), None)
        if first is not None:
            like[sc.name] = first.name
    return like


def _same_records(a: "MonthInput", b: "MonthInput") -> bool:
    return a.feedback_records == b.feedback_records and a.batch.equals(b.batch)


def _same(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    return (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))


class ScenarioRunner:
    """Runs the paired scenarios of one shard month by month (see the module docstring)."""

    def __init__(self, policy, shard: Shard, feedback: Feedback, calendar: Calendar):
        self.policy, self.shard, self.calendar = policy, shard, calendar
        cons = policy.consequences
        C, N = len(cons), len(shard.citizens)
        self.hh_idx = shard.household_index
        self.feedback = FeedbackModel(feedback, cons, self.hh_idx)
        self.spill_idx = np.flatnonzero(np.array([c.applies_to_household for c in cons], bool))
        self.starts = calendar.starts
        self.scenarios = {
            s: Scenario(s, spec, MonthlyEngine(policy, shard.citizens, calendar.start, calendar.months),
                        SpellTracker(C + len(self.spill_idx), N, C), np.zeros((C, N), bool),
                        np.zeros((C, N), np.int16))
            for s, spec in SPECS.items()}
        self.paired = PairedMonths.zeros((C, N))

    def step(self, k: int, inputs: "dict[str, MonthInput] | None" = None) -> MonthOutcome:
        """Month k of every scenario (side by side on the pool), then the paired counts.
        inputs: each scenario's records and appeal draws, made by a caller over the whole
        population when this runner is one shard of many (shards.py); by default drawn here."""
        pool = parallel.current()
        scenarios = list(self.scenarios.values())

        ledgers: dict = {}

        def advance(sc: Scenario):
            inp = inputs[sc.name] if inputs is not None else self.month_input(sc, k)
            return self._advance(sc, k, inp, sc.engine.step(inp.batch, contested=inp.contested,
                                                            overturned=inp.overturned, ledger=ledgers.get(sc.name)))

        like: dict[str, str] = {}
        if not any(sc.engine.k for sc in scenarios):  # the first month: some scenarios' may be the same
            if inputs is None:
                inputs = dict(zip(self.scenarios, pool.map(lambda sc: self.month_input(sc, k), scenarios)))
            like = same_month(scenarios, inputs)
            for name, first in same_records([sc for sc in scenarios if sc.name not in like], inputs).items():
                if first not in ledgers:  # the records scored once (the pool's threads score them)
                    ledgers[first] = self.scenarios[first].engine.score_month(inputs[first].batch)
                ledgers[name] = ledgers[first]
        stepped = [sc for sc in scenarios if sc.name not in like]
        out = dict(zip([sc.name for sc in stepped], pool.map(advance, stepped)))
        for name, twin in like.items():  # the same month from the same state: the twin's step, forked
            sc = self.scenarios[name]
            sc.engine = self.scenarios[twin].engine.fork()
            out[name] = self._advance(sc, k, inputs[name], out[twin][0])
        done = [out[sc.name] for sc in scenarios]
        holds = {sc.name: state.holds for sc, (state, _) in zip(scenarios, done)}
        self.paired.add(holds)
        for sc in self.scenarios.values():
            sc.held = holds[sc.name]
        state, records = done[0]
        return MonthOutcome(k, records, state)

    def month_input(self, sc: Scenario, k: int) -> "MonthInput":
        """One scenario's month drawn over this runner's citizens: its records, the feedback
        records last month's holds cause, who contests and what the reviewer decides."""
        month = self.shard.records[sc.spec.records][k]
        extra = None
        if sc.spec.feedback:
            scale = self.feedback.scale(sc.held)
            extra = self.shard.extra(scale > 0, scale, self.starts[k], feedback_seed(self.calendar, k))
        return month_input(self.policy, sc.spec, month, extra, self.calendar, k)

    def _advance(self, sc: Scenario, k: int, inp: "MonthInput", state):
        """One scenario's month after its engine's step (``state``); touches only that
        scenario's state."""
        batch = inp.batch
        sc.counts["records"] += batch.height
        sc.counts["feedback_records"] += inp.feedback_records
        sc.counts["contested"] += state.counts.get("contested", 0)
        sc.counts["overturned"] += state.counts.get("overturned", 0)
        holds = state.holds
        if len(self.spill_idx):
            via_layer, via_who = household_holds(holds, self.spill_idx, self.hh_idx, self.shard.citizens)
            sc.tracker.update(k, np.concatenate([holds, via_layer]), via_who)
        else:
            sc.tracker.update(k, holds)
        sc.months_in += holds
        return state, batch

    def finish(self) -> ShardResult:
        return ShardResult(self.scenarios, {s: sc.tracker.close() for s, sc in self.scenarios.items()},
                           self.paired, self.spill_idx)
