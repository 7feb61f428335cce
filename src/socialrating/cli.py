"""Command line: `socialrating run | demo | explain | contest | resolve | verify | policy ...`."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import parallel
from .engine.allocator import keep_freed_memory
from .policy.load import PolicyError, builtin_names, json_schema, load_policy, policy_hash, read_policy_text

DEFAULT_WORLD = "synthetic"

# Plain (click) help, not rich panels: rich cuts long flag names at 80 columns.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Open rules-as-code model of national social-rating schemes, on synthetic data.")
policy_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="List, show, validate and export policies.")
app.add_typer(policy_app, name="policy")
console = Console()
_DEFAULT_CONSOLE = console
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata

        sys.stdout.write(f"socialrating {metadata.version('socialrating')}\n")
        raise typer.Exit()


@app.callback()
def _startup(ctx: typer.Context,
             version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                          help="print the version and exit"),
             threads: Optional[int] = typer.Option(
                 None, "--threads", min=1, help="threads for the command (default: the CPUs available to it); "
                                                "outputs do not depend on it")) -> None:
    # The command's one thread pool, shut when the command ends (see parallel.py).
    ctx.with_resource(parallel.threads(threads))
    # Runs before every command: keep freed memory for reuse (see engine/allocator.py).
    keep_freed_memory()
    # Width is decided per command (not at import): a terminal's own width; piped, COLUMNS or 120.
    if console is _DEFAULT_CONSOLE:  # not one a caller put in its place
        cols = os.environ.get("COLUMNS", "")
        console.width = None if sys.stdout.isatty() else (int(cols) if cols.isdigit() and int(cols) >= 40 else 120)


def _fail(msg: str, code: int = 2) -> None:
    # One line whatever the terminal width (soft_wrap), and the message is text, not markup.
    err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _count(n: float) -> str:
    """1,234 -> '1.2k', 3,400,000 -> '3.4M': a rate short enough for an 80-column bar."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class MonthRate:
    """Months stepped per second since the months started, citizen-months per second, and
    the time left at that pace (the world's build, before month 0, is not counted)."""

    WINDOW = 3

    def __init__(self, months: int, people: int, clock=time.monotonic):
        self.months, self.people, self.clock = months, people, clock
        self.seen: list[tuple[float, int]] = []  # (time, months done) of each call

    def tick(self, done: int) -> tuple[float, float] | None:
        """(months per second, seconds left) after `done` months; None until one month is timed.

        The pace is that of the last WINDOW months (the first months are slower: the
        engine's kernels compile), so the time left follows the run's current speed."""
        now = self.clock()
        if not self.seen or done <= self.seen[-1][1]:
            self.seen = [(now, done)]  # month 0: the world is built, the months start now
            return None
        self.seen.append((now, done))
        t0, d0 = self.seen[max(0, len(self.seen) - 1 - self.WINDOW)]
        rate = (done - d0) / max(now - t0, 1e-9)
        return rate, (self.months - done) / rate

    def short(self, done: int, rate: float, left: float) -> str:
        return f"{_count(rate * self.people)} cit-mo/s, {_clock(left)} left" if done < self.months else ""

    def line(self, done: int, rate: float, left: float) -> str:
        tail = f", about {_clock(left)} left" if done < self.months else ""
        return f"{rate:.2f} months/s, {_count(rate * self.people)} citizen-months/s{tail}"


WRITING = "writing the ledger, the store and the run folder"


class RunProgress:
    """Stages and months as they happen: a live bar on a terminal, one line per step when piped
    (so a log shows the run moving, not 15 silent seconds), with the pace (months and
    citizen-months per second) and the time left at that pace."""

    def __init__(self, months: int, people: int, clock=time.monotonic):
        self.months, self.live = months, err.is_terminal
        self.rate = MonthRate(months, people, clock)
        self.clock, self.began = clock, clock()
        self.sharded = False  # told of shards (`shards`): the pace is theirs
        self.last_built = self.began
        self.stage_began: dict[str, float] = {}
        self.said: dict[str, tuple[float, int]] = {}  # per stage: when and at which shard a line was printed
        self.first = f"building Synthetic Russia: {people:,} people, their records, linkage"
        self.prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                             TextColumn("{task.fields[pace]}"), TimeElapsedColumn(), console=err, transient=True)

    def __enter__(self) -> "RunProgress":
        if self.live:
            self.prog.start()
            self.task = self.prog.add_task(self.first, total=self.months, pace="")
        else:
            err.print(f"{self.first} ...", highlight=False)
        return self

    def update(self, done: int, total: int) -> None:
        what = WRITING if done == total else "simulating months"
        if self.sharded:  # its pace is the shards' (`shards`), not one shard's months
            if not done:
                if self.live:
                    self.prog.update(self.task, completed=0, description="simulating months, shard by shard",
                                     pace="")
                else:
                    err.print(f"simulating {total} months, shard by shard ...", highlight=False)
            return
        pace = self.rate.tick(done)
        if self.live:
            self.prog.update(self.task, total=total, completed=done, description=what,
                             pace=self.rate.short(done, *pace) if pace else "")
        elif done:
            err.print(f"month {done} of {total}" + (f" ({self.rate.line(done, *pace)})" if pace else ""),
                      highlight=False)
            if done == total:
                err.print(f"{what} ...", highlight=False)
        else:
            err.print(f"simulating {total} months ...", highlight=False)

    def shards(self, stage: str, done: int, of: int) -> None:
        """Shard `done` of `of` is "built" or has "run" (a sharded run): the shards per minute
        since that stage began and the time the stage has left at that pace. Piped: the
        first and last shard, and one line a minute or every twentieth of the shards between."""
        now, self.sharded = self.clock(), True
        if stage not in self.stage_began:  # the builds from the run's start, the months from the last build
            self.stage_began[stage] = self.last_built if stage == "run" else self.began
        if stage == "built":
            self.last_built = now
        began = self.stage_began[stage]
        per_min = done / max(now - began, 1e-9) * 60
        left = (of - done) / per_min * 60
        pace = f"{per_min:,.1f} shards/min" + (f", about {_clock(left)} left" if done < of else "")
        what = "built" if stage == "built" else "ran"
        end = stage == "run" and done == of  # then the store's last part, the manifest
        if self.live:
            self.prog.update(self.task, total=of, completed=done, pace="" if end else pace,
                             description=WRITING if end else f"{what} shard {done:,} of {of:,}")
            return
        last_t, last_n = self.said.get(stage, (began, 0))
        if done in (1, of) or now - last_t >= 60 or done - last_n >= max(1, of // 20):
            err.print(f"{what} shard {done:,} of {of:,} ({pace})", highlight=False)
            self.said[stage] = (now, done)
        if end:
            err.print(f"{WRITING} ...", highlight=False)

    def shard(self, k: int, done: int, of: int) -> None:
        """Shard `done` of `of` has stepped month k (a sharded run): on a terminal, where
        the shard is (piped, the shards' lines say it: `shards`)."""
        if self.live:
            self.prog.update(self.task, description=f"month {k + 1}: shard {done:,} of {of:,}")

    def __exit__(self, *exc) -> None:
        if self.live:
            self.prog.stop()


def _print_head(head: str, check: str = "socialrating verify DIR --head HEX") -> None:
    """The chain head to publish elsewhere, on a line of its own (64 hex digits fit 80 columns
    and copy whole)."""
    console.print(f"Head to publish (check later with `{check}`):", highlight=False)
    console.print(f"  {head}", highlight=False, soft_wrap=True)


def _store_failed(exc: Exception, code: int = 2) -> None:
    """A ledger store (PostgreSQL, DuckDB) or disk failure: one line; anything else is a bug."""
    from .store.replace import describe_failure

    msg = describe_failure(exc)
    if msg is None:
        raise exc
    _fail(f"{msg}; nothing was changed", code)


def _preflight(policy, people: int, years: float, history: float | None, out: Path,
               shard_people: int | None = None, side_by_side: int = 1) -> None:
    """Refuse, in one message, a run that cannot fit this machine (simulate/plan.py);
    ``side_by_side``: shards this process runs at once."""
    from .simulate.plan import plan
    from .simulate.simulation import history_years

    try:
        hist = history_years(policy, history)
    except ValueError as exc:
        _fail(str(exc))
    p = plan(people, years, hist, out, shard_people, side_by_side)
    if p.problems:
        _fail(f"run: {p.message()}")


def _auto_shards(policy, people: int, years: float, history: float | None, out: Path,
                 block_size: int | None) -> int:
    """`--shards` not given: one process when the run fits this machine's memory, else one
    shard per generation block (the least memory a run can take), said on stderr."""
    from .simulate.plan import _size, plan
    from .simulate.shardworld import plan as shard_plan
    from .simulate.simulation import history_years
    from .simulate.synthetic_world import block_size_of

    try:
        whole = plan(people, years, history_years(policy, history), out)
    except ValueError:
        return 1  # the preflight says what is wrong
    if whole.memory_available is None or whole.memory_bytes <= whole.memory_available:
        return 1
    n = len(shard_plan(people, block_size_of(block_size), people))
    if n > 1:
        err.print(f"run: {people:,} people need about {_size(whole.memory_bytes)} in one process, more than "
                  f"the {_size(whole.memory_available)} available here: running in {n:,} shards of one "
                  "generation block each (--shards 1 to insist on one process)", highlight=False, soft_wrap=True)
    return n


def _check_blocks(people: int, block_size: int | None) -> None:
    """Refuse at once a population of more generation blocks than identifiers numbered per
    block have room for (else the records' generation stops there, minutes in)."""
    from .simulate.synthetic_world import block_size_of
    from .sources.synthetic import max_blocks

    bs, most = block_size_of(block_size), max_blocks()
    blocks = -(-people // bs)
    if blocks > most:
        _fail(f"run: {people:,} people in generation blocks of {bs:,} make {blocks:,} blocks; identifiers "
              f"numbered per block have room for {most:,} (use --block-size {-(-people // most):,} or more, "
              "or fewer people)")


def _shard_people(people: int, shards: int, block_size: int | None) -> int:
    """People in the largest shard of a Synthetic Russia run (shards are whole blocks)."""
    from .simulate.shardworld import plan as shard_plan
    from .simulate.synthetic_world import block_size_of

    bs = block_size_of(block_size)
    return min(people, max(len(p) for p in shard_plan(people, bs, shards)) * bs)


@app.command(short_help="Simulate a policy on a synthetic nation, month by month.")
def run(
    policy: str = typer.Option("we-platform", help="built-in policy name or a YAML file"),
    people: int = typer.Option(100_000, min=1, help="synthetic citizens"),
    years: float = typer.Option(2.0, min=0.1, max=20, help="years the rating is in force (monthly steps)"),
    seed: int = typer.Option(20240701, help="seed of all randomness (numpy SeedSequence)"),
    out: Path = typer.Option(Path("runs/latest"), help="run folder to write"),
    start: str = typer.Option("2024-07-01", help="first month (YYYY-MM-DD)"),
    world: str = typer.Option(DEFAULT_WORLD, help="synthetic (Synthetic Russia, with source errors) or basic"),
    credit_feedback: float = typer.Option(0.5, min=0, help="arrears uplift while refused credit"),
    employment_feedback: float = typer.Option(0.3, min=0, help="arrears uplift while barred from jobs"),
    household_spillover: float = typer.Option(0.0, min=0, help="arrears uplift for a restricted person's household"),
    feedback: Optional[list[str]] = typer.Option(
        None, "--feedback", help="CONTEXT=UPLIFT: arrears uplift while under a restriction in that consequence "
                                 "context (repeatable; e.g. housing=0.2)"),
    store: bool = typer.Option(True, help="append the ledger to the hash-chained store"),
    db: Optional[str] = typer.Option(None, help="postgresql://... for the ledger store (default: ledger.duckdb in the run folder)"),
    history_years: Optional[float] = typer.Option(
        None, min=0, max=20, help="years of records on file at the start, generated before it (default: the policy's longest expiry, at most 7)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a run folder that holds contests or ingested records"),
    shards: Optional[int] = typer.Option(
        None, min=1, help="build and run the world in this many shards of whole generation blocks (memory: one "
                          "shard's); outputs do not depend on it (default: one process when the run fits this "
                          "machine's memory, else one shard per block)"),
    block_size: Optional[int] = typer.Option(
        None, min=1, help="people per generation block of Synthetic Russia (default: the calibration's 131,072); "
                          "a shard is whole blocks, so smaller blocks allow more, smaller shards"),
    scheduler: Optional[str] = typer.Option(
        None, help="run the shards on Dask: 'local' (a LocalCluster, see --workers) or tcp://HOST:PORT "
                   "(a running scheduler; --out on storage the machine running this command can write)"),
    workers: Optional[int] = typer.Option(None, min=1, help="worker processes of --scheduler local (default 2)"),
    preflight: bool = typer.Option(True, help="refuse at once a run whose measured costs exceed this "
                                              "machine's memory or free disk"),
) -> None:
    """Simulate the rating in force month by month (with feedback and paired counterfactuals).

    The run is built in a new folder beside --out and replaces it only when complete."""
    from .simulate.feedback import parse_feedback
    from .simulate.simulation import Feedback, SimConfig, simulate

    try:
        start_d = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start: expected a date YYYY-MM-DD, got {start!r}")
    try:
        parsed = load_policy(policy)  # a bad policy is one error line, before the progress bar starts
    except PolicyError as exc:
        _fail(str(exc))
    if world == "synthetic":
        _check_blocks(people, block_size)
    if shards is None:
        shards = _auto_shards(parsed, people, years, history_years, out, block_size) if world == "synthetic" else 1
    if preflight:
        # in this process the shards run one per thread of the pool (simulate/executors.py)
        _preflight(parsed, people, years, history_years, out,
                   _shard_people(people, shards, block_size) if world == "synthetic" else None,
                   parallel.current().threads if scheduler is None else 1)
    try:
        uplift = {"credit": credit_feedback, "employment": employment_feedback, **parse_feedback(feedback or [])}
    except ValueError as exc:
        _fail(str(exc))
    cfg = SimConfig(policy=policy, people=people, years=years, seed=seed, start=start_d, world=world, store=store,
                    db=db, feedback=Feedback(uplift, household_spillover), history_years=history_years,
                    block_size=block_size)
    from .store.replace import RunReplaceError, build_and_swap

    from .simulate.executors import executor as make_executor

    try:
        pool = make_executor(scheduler, workers)
    except (ValueError, OSError, TimeoutError) as exc:
        _fail(f"--scheduler: {exc}")
    if pool.dashboard:
        err.print(f"shards on {pool.where}; Dask dashboard: {pool.dashboard}", highlight=False, soft_wrap=True)
    sharded = shards > 1 or scheduler is not None
    try:
        with pool, RunProgress(cfg.months, cfg.people) as prog:
            manifest = build_and_swap(out, lambda staging: simulate(
                cfg, staging, progress=prog.update, shards=shards, executor=pool if sharded else None,
                shard_progress=prog.shard if sharded else None, shards_done=prog.shards if sharded else None),
                overwrite=overwrite)
    except (PolicyError, RunReplaceError) as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a store or disk failure: one line, the old folder kept
        from .store.replace import describe_failure

        msg = describe_failure(exc)
        if msg is None:
            raise
        _fail(f"{out}: the run failed and was not written ({msg}); the folder is as it was before")
    manifest = json.loads((out / "manifest.json").read_text())  # as sealed: with its head
    print_summary(out)
    console.print(f"\nRun folder: [bold]{out}[/]  (policy {manifest['policy']['name']} "
                  f"{manifest['policy']['version']}, sha256 {manifest['policy']['sha256'][:12]}...)")
    if manifest.get("head"):
        _print_head(manifest["head"], f"socialrating verify {out} --head HEX")


@app.command(short_help="The main job: 100,000 people, 2 years, summary + report.")
def demo(out: Path = typer.Option(Path("runs/demo"), help="run folder to write"),
         overwrite: bool = typer.Option(False, "--overwrite", help="replace a demo folder that holds contests or "
                                                                  "ingested records")) -> None:
    """The README's main job: 100,000 people, 2 years, the we-platform policy, summary and report."""
    run(policy="we-platform", people=100_000, years=2.0, seed=20240701, out=out, start="2024-07-01",
        world=DEFAULT_WORLD, credit_feedback=0.5, employment_feedback=0.3, household_spillover=0.0, feedback=None,
        store=True, db=None, history_years=None, overwrite=overwrite, shards=1, block_size=None, scheduler=None,
        workers=None)
    path = _write_report(out)
    console.print(f"Report: [bold]{path}[/]  (one self-contained HTML file; opens offline)")
    _next_steps(out)


def _next_steps(out: Path) -> None:
    """Where to go from the demo: people who exist in this run, found as `citizens` finds them."""
    from .audit.citizens import CitizenQuery, find_citizens
    from .policy.load import parse_policy

    pol = parse_policy((out / "policy.yaml").read_text(encoding="utf-8"), str(out / "policy.yaml"))
    kinds = {c.id: c.kind for c in pol.consequences}
    console.print(f"Find people:\n  [bold]socialrating citizens {out} --wrongly[/]", highlight=False)
    wrong = find_citizens(out, CitizenQuery(wrongly=True, limit=1), kinds, ["actual"])[0]["citizen_id"].to_list()
    rightly = [c for c in find_citizens(out, CitizenQuery(limit=len(wrong) + 1), kinds, ["actual"])[0]["citizen_id"]
               if c not in wrong][:1]
    for what, ids in (("a restricted citizen", rightly), ("a wrongly restricted citizen", wrong)):
        if ids:
            console.print(f"Explain {what}:\n  [bold]socialrating explain {out} --citizen {ids[0]}[/]",
                          highlight=False)


def _write_report(run_dir: Path) -> Path:
    from .audit import audit_run
    from .report.html import write_report

    with Progress(TextColumn("[bold]auditing and writing the report"), TimeElapsedColumn(), console=err,
                  transient=True) as prog:
        prog.add_task("report", total=None)
        result = audit_run(run_dir)
        return write_report(run_dir, audit=result)


@app.command(short_help="Write the run's self-contained HTML report.")
def report(run_dir: Path = typer.Argument(..., help="run folder")) -> None:
    """Audit a run and write its self-contained HTML report (report.html in the run folder)."""
    try:
        path = _write_report(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"Report: [bold]{path}[/]")


@app.command(short_help="Who is restricted, how many wrongly, which groups.")
def audit(run_dir: Path = typer.Argument(..., help="run folder"),
          as_json: bool = typer.Option(False, "--json", help="print the figures and headline numbers as JSON")) -> None:
    """Audit a run: who is restricted, how many wrongly, which groups, traps (writes audit/ and audit.json)."""
    from .audit import audit_run
    from .audit.figures import definitions
    from .report.summary import figure_rows, other_findings, standing_and_errors

    try:
        result = audit_run(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        doc = {"counts": result.figures["counts"], "figures": result.figures["consequences"],
               "headline": result.headline, "definitions": definitions()}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    t = Table(title=f"Audit of {run_dir}: the run's figures")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for lab, value in figure_rows(result.figures, ("any-restriction", "any-privilege")):
        t.add_row(lab, value)
    console.print(t, highlight=False)
    for part in standing_and_errors(result.tables["figures"], result.headline["months"]):
        console.print(part, highlight=False)
    console.print(other_findings(result.headline))
    console.print(f"Tables: {run_dir / 'audit'}/*.parquet; figures, definitions and headline: "
                  f"{run_dir / 'audit.json'}")


@app.command(short_help="Check a run against the published figures.")
def calibration(run_dir: Path = typer.Argument(..., help="run folder (of the synthetic world)"),
                as_json: bool = typer.Option(False, "--json", help="print the table as JSON")) -> None:
    """Check a run against the published figures: each anchored quantity scaled to Russia, the ratio, the source."""
    from .audit.calibration import TOLERANCE, CalibrationCheckError, calibration_json, fmt_value

    try:
        data = calibration_json(run_dir)
    except (CalibrationCheckError, FileNotFoundError, OSError) as exc:
        _fail(str(exc))
    except (ValueError, pl.exceptions.PolarsError) as exc:
        _fail(f"{run_dir}: unreadable run folder ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    rows = data["quantities"]
    t = Table(title=f"Calibration of {run_dir}: the run scaled to {data['scaled_to']:,} people", box=box.SIMPLE_HEAD)
    for name, just in (("#", "right"), ("quantity", "left"), ("run", "right"), ("published", "right"), ("ratio", "right")):
        t.add_column(name, justify=just, overflow="fold")
    for i, r in enumerate(rows, 1):
        ratio = f"{r['ratio']:.2f}" + ("" if r["within_tolerance"] else " !")
        t.add_row(str(i), escape(r["label"]), fmt_value(r["run_value"], r["unit"]), fmt_value(r["published"], r["unit"]), ratio)
    console.print(t)
    off = [r for r in rows if not r["within_tolerance"]]
    console.print(f"{len(rows) - len(off)} of {len(rows)} within {TOLERANCE}x of the published figure"
                  + (f"; outside (marked !): {', '.join(r['label'] for r in off)}" if off else "."), highlight=False)
    console.print("Sources:", highlight=False)
    for i, r in enumerate(rows, 1):
        note = f" ({r['note']})" if r["note"] else ""
        console.print(f" {i}. {escape(r['source'])}{escape(note)}", highlight=False)


@app.command(short_help="Policy A vs B on the same people.")
def compare(run_a: Path = typer.Argument(..., help="run folder A"),
            run_b: Path = typer.Argument(..., help="run folder B (same people and seed, another policy)"),
            out: Optional[Path] = typer.Option(None, help="folder for compare.html and the tables "
                                                          "(default: compare-A-vs-B beside A)"),
            as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Policy A vs B on the same population: people restricted under each, winners and losers, band
    moves, consequences by group; writes a self-contained compare.html (run folders are not touched)."""
    from .audit.compare import RunMismatchError, compare_runs
    from .report.compare_page import HEADLINE_FIGURES, restricted_rows, side_name, write_compare_page

    try:
        res = compare_runs(run_a, run_b)
    except (RunMismatchError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    out = out or run_a.parent / f"compare-{run_a.name}-vs-{run_b.name}"
    page = write_compare_page(res, out)
    if as_json:
        sys.stdout.write(json.dumps({**res.summary, "page": str(page)}, indent=2, default=str) + "\n")
        return
    s = res.summary
    t = Table(title=f"People restricted: {side_name(res, 'a')} vs {side_name(res, 'b')}, "
                    f"{s['citizens']:,} synthetic people", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    t.add_column("restriction", no_wrap=True)
    for word in ("end", "ever", "wrong"):
        for side in ("A", "B"):
            t.add_column(f"{side} {word}", justify="right")
    rows = restricted_rows(res)
    for r in rows.iter_rows(named=True):
        cells = []
        for name in HEADLINE_FIGURES:
            cells += [f"{r[f'a_{name}']:,}", f"{r[f'b_{name}']:,}"]
        t.add_row(r["consequence_id"], *cells)
    t.caption = "end: in the last month; ever: in any month; wrong: never with correct records"
    console.print(t)
    console.print(f"Status, B vs A: {s['winners']:,} higher, {s['losers']:,} lower, {s['unchanged']:,} unchanged "
                  f"(median {s['median_difference']:+.0f})", highlight=False)
    console.print(f"Comparison page: {page}  (and its tables beside it)", highlight=False)


@app.command(short_help="Add a source file of records to a run folder.")
def ingest(
    file: Optional[Path] = typer.Argument(None, help="CSV or Parquet file in the source's documented schema"),
    source: str = typer.Option(..., help="which agency the file comes from (e.g. bank, tax, bailiffs)"),
    into: Optional[Path] = typer.Option(None, help="run folder whose citizen register links the records"),
    as_of: Optional[str] = typer.Option(None, help="dates after this are impossible (default: the run's as-of)"),
    schema: bool = typer.Option(False, "--schema", help="print the source's file format and exit"),
    as_json: bool = typer.Option(False, "--json", help="with --schema: print it as JSON"),
    db: Optional[str] = typer.Option(None, help="postgresql://... or .duckdb ledger store (default: the run folder's)"),
) -> None:
    """Validate, link and add a source file to a run folder; bad rows go to quarantine with a reason.

    Accepted records join the record on file: the hash chain, the re-scored ratings and
    consequences, and `explain`; the whole ingest is one transaction under the folder's lock.
    `--schema` prints the file format a source's file must have (examples in examples/ingest/)."""
    if schema:
        _print_schema(source, as_json)
        return
    if file is None or into is None:
        _fail("give a FILE and --into RUN_DIR (or --schema to see the source's file format)")
    from .sources.ingest import IngestError, read_source_file
    from .store.intake import ingest_into_run
    from .store.runfolder import RunFolder

    try:
        cut = dt.date.fromisoformat(as_of) if as_of else None
        read_source_file(source, file)  # a file that cannot be read is the first thing to say
        RunFolder(into).manifest()
        rep, out = ingest_into_run(source, file, into, as_of=cut, db=db)
    except (IngestError, KeyError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    t = Table(title=f"Ingest of {file.name} as {source}", box=box.SIMPLE_HEAD)
    t.add_column("records"); t.add_column("n", justify="right")
    t.add_row("in", f"{rep.records_in:,}")
    t.add_row("accepted (linked)", f"{rep.accepted:,}")
    t.add_row("already present", f"{rep.already_present:,}")
    for why, n in sorted(rep.quarantined.items()):
        t.add_row(f"quarantined: {why}", f"{n:,}")
    if rep.corrections:
        t.add_row("of which corrections of quarantined records", f"{rep.corrections:,}")
    t.add_row("new ledger entries (hash-chained, re-scored)", f"{out.get('new_entries', 0):,}")
    t.caption = f"in = accepted + already present + quarantined; events: {rep.events_path}"
    console.print(t)
    if out.get("head"):
        _print_head(out["head"])


def _print_schema(source: str, as_json: bool) -> None:
    from .sources.schema_doc import schema_doc

    try:
        doc = schema_doc(source)
    except KeyError as exc:
        _fail(str(exc).strip("'\""))
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    console.print(f"[bold]{source}[/]: {doc['agency']}; {doc['file']}", highlight=False)
    if doc["special_category_data"]:
        console.print("special-category data (health): 152-FZ Art. 10, GDPR Art. 9", highlight=False)
    t = Table(title="Columns", box=box.SIMPLE_HEAD)
    for col in ("column", "type", "required", "meaning"):
        t.add_column(col, overflow="fold")
    for c in doc["columns"]:
        t.add_row(c["column"], c["type"], "yes" if c["required"] else "", c["meaning"])
    console.print(t)
    te = Table(title="Event types", box=box.SIMPLE_HEAD)
    for col in ("event_type", "unit", "meaning"):
        te.add_column(col, overflow="fold")
    for e in doc["event_types"]:
        te.add_row(e["event_type"], e["unit"] or "-", e["meaning"])
    console.print(te)
    console.print(f"Example: {doc['example']}", highlight=False)


def print_summary(out: Path) -> None:
    """The run's summary (report/summary.py gathers it; the figures are audit/figures.py's)."""
    from .report.summary import render, summary

    for part in render(summary(out)):
        console.print(part, highlight=False)


@app.command(short_help="List people: restricted, wrongly restricted, by group.")
def citizens(
    run_dir: Path = typer.Argument(..., help="run folder"),
    consequence: Optional[str] = typer.Option(None, help="a consequence id (default: any restriction)"),
    wrongly: bool = typer.Option(False, "--wrongly", help="only people under it because of wrong records"),
    ever: bool = typer.Option(False, "--ever", help="ever under it during the run, not only at the end"),
    scenario: str = typer.Option("actual", help="scenario whose spells --ever reads"),
    group: list[str] = typer.Option([], help="DIMENSION=GROUP, e.g. district=Volga, age_band=25-34 (repeatable)"),
    status_min: Optional[int] = typer.Option(None, min=0, max=99, help="status at least"),
    status_max: Optional[int] = typer.Option(None, min=0, max=99, help="status at most"),
    everyone: bool = typer.Option(False, "--everyone", help="no consequence filter (groups and status only)"),
    limit: int = typer.Option(20, min=1, help="people to list"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List the people a finding is about: under a consequence now or ever, wrongly (because of wrong
    records), in a group, in a status range; then `explain` one of them."""
    from .audit.citizens import CitizenQuery, QueryError, find_citizens
    from .policy.load import parse_policy
    from .store.runfolder import RunFolder

    folder = RunFolder(run_dir)
    try:
        m = folder.manifest()
        pol = parse_policy(folder.policy_text(), str(run_dir / "policy.yaml"))
        groups = dict(g.split("=", 1) for g in group if "=" in g)
        if len(groups) != len(group):
            raise QueryError(f"--group: expected DIMENSION=GROUP, got {[g for g in group if '=' not in g]}")
        q = CitizenQuery(consequence, wrongly, scenario, ever, groups, status_min, status_max, limit, everyone)
        rows, total = find_citizens(run_dir, q, {c.id: c.kind for c in pol.consequences},
                                    list(m.get("scenarios", ["actual"])))
    except (QueryError, FileNotFoundError, PolicyError) as exc:
        _fail(str(exc))
    what = _citizens_caption(q)
    if as_json:
        sys.stdout.write(json.dumps({"run": str(run_dir), "filter": what, "matching": total,
                                     "shown": rows.height, "citizens": rows.to_dicts()}, indent=2) + "\n")
        return
    t = Table(title=f"{total:,} (synthetic) people {what}; {rows.height} shown", box=box.SIMPLE_HEAD,
              caption="* matched the filter; (ended): not in force on the rating date")
    for label in ("citizen", "status", "level", "age", "sex", "district", "consequences"):
        t.add_column(label, justify="right" if label in ("citizen", "status", "level", "age") else "left",
                     overflow="fold")
    for r in rows.iter_rows(named=True):
        matched, now = set(filter(None, r["matched"].split(","))), set(filter(None, r["in_force"].split(",")))
        lines = [c + (" *" if c in matched else "") + ("" if c in now else " (ended)") for c in sorted(matched | now)]
        t.add_row(str(r["citizen_id"]), f"{r['status']:02d}", f"{r['level']:02d}", str(r["age"]), r["sex"],
                  r["district"], "\n".join(lines) or "-")
    console.print(t)
    if rows.height:
        console.print(f"Next: socialrating explain {run_dir} --citizen {rows['citizen_id'][0]}", highlight=False)


def _citizens_caption(q) -> str:
    """The filter in words, e.g. 'wrongly under no-credit (not with correct records), district=Volga'."""
    under = f"under {q.consequence}" if q.consequence else "under a restriction"
    if q.wrongly:
        what = f"wrongly {under} (not with correct records)"
    elif q.ever:
        what = f"ever {under} (scenario {q.scenario})"
    elif q.everyone and not q.consequence:
        what = "(any consequence or none)"
    else:
        what = f"{under} on the rating date"
    bits = [f"{k}={v}" for k, v in q.groups.items()]
    if q.status_min is not None or q.status_max is not None:
        bits.append(f"status {q.status_min if q.status_min is not None else 0}-"
                    f"{q.status_max if q.status_max is not None else 99}")
    return ", ".join([what, *bits])


@app.command(short_help="One citizen's entries, arithmetic and consequences.")
def explain(
    run_dir: Path = typer.Argument(..., help="run folder"),
    citizen: int = typer.Option(..., help="citizen_id"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    db: Optional[str] = typer.Option(None, help="postgresql://... ledger store, if the run used one"),
) -> None:
    """Show one citizen's entries (with their contest history), the arithmetic to status and level,
    and each consequence with its way out."""
    from .engine.explain import explain as do_explain
    from .policy.load import parse_policy
    from .report.explain_view import render_explain
    from .store.history import contest_history
    from .store.runfolder import RunFolder

    folder = RunFolder(run_dir)
    try:
        m = folder.manifest()
    except FileNotFoundError as exc:
        _fail(str(exc))
    pol = parse_policy(folder.policy_text(), str(run_dir / "policy.yaml"))
    rating = folder.scan("current_ratings").filter(pl.col("citizen_id") == citizen).collect()
    if rating.height == 0:
        _fail(f"citizen {citizen} is not in {run_dir} (citizen ids run 0..{m['people'] - 1})")
    rrow = rating.drop("citizen_id", "as_of").row(0, named=True)
    if "band" in rrow:
        rrow["band"] = str(rrow["band"])
    ledger = folder.scan("ledger").filter(pl.col("citizen_id") == citizen).collect()
    cons = folder.scan("current_consequences").filter(pl.col("citizen_id") == citizen).collect()
    out = do_explain(pol, dt.date.fromisoformat(m["as_of"]), citizen, ledger, rrow, cons)
    out["contest_history"], note = contest_history(run_dir, ledger["entry_id"].to_list(), db)
    if note:
        out["contest_history_note"] = note
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    render_explain(console, out)


def _date_opt(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{name}: expected a date YYYY-MM-DD, got {value!r}")


_DB_HELP = "ledger store: postgresql://... URL or a .duckdb file (default: the run folder's ledger.duckdb)"


@app.command(short_help="Contest an entry of the ledger (re-scores).")
def contest(
    run_dir: Path = typer.Argument(..., help="run folder"),
    citizen: int = typer.Option(..., help="citizen_id of the person contesting"),
    entry: int = typer.Option(..., help="entry_id to contest (see `socialrating explain`)"),
    reason: str = typer.Option(..., help="why the entry is wrong"),
    on: Optional[str] = typer.Option(None, help="date of the contest, YYYY-MM-DD (default: the run's as-of date)"),
    db: Optional[str] = typer.Option(None, help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Contest an entry: recorded in the ledger store; ratings and consequences re-scored."""
    from .report.change_view import change_summary, entry_brief, render_change, snapshot
    from .store.contest import ContestError, contest as do_contest

    try:
        before = snapshot(run_dir, citizen)
        out = do_contest(run_dir, citizen, entry, reason, on=_date_opt(on, "--on"), db=db)
    except (ContestError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""), 1)
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    out["for_this_citizen"] = change_summary(before, snapshot(run_dir, citizen))
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    console.print(f"entry {out['entry_id']} contested by citizen {out['citizen_id']} on {out['on']} "
                  f"(change {out['change_id']}); review due by {out['review_deadline']}", highlight=False)
    console.print(f"  its points {out['points_while_contested']}; if the review is overdue, {out['overdue']}",
                  highlight=False)
    if out["note"]:
        console.print(f"  note: {out['note']}", highlight=False)
    render_change(console, citizen, out["for_this_citizen"], entry_brief(run_dir, entry))
    _print_head(out["head"])


@app.command(short_help="Review a contested entry: uphold or overturn.")
def resolve(
    run_dir: Path = typer.Argument(..., help="run folder"),
    entry: int = typer.Option(..., help="the contested entry_id"),
    upheld: bool = typer.Option(False, "--upheld", help="the entry stands"),
    overturned: bool = typer.Option(False, "--overturned", help="the entry is wrong: it stops counting for good"),
    reviewer: str = typer.Option(..., help="name of the person who reviewed it"),
    reason: str = typer.Option(..., help="the reviewer's reasons"),
    on: Optional[str] = typer.Option(None, help="date of the decision, YYYY-MM-DD (default: the run's as-of date)"),
    db: Optional[str] = typer.Option(None, help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Resolve a contest (--upheld or --overturned); ratings and consequences re-scored."""
    from .report.change_view import change_summary, entry_brief, entry_owner, render_change, snapshot
    from .store.contest import ContestError, resolve as do_resolve

    if upheld == overturned:
        _fail("give exactly one of --upheld or --overturned")
    try:
        owner = entry_owner(run_dir, entry)
        before = snapshot(run_dir, owner) if owner is not None else None
        out = do_resolve(run_dir, entry, "upheld" if upheld else "overturned", reviewer, reason,
                         on=_date_opt(on, "--on"), db=db)
    except (ContestError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""), 1)
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    if before is not None:
        out["citizen_id"] = owner
        out["for_this_citizen"] = change_summary(before, snapshot(run_dir, owner))
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    console.print(f"entry {out['entry_id']} {out['outcome']} on {out['on']} (change {out['change_id']}); "
                  f"state now: {out['state_now']}", highlight=False)
    if out["note"]:
        console.print(f"  note: {out['note']}", highlight=False)
    if before is not None:
        render_change(console, owner, out["for_this_citizen"], entry_brief(run_dir, entry))
    _print_head(out["head"])


@app.command(short_help="Check every file and the hash chain of a run folder.")
def verify(
    run_dir: Path = typer.Argument(..., help="run folder"),
    db: Optional[str] = typer.Option(None, help=_DB_HELP),
    head: Optional[str] = typer.Option(None, help="a head published earlier (64 hex): the chain must pass through it"),
    key: Optional[Path] = typer.Option(None, help="the operator's public key (PEM) to trust (default: this machine's key)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Check every file, the manifest's signature, the ledger's hash chain and heads; exit 1 if altered."""
    from .store.contest import ContestError, verify_run

    if head is not None and (len(head.strip()) != 64 or any(c not in "0123456789abcdefABCDEF" for c in head.strip())):
        _fail(f"--head: expected 64 hexadecimal characters, got {head!r}")
    try:
        pem = key.read_bytes() if key is not None else None
        if pem is not None:
            from .store.seal import load_public

            load_public(pem)
    except OSError as exc:
        _fail(f"--key {key}: cannot read the public key ({exc.strerror})")
    except ValueError as exc:
        _fail(f"--key {key}: {exc}; expected the operator.pub of the operator whose run this is")
    try:
        out = verify_run(run_dir, db, head=head, key_pem=pem)
    except (ContestError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    elif out["ok"]:
        signed = "trusted key" if out.get("key_trusted") else "the key in the folder (give --key to check whose)"
        chain = (f"{out['checked']:,} entries and changes verified in {out['store']}" if out.get("store")
                 else "no ledger store (a --no-store run)")
        console.print(f"ok: {out['files']} files, {chain}; manifest signed by {signed} ({out['key']})"
                      + ("; heads match" if out.get("store") else "")
                      + ("; the published head is in the chain" if head else ""), highlight=False)
        if out.get("head"):
            console.print(f"head: {out['head']}", highlight=False, soft_wrap=True)
    else:
        console.print(f"[bold red]ALTERED[/] first: [bold]{escape(str(out['first_bad']))}[/]: "
                      f"{escape(out['detail'])}", highlight=False)
        for p in out["problems"][1:]:
            console.print(f"  also: {escape(p)}", highlight=False)
    if not out["ok"]:
        raise typer.Exit(1)


@policy_app.command("lint")
def policy_lint(
    name: str = typer.Argument(..., help="built-in name or YAML file"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """What a regulator would object to: findings with severity and legal anchor; exit 1 on errors."""
    from .policy.lint import SEVERITY_RANK, has_errors, lint

    try:
        p = load_policy(name)
    except PolicyError as exc:
        _fail(str(exc))
    findings = lint(p)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_RANK}
    if as_json:
        sys.stdout.write(json.dumps({
            "policy": p.name, "version": p.version, "sha256": policy_hash(p), "counts": counts,
            "findings": [{"severity": f.severity, "code": f.code, "target": f.target, "message": f.message,
                          "anchor": f.anchor} for f in findings],
        }, indent=2) + "\n")
    else:
        # one block per finding (a five-column table is a tall thin strip at 80 columns)
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        if findings:
            console.print(f"[bold]Lint of {escape(p.name)} {escape(p.version)}[/]", highlight=False)
        for i, f in enumerate(findings, 1):
            console.print(f"\n{i}. [{style[f.severity]}]{f.severity}[/] {escape(f.code)}: {escape(f.target)}",
                          highlight=False)
            console.print(Padding(Text(f.message), (0, 0, 0, 3)))
            console.print(Padding(Text(f"anchor: {f.anchor}"), (0, 0, 0, 3)))
        if findings:
            console.print()
        console.print(f"{p.name} {p.version}: {counts['error']} error(s), {counts['warning']} warning(s), "
                      f"{counts['info']} info", highlight=False)
    if has_errors(findings):
        raise typer.Exit(1)


@policy_app.command("list")
def policy_list() -> None:
    """The built-in policies."""
    t = Table()
    for col in ("name", "version", "title", "rules", "consequences"):
        t.add_column(col)
    for n in builtin_names():
        p = load_policy(n)
        t.add_row(n, p.version, p.title, str(len(p.rules)), str(len(p.consequences)))
    console.print(t)


@policy_app.command("show")
def policy_show(name: str = typer.Argument(..., help="built-in name or YAML file")) -> None:
    """Print a policy's YAML with its hash."""
    try:
        text, origin = read_policy_text(name)
        p = load_policy(name)
    except PolicyError as exc:
        _fail(str(exc))
    console.print(f"# {origin}\n# sha256 {policy_hash(p)}", highlight=False)
    sys.stdout.write(text)


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of policy files (for editors)."""
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@policy_app.command("check")
def policy_check(file: str = typer.Argument(..., help="YAML file or built-in name")) -> None:
    """Validate a policy; exit 2 with one line naming the file, the field and what was expected."""
    try:
        p = load_policy(file)
    except PolicyError as exc:
        _fail(str(exc))
    console.print(f"ok: {p.name} {p.version}: {len(p.rules)} rules, {len(p.closures)} closures, "
                  f"{len(p.consequences)} consequences; sha256 {policy_hash(p)}", soft_wrap=True)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


# ------------------------------------------------------------------ issue 14: the league
@app.command()
def league(
    people: int = typer.Option(100_000, min=1, help="synthetic citizens (the same for every scheme)"),
    years: float = typer.Option(1.0, min=0.1, max=20, help="years each scheme is in force (monthly steps)"),
    seed: int = typer.Option(20240701, help="seed of all randomness (numpy SeedSequence)"),
    out: Path = typer.Option(Path("runs/league"), help="league folder: one sub-folder per scheme, league.html"),
    start: str = typer.Option("2026-01-01", help="first month (YYYY-MM-DD); from 2026 every scheme is in force"),
    world: str = typer.Option(DEFAULT_WORLD, help="synthetic (Synthetic Russia, with source errors) or basic"),
) -> None:
    """Run every built-in policy on the same synthetic population; one HTML page and a table."""
    from .audit.league import run_league
    from .report.league import write_league_page

    try:
        start_d = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start: expected a date YYYY-MM-DD, got {start!r}")
    if world not in ("synthetic", "basic"):
        _fail(f"--world: expected 'synthetic' or 'basic', got {world!r}")
    if out.exists() and not out.is_dir():
        _fail(f"--out: {out} exists and is not a folder")
    try:
        with Progress(TextColumn("[bold]league[/] {task.fields[scheme]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as prog:
            task = prog.add_task("league", total=len(builtin_names()), scheme="building the world")
            rows = run_league(out, people=people, years=years, seed=seed, start=start_d, world=world,
                              progress=lambda name, i, n: prog.update(task, completed=i, scheme=name))
        page = write_league_page(out)
    except (PolicyError, ValueError, OSError) as exc:
        _fail(str(exc))
    print_league(rows)
    console.print(f"League page: [bold]{escape(str(page))}[/]  (one self-contained HTML file; opens offline)",
                  highlight=False)


def print_league(rows) -> None:
    """The league as a table of at most 80 columns, then each scheme's rules, one line each."""
    width = min(80, console.size.width) if console.is_terminal else 80
    out = Console(width=width, highlight=False, file=console.file)
    t = Table(title="All schemes on the same synthetic people", box=box.SIMPLE_HEAD, pad_edge=False,
              padding=(0, 1))
    for name, justify in (("scheme", "left"), ("now", "right"), ("ever", "right"), ("wrong", "right"),
                          ("most affected", "left"), ("fb %", "right"), ("lint E", "right")):
        t.add_column(name, justify=justify, overflow="fold")
    for r in rows:
        grp = "-" if r.group is None else f"{r.group} x{r.group_ratio:.2f}"
        fb = "-" if r.feedback_share is None else f"{100 * r.feedback_share:.1f}"
        t.add_row(r.name, f"{r.restricted_end:,}", f"{r.restricted_ever:,}", f"{r.wrongful:,}", grp, fb,
                  str(r.lint_errors))
    out.print(t)
    out.print("now/ever: people under any restriction on the last day / at any month end; wrong: "
              "restricted only because of wrong records; most affected: the group most often "
              "restricted, x its rate over everyone's (20+ restricted, groups of 100+); fb %: share of "
              "restriction-months added by feedback; lint E: linter errors.")
    for r in rows:
        out.print(f"\n[bold]{escape(r.name)}[/] {escape(r.version)}: {len(r.rules)} rule(s)")
        for line in r.rules:
            out.print(f"  {escape(line)}", overflow="ellipsis", no_wrap=True, crop=True)


# ------------------------------------------------------------------ issue 16: the web service
@app.command(short_help="Issue access to a synthetic run: citizen code, org key, staff login.")
def access(
    run_dir: Path = typer.Argument(..., help="run folder (of a synthetic world)"),
    role: str = typer.Argument(..., help="citizen, org, reviewer or analyst"),
    citizen: Optional[int] = typer.Option(None, help="citizen: the citizen_id the one-time code is for"),
    name: Optional[str] = typer.Option(None, help="org, reviewer, analyst: who it is for"),
    contexts: Optional[str] = typer.Option(None, help="org: the contexts the key may ask about, e.g. credit,travel"),
    db: Optional[str] = typer.Option(None, help=_DB_HELP),
) -> None:
    """Print a secret once (stored only as a hash): a citizen's one-time login code, a relying
    party's API key for some contexts, or a reviewer's or analyst's login."""
    from .store.access import AccessError, grant_for_run

    ctx = tuple(c.strip() for c in (contexts or "").split(",") if c.strip())
    who = name if name is not None else (f"citizen {citizen}" if citizen is not None else "")
    try:
        g, secret = grant_for_run(run_dir, role, who, citizen_id=citizen, contexts=ctx, db=db)
    except (AccessError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    what = {"citizen": "one-time login code (valid 7 days, once)", "org": "API key",
            "reviewer": "password", "analyst": "password"}[g.role]
    scope = f" for contexts {','.join(g.contexts)}" if g.contexts else ""
    console.print(f"{g.role} {escape(g.name)} (grant {g.grant_id}){scope}: {what}, shown once:", highlight=False)
    sys.stdout.write(secret + "\n")


@app.command(short_help="Serve a synthetic run: citizens, relying parties, reviewers, analysts.")
def serve(
    run_dir: Path = typer.Argument(..., help="run folder (of a synthetic world)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port"),
    db: Optional[str] = typer.Option(None, help=_DB_HELP),
    compare_with: list[Path] = typer.Option([], help="another run of the same people, for the analyst's compare page"),
    logins_per_minute: int = typer.Option(20, min=1, help="login attempts allowed a minute from one address"),
    workers: int = typer.Option(1, min=1, max=64, help="server processes (above 1 needs --db: PostgreSQL)"),
) -> None:
    """The web service and API (/openapi.json) over one synthetic run folder."""
    from .web.serve import ServeError, run_server

    if not (run_dir / "manifest.json").is_file():
        _fail(f"{run_dir}: not a run folder (no manifest.json); run `socialrating run` first")
    try:
        run_server(run_dir, host=host, port=port, db=db, compare_with=tuple(compare_with),
                   logins_per_minute=logins_per_minute, workers=workers)
    except (ServeError, FileNotFoundError) as exc:
        _fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
