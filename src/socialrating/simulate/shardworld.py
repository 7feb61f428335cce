"""A run built and run shard by shard, memory bounded by the shard (issue #15).

A shard is a run of whole generation blocks (population/generate.py: households never
cross a block). The coordinator streams the population block by block and writes each
shard's people (`citizens`, a part per shard). Then each shard, wherever the executor runs
it (executors.py: this process, as many at once as the pool has threads; a LocalCluster; a
tcp:// cluster):

1. `build`: generates its blocks' records (each block from its own streams,
   synthetic_world.block_records), links them against the national register (everybody's,
   `national_register`), writes its truth, and sends every linked record to the shard of
   the citizen it was linked to: Parquet files in the run's work area (the shuffle: its
   own citizens' records in one file, the others' in another that `deliver` passes on);
2. `run`: reads what was sent to it, in the order the whole run has them, and runs every
   month of every scenario alone: feedback and appeal draws have a stream per block and
   households never cross a block, so no month needs another shard;
3. `finish(row_offset)`: scores its events as of the last month end and writes its parts.
   Its events are in block order (outputs.block_major), so the parts read in order are the
   whole run's events, and entries are numbered after the shards before it: entry_id >> 3
   is the row in the events table whatever the sharding.

The coordinator merges only small things: tallies, the linkage report (counts summed,
ratios recomputed), the appeals (as the store's state changes), the manifest; it appends
the shards' ledger parts to the hash-chained store in shard order. One shard writes the
single files of an unsharded run.
"""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from .. import parallel
from ..engine.ledger import SLOT_BITS
from ..engine.monthly import MonthlyEngine
from ..engine.score import score
from ..store.runfolder import RunFolder, write_table
from . import outputs as O
from .runner import Calendar, ScenarioRunner
from .world import World

WORK = "_work"  # the shuffle's files, inside the run folder while it is built; removed at the end
FOREIGN = "foreign"  # under WORK: per shard, its records linked to other shards' citizens
_ORDER = ["reported_on", "_s", "_o", "_r"]  # arrival order: day, source, shard (blocks), agency order


def in_arrival_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by _ORDER. The keys pack into one int64 (the day from the first, the
    source, the shard, the row: distinct, as (shard, row) is), and numpy's sort of that
    column takes a quarter of the CPU of polars' four-column stable sort; keys too wide to
    pack (never for real dates and shards) take the polars sort."""
    if frame.height < 2:
        return frame
    cols = [frame[c].to_physical().cast(pl.Int64).to_numpy() for c in _ORDER]
    cols[0] = cols[0] - cols[0].min()
    widths = [max(int(c.max()).bit_length(), 1) for c in cols]
    if min(int(c.min()) for c in cols) < 0 or sum(widths) > 63:
        return frame.sort(_ORDER, maintain_order=True)
    key = np.zeros(frame.height, np.int64)
    for c, w in zip(cols, widths):
        key = (key << np.int64(w)) | c
    return frame[np.argsort(key)]


@dataclass(frozen=True)
class ShardJob:
    """What one shard needs to know, small enough to ship to a worker."""

    index: int
    of: int
    blocks: tuple[int, ...]
    folder: str
    uppers: tuple[int, ...]  # per shard: one past its last citizen id (the owner of a record)


def plan(people: int, block_size: int, shards: int) -> list[tuple[int, ...]]:
    """Generation blocks per shard: `shards` contiguous runs of whole blocks, as even as
    they can be (fewer shards when there are fewer blocks)."""
    if shards < 1:
        raise ValueError(f"--shards: expected 1 or more, got {shards}")
    n_blocks = max(1, -(-people // block_size))
    return [tuple(int(b) for b in p) for p in np.array_split(np.arange(n_blocks), min(shards, n_blocks))]


def write_citizens(cfg, folder: RunFolder, blocks: list[tuple[int, ...]], block_size: int) -> list[int]:
    """Stream the population block by block (identifier counters carry across blocks) and
    write each shard's people as its citizens part; returns each shard's upper citizen id."""
    from ..population.generate import iter_population_shards

    pop_seed = np.random.SeedSequence(cfg.seed, spawn_key=(0,)).spawn(2)[0]
    stream = iter_population_shards(cfg.people, pop_seed, shard_size=block_size, as_of=cfg.start,
                                    block_size=block_size)
    uppers = []
    for i, mine in enumerate(blocks):
        people = pl.concat([next(stream) for _ in mine], rechunk=True) if len(mine) > 1 else next(stream)
        write_table(people, O.table_path(folder, "citizens", i, len(blocks)))
        uppers.append(int(people["citizen_id"][-1]) + 1 if people.height else 0)
    return uppers


class ShardWorld:
    """One shard where it runs: its world, its months, its parts (see the module docstring)."""

    def __init__(self, cfg, policy, hist: float, job: ShardJob):
        from .simulation import history_start, on_file_mask
        from .synthetic_world import block_size_of

        self.cfg, self.policy, self.hist, self.job = cfg, policy, hist, job
        self.folder = RunFolder(job.folder)
        self.block_size = block_size_of(cfg.block_size) if cfg.world == "synthetic" else None
        self.first = history_start(cfg.start, hist) if hist > 0 else cfg.start
        self.keep = on_file_mask(policy, cfg.start) if hist > 0 else None
        self.calendar = Calendar(cfg.start, cfg.months, cfg.seed, self.block_size)
        self.world: World | None = None
        self.given = False  # a world built whole: this shard writes its citizens and truth at the end

    @classmethod
    def of_world(cls, cfg, policy, hist: float, folder: RunFolder, world: World) -> "ShardWorld":
        """The one shard of a run whose world is already built (the league's, or the basic world)."""
        job = ShardJob(0, 1, (0,), str(folder.path), (np.iinfo(np.int64).max,))
        me = cls(cfg, policy, hist, job)
        me.block_size, me.world, me.given = world.block_size, world, True
        me.calendar = Calendar(cfg.start, cfg.months, cfg.seed, world.block_size)
        return me

    def _work(self, *parts: str) -> Path:
        return self.folder.path / WORK / Path(*parts)

    def _citizens(self, shard: int) -> Path:
        return O.table_path(self.folder, "citizens", shard, self.job.of) if self.job.of > 1 else \
            self.folder.path / "citizens.parquet"

    def build(self) -> dict:
        """Its blocks' records, linked nationally; the linked records sent to their shards."""
        from ..sources.link import link_sources
        from .synthetic_world import _linkage, _perfect, block_records, flagged, merge_batches, national_register

        job, cfg = self.job, self.cfg
        # the register first: built (by the first shard to ask) before any records are held
        register = national_register([self._citizens(i) for i in range(job.of)], spill_dir=self._work())
        people = pl.read_parquet(self._citizens(job.index))
        span = cfg.years + (cfg.start - self.first).days / 365.25
        made = [block_records(people.slice((b - job.blocks[0]) * self.block_size, self.block_size),
                              self.first, span, cfg.seed, b, self.keep, max(1, -(-cfg.people // self.block_size)))
                for b in job.blocks]
        batch, twin = merge_batches([m[0] for m in made]), merge_batches([m[1] for m in made])
        del made
        results = link_sources(batch.records, register)
        del register
        seen = flagged(results, batch.truth, batch.truth_rows)
        linkage = _linkage(results, batch, seen.height)
        del results
        if batch.truth is not None:
            write_table(batch.truth, O.table_path(self.folder, "truth", job.index, job.of))
        self._work("perfect").mkdir(parents=True, exist_ok=True)
        # the shuffle's files are written as the run's tables are (record ids prefix-coded,
        # integers as deltas): they are most of the folder when every shard is built
        write_table(_perfect(twin), self._work("perfect", f"{job.index:05d}.parquet"))
        seen = seen.with_columns(_s=_source_rank(seen["source"], list(batch.records)), _o=pl.lit(job.index, pl.Int32),
                                 _r=pl.int_range(pl.len(), dtype=pl.Int64))
        owner = np.searchsorted(np.array(job.uppers, np.int64), seen["citizen_id"].fill_null(-1).to_numpy(),
                                side="right")
        owner = np.minimum(owner, job.of - 1)
        here = owner == job.index
        self._work("to", f"{job.index:05d}").mkdir(parents=True, exist_ok=True)
        write_table(seen.filter(pl.Series(here)), self._work("to", f"{job.index:05d}", f"{job.index:05d}.parquet"))
        if not here.all():  # linked to other shards' citizens: one file, delivered by the coordinator (deliver)
            self._work(FOREIGN).mkdir(parents=True, exist_ok=True)
            write_table(seen.filter(pl.Series(~here)).with_columns(_to=pl.Series(owner[~here].astype(np.int32))),
                        self._work(FOREIGN, f"{job.index:05d}.parquet"))
        return {"linkage": linkage, "not_loaded": int(batch.not_loaded)}

    def _received(self) -> World:
        """Its world: its people, the records linked to them from every shard in arrival order.
        What it read is deleted at once (only this shard reads it): the shuffle's files on
        disk shrink as the shards run, instead of all staying until the last has finished."""
        from .synthetic_world import _typed

        job = self.job
        inbox, twin = self._work("to", f"{job.index:05d}"), self._work("perfect", f"{job.index:05d}.parquet")
        parts = sorted(inbox.glob("*.parquet"))
        seen = in_arrival_order(pl.concat([pl.read_parquet(p) for p in parts], how="vertical"))
        perfect = pl.read_parquet(twin)
        shutil.rmtree(inbox)
        twin.unlink()
        return World(people=pl.read_parquet(self._citizens(job.index)), seen=_typed(seen.drop(_ORDER[1:])),
                     perfect=_typed(perfect), generator="synthetic-russia", block_size=self.block_size)

    def run(self, progress: Callable[[int], None] | None = None) -> int:
        """Every month of every scenario; returns the number of events (rows the shard adds)."""
        from .simulation import shard_of
        from .synthetic_world import forget_national_register

        forget_national_register()  # every shard was built (linked) before any runs: run_shards
        if self.world is None:
            self.world = self._received()
        self.shard = shard_of(self.world, self.cfg)
        runner = ScenarioRunner(self.policy, self.shard, self.cfg.feedback, self.calendar)
        panel = O.PanelWriter(self.folder, self.policy, self.shard.citizens, self.calendar.ends,
                              shard=self.job.index, of=self.job.of, block_size=self.block_size)
        for k in range(self.cfg.months):
            panel.write(runner.step(k))
            if progress:
                progress(k)
        self.events = panel.close()
        self.result = runner.finish()
        return self.events.height

    def finish(self, row_offset: int) -> dict:
        """Score as of the last month end, entries numbered from `row_offset`; write the parts.
        Returns the tallies, the appeals (entry ids of the whole run) and the ledger part."""
        from .simulation import last_ctx, tallies

        job, policy, folder, shard, result = self.job, self.policy, self.folder, self.shard, self.result
        citizens, ends = shard.citizens, self.calendar.ends
        events, new_row = O.block_major(self.events, self.block_size)
        actual = result.scenarios["actual"].engine
        book = AppealBook(self.calendar, [_renumber(a, new_row, row_offset) for a in actual.appeals])
        path = lambda table: O.table_path(folder, table, job.index, job.of)  # noqa: E731
        spells = O.spell_table(result, policy, citizens, ends)
        write_table(spells, path("consequences"))
        wt = O.wrongful_table(result, policy, citizens, O.error_sources(shard.records["seen"]))
        write_table(wt, path("wrongful"))
        if self.given:
            write_table(self.world.people, folder.path / "citizens.parquet")
            if self.world.truth is not None:
                write_table(self.world.truth, folder.path / "truth.parquet")
        final = score(events, policy, ends[-1], citizens, households=shard.households,
                      overrides=book.appeal_states(), row_offset=row_offset)
        O.write_final(folder, final, job.index, job.of)
        same = int(np.sum(final.ratings["status"].to_numpy() == last_ctx(actual, policy)["status"]))
        counts = tallies(self.world, shard, result, final,
                         {"spells": spells.height, "wrongful": wt.height, "events": events.height, "same": same},
                         self.cfg.start)
        out = {"tallies": counts, "appeals": book.appeals, "ledger": str(path("ledger"))}
        if job.of == 1:
            out["final"] = final  # an unsharded run appends the ledger it has in memory
            out["linkage"] = self.world.linkage
        self.world = self.shard = self.result = self.events = None  # the parts are written
        return out


def _source_rank(source: pl.Series, order: list[str]) -> pl.Series:
    """Each record's source as its position in the sources' order (the arrival tie-break)."""
    return source.cast(pl.String).replace_strict(order, list(range(len(order))), return_dtype=pl.Int32)


def _renumber(appeal: tuple[np.ndarray, ...], new_row: np.ndarray | None, row_offset: int) -> tuple:
    """An appeal batch's entry ids (the shard's month-by-month rows) as the whole run numbers
    them: the row in block order, after `row_offset` rows of the shards before."""
    ids = appeal[0].astype(np.int64)
    row = ids >> SLOT_BITS
    row = row if new_row is None else new_row[row]
    return (((row + row_offset) << SLOT_BITS) | (ids & ((1 << SLOT_BITS) - 1)), *appeal[1:])


class AppealBook:
    """The actual scenario's appeals (entry ids of the whole run) as the store reads them:
    the states to score with, the state changes to record. Several shards' books add up."""

    appeal_states = MonthlyEngine.appeal_states
    appeal_changes = MonthlyEngine.appeal_changes

    def __init__(self, calendar: Calendar, appeals: list[tuple[np.ndarray, ...]]):
        self.ends = calendar.ends
        self.k = calendar.months
        self.appeals = appeals


def add_tallies(a: dict, b: dict) -> dict:
    """Two shards' tallies as one: numbers add, nested counters add key by key."""
    out = dict(a)
    for key, v in b.items():
        if isinstance(v, dict):
            out[key] = add_tallies(out.get(key, {}), v)
        else:
            out[key] = out.get(key, 0) + v
    return out


def _ratio(a: int, b: int) -> float | None:
    return None if b == 0 else round(a / b, 6)


def merge_linkage(reports: list[dict]) -> dict:
    """The shards' linkage reports as the whole run's: counts summed, ratios recomputed
    (precision = correct / (correct + wrongly linked), recall = correct / with a true citizen)."""
    def add(a: dict, b: dict) -> dict:
        out = dict(a)
        for key, v in b.items():
            if isinstance(v, dict):
                out[key] = add(out.get(key, {}), v)
            elif isinstance(v, int) and not isinstance(v, bool):
                out[key] = out.get(key, 0) + v
        return out

    def ratios(d: dict) -> dict:
        for v in d.values():
            if isinstance(v, dict):
                ratios(v)
        if "wrongly_linked" in d:
            d["precision"] = _ratio(d["correct"], d["correct"] + d["wrongly_linked"])
            d["recall"] = _ratio(d["correct"], d["with_true_citizen"])
        elif "correct" in d and "linked" in d:
            d["precision"] = _ratio(d["correct"], d["linked"])
        return d

    total: dict = {}
    for r in reports:
        total = add(total, r)
    total = ratios(total)
    total["records_in == linked + quarantined"] = (
        total["records_in"] == total["records_linked"] + total["records_quarantined"])
    return total


def run_shards(cfg, policy, hist: float, folder: RunFolder, shards: int, executor,
               shard_progress: Callable[[int, int, int], None] | None = None,
               on_finished: Callable[[dict], None] | None = None,
               shards_done: Callable[[str, int, int], None] | None = None) -> tuple[list[dict], dict, int]:
    """Every shard's build, months and finish on `executor`; returns the shards' results in
    shard order, the merged linkage report and the records not loaded. ``on_finished``
    gets each shard's result as it finishes, in shard order (the store's writer);
    ``shards_done(stage, done, of)`` is told, in shard order, as each shard is "built" and
    as each has "run" (its months and finish)."""
    from .synthetic_world import block_size_of

    bs = block_size_of(cfg.block_size)
    blocks = plan(cfg.people, bs, shards)
    K = len(blocks)
    uppers = write_citizens(cfg, folder, blocks, bs)
    uppers[-1] = int(np.iinfo(np.int64).max)  # a record of an unknown citizen: the last shard's
    jobs = [ShardJob(i, K, b, str(folder.path), tuple(uppers)) for i, b in enumerate(blocks)]
    workers = [executor.spawn(ShardWorld, cfg, policy, hist, job) for job in jobs]
    between = lambda: deliver(folder, K)  # noqa: E731 - every shard built, none run yet
    if not getattr(executor, "parallel", False) and getattr(executor, "side_by_side", 1) > 1:
        built, finished = _side_by_side(workers, shard_progress, on_finished, shards_done, between)
    else:
        built, finished = _in_turn(executor, workers, cfg.months, shard_progress, on_finished, shards_done, between)
    executor.forget(workers)
    shutil.rmtree(folder.path / WORK, ignore_errors=True)
    return finished, merge_linkage([b["linkage"] for b in built]), sum(b["not_loaded"] for b in built)


def deliver(folder: RunFolder, shards: int) -> int:
    """Once every shard is built: the records each linked to other shards' citizens (one file
    a shard) sent on to those shards' inboxes, one file each; returns the records delivered.

    A shard writing a file for every other shard that got a record made shards x shards
    files (1.2M at 146M people in 1,114 shards, most of one or two records: a wrong link
    sends a record anywhere in the nation), and a filter per file: quadratic in the shards.
    So the few such records (the linkage's own errors: about 0.05% of records) go through
    here, in one pass, and each shard reads two files: its own records and what others sent."""
    src = folder.path / WORK / FOREIGN
    files = sorted(src.glob("*.parquet")) if src.exists() else []
    if not files:
        return 0
    sent = pl.concat([pl.read_parquet(p) for p in files], how="vertical")
    for (to,), part in sent.partition_by("_to", as_dict=True, include_key=False, maintain_order=True).items():
        inbox = folder.path / WORK / "to" / f"{int(to):05d}"
        inbox.mkdir(parents=True, exist_ok=True)
        write_table(part, inbox / "from-others.parquet")
    shutil.rmtree(src)
    return sent.height


def _in_turn(executor, workers: list, months: int, shard_progress, on_finished,
             shards_done, between: Callable[[], object] = lambda: None) -> tuple[list[dict], list[dict]]:
    """Every build, then each shard's months and finish in shard order: one after the other
    in this process (each finished before the next runs: one shard's memory), or every
    shard's months at once on a Dask cluster (`executor.parallel`), then the finishes."""
    K = len(workers)
    built = []
    for f in [w.call("build") for w in workers]:  # every shard sent before any reads
        built.append(f.result())
        if shards_done:
            shards_done("built", len(built), K)
    between()
    finished, offset = [], 0
    if getattr(executor, "parallel", False):
        sizes = [f.result() for f in [w.call("run") for w in workers]]
        for i, w in enumerate(workers):
            if shard_progress:
                shard_progress(months - 1, i + 1, K)
            finished.append(w.call("finish", offset).result())
            offset += sizes[i]
            _done(finished, K, on_finished, shards_done)
    else:
        for i, w in enumerate(workers):
            size = w.call("run", (lambda k, i=i: shard_progress(k, i + 1, K)) if shard_progress else None).result()
            finished.append(w.call("finish", offset).result())
            offset += size
            _done(finished, K, on_finished, shards_done)
    return built, finished


def _done(finished: list[dict], of: int, on_finished, shards_done) -> None:
    """The last of `finished` to the store's writer, and said."""
    if on_finished:
        on_finished(finished[-1])
    if shards_done:
        shards_done("run", len(finished), of)


class _Cancelled(Exception):
    """A shard not started because an earlier one failed."""


def _side_by_side(workers: list, shard_progress, on_finished, shards_done=None,
                  between: Callable[[], object] = lambda: None) -> tuple[list[dict], list[dict]]:
    """The shards of one process on the command's pool, as many at once as it has threads
    (each shard's own parallel work then runs on its thread: a whole shard is a coarser
    grain than a month's scenarios, and the cores stay busy where one shard's serial parts
    left one idle). First every build (every record sent before any shard reads), then each
    shard's months and finish; a finish waits for the sizes of the shards before it (its
    entry numbers). Returns the builds' and finishes' results in shard order, and gives each
    finish to ``on_finished`` in that order as it arrives. Memory: as many shards at once as
    the pool has threads (simulate/plan.py counts them)."""
    pool = parallel.current()
    K = len(workers)
    stop = threading.Event()
    sizes: list[Future] = [Future() for _ in workers]

    def build(w) -> dict:
        if stop.is_set():
            raise _Cancelled()
        try:
            return w.call("build").result()
        except BaseException:
            stop.set()  # the shards not started yet do not start
            raise

    def run(i: int, w) -> dict:
        if stop.is_set():
            sizes[i].set_exception(_Cancelled())
            raise _Cancelled()
        try:
            prog = (lambda k: shard_progress(k, i + 1, K)) if shard_progress else None
            sizes[i].set_result(w.call("run", prog).result())
            return w.call("finish", sum(f.result() for f in sizes[:i])).result()
        except BaseException as exc:
            stop.set()
            if not sizes[i].done():
                sizes[i].set_exception(exc)
            raise

    built = _in_order([pool.submit(build, w) for w in workers], stop,
                      (lambda n, _: shards_done("built", n, K)) if shards_done else None)
    between()
    finished: list[dict] = []
    _in_order([pool.submit(run, i, w) for i, w in enumerate(workers)], stop,
              lambda _, r: finished.append(r) or _done(finished, K, on_finished, shards_done))
    return built, finished


def _in_order(futures: list[Future], stop: threading.Event, each: Callable[[int, dict], None] | None = None) -> list:
    """The futures' results in order (``each(n, result)`` called on the n-th as it comes). On the first
    error the shards not started are cancelled, the running ones are waited for (nothing
    writes into the run folder after this returns), and the error is raised."""
    out = []
    try:
        for f in futures:
            out.append(f.result())
            if each:
                each(len(out), out[-1])
    except BaseException as exc:
        stop.set()
        for f in futures:
            f.cancel()
        wait(futures)
        if isinstance(exc, _Cancelled):  # the shard that failed, not one it stopped
            exc = next((e for f in futures if not f.cancelled() and (e := f.exception()) is not None
                        and not isinstance(e, _Cancelled)), exc)
        raise exc
    return out


class StoreWriter:
    """The shards' ledgers appended to the hash-chained store as each shard finishes, on
    one background thread, while the next shards run their months; at the end the
    appeals as state changes. Appending is DuckDB's work (it releases the interpreter), and
    at the end of a national run it was a serial tail of about a sixth of the wall time.

    Whole hash blocks at a time, the rest carried to the next part: the store's blocks (and
    head) are those of the whole ledger appended at once (shards' entry ids ascend), in
    whatever order of time the parts arrive, as they are added in shard order."""

    def __init__(self, folder: RunFolder, db: str | None):
        from concurrent.futures import ThreadPoolExecutor

        from ..store.ledger_store import DEFAULT_FILE, LedgerStore, remove_duckdb_store

        if db is None:
            remove_duckdb_store(folder.path / DEFAULT_FILE)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="socialrating-store")
        try:
            self._store = self._pool.submit(LedgerStore.open, db or folder.path).result()
        except BaseException:  # e.g. an unreachable PostgreSQL store: no thread left behind
            self._pool.shutdown(wait=True)
            raise
        self._carry: pl.DataFrame | None = None
        self._pending: list = []

    def add(self, finished: dict) -> None:
        """Queue one finished shard's ledger (in shard order); an earlier append's error
        is raised here, at once."""
        for f in [f for f in self._pending if f.done()]:
            f.result()
            self._pending.remove(f)
        part = finished["final"].ledger if "final" in finished else finished["ledger"]
        self._pending.append(self._pool.submit(self._append, part))

    def _append(self, part) -> None:
        from ..store.ledger_store import BLOCK_SIZE

        part = (part if isinstance(part, pl.DataFrame) else pl.read_parquet(part)).sort("entry_id")
        rows = part if self._carry is None else pl.concat([self._carry, part], how="vertical")
        whole = rows.height // BLOCK_SIZE * BLOCK_SIZE
        if whole:
            self._store.append_entries(rows.head(whole))
        self._carry = rows.slice(whole)

    def close(self, finished: list[dict], calendar: Calendar, review_deadline_days: int) -> tuple:
        """Wait for the appends, append the last carry, record every shard's appeals as
        state changes in the whole run's order; (head, changes, their head)."""
        try:
            return self._pool.submit(self._finish, finished, calendar, review_deadline_days).result()
        finally:
            self.abort()

    def _finish(self, finished: list[dict], calendar: Calendar, review_deadline_days: int) -> tuple:
        for f in self._pending:
            f.result()
        if self._carry is not None and self._carry.height:
            self._store.append_entries(self._carry)
        store = self._store
        head = store.head()
        book = AppealBook(calendar, [a for f in finished for a in f["appeals"]])
        n_changes = store.record_changes(book.appeal_changes(review_deadline_days))
        tip = store.changes().tail(1)
        return head, n_changes, (tip["hash"][0] if tip.height else None)

    def abort(self) -> None:
        """Stop: the store closed on its thread, the thread gone (after a failure too)."""
        if self._pool is None:
            return
        for f in self._pending:
            f.cancel()
        self._pool.submit(self._store.close).result()
        self._pool.shutdown(wait=True)
        self._pool = None


def write_store(folder: RunFolder, db: str | None, finished: list[dict], calendar: Calendar,
                review_deadline_days: int) -> tuple:
    """Append the shards' ledgers to the hash-chained store in shard order and record every
    shard's appeals as state changes, in the whole run's order; (head, changes, their head)."""
    writer = StoreWriter(folder, db)
    try:
        for f in finished:
            writer.add(f)
    except BaseException:
        writer.abort()
        raise
    return writer.close(finished, calendar, review_deadline_days)
