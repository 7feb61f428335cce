"""Command line: `socialrating run | demo | explain | contest | resolve | verify | policy ...`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine.allocator import keep_freed_memory
from .policy.load import PolicyError, builtin_names, json_schema, load_policy, policy_hash, read_policy_text

DEFAULT_WORLD = "synthetic"

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Open rules-as-code model of national social-rating schemes, on synthetic data.")
policy_app = typer.Typer(no_args_is_help=True, help="List, show, validate and export policies.")
app.add_typer(policy_app, name="policy")
_WIDTH = None if sys.stdout.isatty() else 120  # readable tables in logs and pipes too
console = Console(width=_WIDTH)
err = Console(stderr=True)


@app.callback()
def _startup() -> None:
    # Runs before every command: keep freed memory for reuse (see engine/allocator.py).
    keep_freed_memory()


def _fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(code)


def _store_failed(exc: Exception, code: int = 2) -> None:
    """A ledger store (PostgreSQL, DuckDB) or disk failure: one line; anything else is a bug."""
    from .store.replace import describe_failure

    msg = describe_failure(exc)
    if msg is None:
        raise exc
    _fail(f"{msg}; nothing was changed", code)


@app.command()
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
    store: bool = typer.Option(True, help="append the ledger to the hash-chained store"),
    db: Optional[str] = typer.Option(None, help="postgresql://... for the ledger store (default: ledger.duckdb in the run folder)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a run folder that holds contests or ingested records"),
) -> None:
    """Simulate the rating in force month by month (with feedback and paired counterfactuals).

    The run is built in a new folder beside --out and replaces it only when complete."""
    from .simulate.simulation import Feedback, SimConfig, simulate

    try:
        start_d = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start: expected a date YYYY-MM-DD, got {start!r}")
    cfg = SimConfig(policy=policy, people=people, years=years, seed=seed, start=start_d, world=world, store=store,
                    db=db, feedback=Feedback(credit_feedback, employment_feedback, household_spillover))
    from .store.replace import RunReplaceError, build_and_swap

    try:
        with Progress(TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("months"),
                      TimeElapsedColumn(), console=err, transient=True) as prog:
            task = prog.add_task("run", total=cfg.months)
            manifest = build_and_swap(out, lambda staging: simulate(
                cfg, staging, progress=lambda done, total: prog.update(task, completed=done)), overwrite=overwrite)
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
        console.print(f"Head to publish: {manifest['head']}  (check later with `socialrating verify {out} --head HEX`)",
                      highlight=False, soft_wrap=True)


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="run folder to write")) -> None:
    """The README's main job: 100,000 people, 2 years, the we-platform policy, summary and report."""
    run(policy="we-platform", people=100_000, years=2.0, seed=20240701, out=out, start="2024-07-01",
        world=DEFAULT_WORLD, credit_feedback=0.5, employment_feedback=0.3, household_spillover=0.0, store=True,
        db=None, overwrite=False)
    path = _write_report(out)
    console.print(f"Report: [bold]{path}[/]  (one self-contained HTML file; opens offline)")
    console.print(f"Explain one citizen: [bold]socialrating explain {out} --citizen 42[/]")


def _write_report(run_dir: Path) -> Path:
    from .audit import audit_run
    from .report.html import write_report

    with Progress(TextColumn("[bold]auditing and writing the report"), TimeElapsedColumn(), console=err,
                  transient=True) as prog:
        prog.add_task("report", total=None)
        result = audit_run(run_dir)
        return write_report(run_dir, audit=result)


def _figures(title: str, figures: dict) -> Table:
    """A two-column table of the scalar figures in a dict (nested ones are in the JSON)."""
    t = Table(title=title)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures.items():
        if isinstance(v, bool) or v is None or isinstance(v, str):
            t.add_row(k.replace("_", " "), str(v))
        elif isinstance(v, (int, float)):
            t.add_row(k.replace("_", " "), f"{v:,.4g}" if isinstance(v, float) else f"{v:,}")
    return t


@app.command()
def report(run_dir: Path = typer.Argument(..., help="run folder")) -> None:
    """Audit a run and write its self-contained HTML report (report.html in the run folder)."""
    try:
        path = _write_report(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"Report: [bold]{path}[/]")


@app.command()
def audit(run_dir: Path = typer.Argument(..., help="run folder"),
          as_json: bool = typer.Option(False, "--json", help="print the headline numbers as JSON")) -> None:
    """Audit a run: who is restricted, how many wrongly, which groups, traps (writes audit/ and audit.json)."""
    from .audit import audit_run

    try:
        result = audit_run(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(result.headline, indent=2, default=str) + "\n")
        return
    console.print(_figures(f"Audit of {run_dir}", result.headline))
    console.print(f"Tables: {run_dir / 'audit'}/*.parquet; headline: {run_dir / 'audit.json'}")


@app.command()
def compare(run_a: Path = typer.Argument(..., help="run folder A"),
            run_b: Path = typer.Argument(..., help="run folder B (same people and seed, another policy)"),
            as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Policy A vs B on the same population: winners and losers, band moves, consequences by group."""
    from .audit.compare import RunMismatchError, compare_runs

    try:
        res = compare_runs(run_a, run_b)
    except (RunMismatchError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    out = run_b / f"compare-{run_a.name}"
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in res.tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    (out / "summary.json").write_text(json.dumps(res.summary, indent=2, default=str) + "\n")
    if as_json:
        sys.stdout.write(json.dumps(res.summary, indent=2, default=str) + "\n")
        return
    console.print(_figures(f"{res.summary.get('policy_a')} (A) vs {res.summary.get('policy_b')} (B), "
                           "status on the last month", res.summary))
    for name in ("band_transitions", "changes_by_group"):
        if name in res.tables:
            console.print(f"{name}: {out / (name + '.parquet')}")


@app.command()
def ingest(
    file: Path = typer.Argument(..., help="CSV or Parquet file in the source's documented schema"),
    source: str = typer.Option(..., help="which agency the file comes from (e.g. bank, tax, bailiffs)"),
    into: Path = typer.Option(..., help="run folder whose citizen register links the records"),
    as_of: Optional[str] = typer.Option(None, help="dates after this are impossible (default: the run's as-of)"),
    db: Optional[str] = typer.Option(None, help="postgresql://... or .duckdb ledger store (default: the run folder's)"),
) -> None:
    """Validate, link and add a source file to a run folder; bad rows go to quarantine with a reason.

    Accepted records join the record on file: the hash chain, the re-scored ratings and
    consequences, and `explain`; the whole ingest is one transaction under the folder's lock."""
    from .sources.ingest import IngestError
    from .store.intake import ingest_into_run
    from .store.runfolder import RunFolder

    try:
        cut = dt.date.fromisoformat(as_of) if as_of else None
        RunFolder(into).manifest()
        rep, out = ingest_into_run(source, file, into, as_of=cut, db=db)
    except (IngestError, KeyError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    t = Table(title=f"Ingest of {file.name} as {source}")
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
        console.print(f"Head to publish: {out['head']}", highlight=False, soft_wrap=True)


def print_summary(out: Path) -> None:
    from .report.summary import bands, consequence_counts, distribution, headline
    from .store.runfolder import RunFolder

    folder = RunFolder(out)
    m = folder.manifest()
    h = headline(folder)
    c = m["counts"]
    console.print(
        f"[bold]{m['policy']['name']}[/] {m['policy']['version']}: {h['citizens']:,} citizens rated as of "
        f"{m['as_of']} from {c['events_in']:,} events ({c['accepted']:,} accepted, "
        f"{c['quarantined']:,} quarantined; {c['entries']:,} ledger entries)"
    )
    t = Table(title="Distribution of the two numbers (people)")
    t.add_column("score"); t.add_column("status", justify="right"); t.add_column("level", justify="right")
    for rng, s, lv in distribution(folder).iter_rows():
        t.add_row(rng, f"{s:,}", f"{lv:,}")
    console.print(t)
    console.print(f"status mean {h['status_mean']:.1f}, median {h['status_median']:.0f}; "
                  f"level mean {h['level_mean']:.1f}, median {h['level_median']:.0f}")
    b = bands(folder)
    if b is not None:
        tb = Table(title="Grades")
        tb.add_column("band"); tb.add_column("people", justify="right")
        for name, n in b.iter_rows():
            tb.add_row(str(name), f"{n:,}")
        console.print(tb)
    tc = Table(title="People under each consequence")
    for col in ("consequence", "kind", "context", "people", "share %", "via household"):
        tc.add_column(col, justify="right" if col in ("people", "share %", "via household") else "left")
    for cid, kind, ctx, n, via, share in consequence_counts(folder, h["citizens"]).select(
            "consequence_id", "kind", "context", "people", "via_household", "share_pct").iter_rows():
        tc.add_row(str(cid), str(kind), ctx, f"{n:,}", f"{share:.2f}", f"{via:,}")
    tc.caption = (f"{h['restricted_people']:,} people under at least one restriction; "
                  f"{h['privileged_people']:,} with at least one privilege")
    console.print(tc)
    wpath = folder.path / "wrongful.parquet"
    if wpath.exists():
        w = pl.read_parquet(wpath).filter(pl.col("kind") == "restriction")
        if w.height:
            tw = Table(title=f"Restrictions over the {m['months']} months: caused by data errors, added by feedback")
            for col in ("consequence", "people ever", "person-months", "wrongful people", "wrongful months",
                        "feedback months"):
                tw.add_column(col, justify="left" if col == "consequence" else "right")
            agg = w.group_by("consequence_id", maintain_order=True).agg(
                pl.len().alias("people"), pl.col("months_actual").sum().alias("months"),
                (pl.col("months_perfect_data") == 0).sum().alias("wrong_people"),
                pl.col("wrongful_months").sum().alias("wrong_months"),
                pl.col("feedback_months").sum().alias("fb_months"))
            for row in agg.iter_rows():
                tw.add_row(str(row[0]), *[f"{v:,}" for v in row[1:]])
            tw.caption = ("wrongful: in force in the actual run but not with error-free data; "
                          "feedback: in force only because earlier consequences changed behaviour")
            console.print(tw)


@app.command()
def explain(
    run_dir: Path = typer.Argument(..., help="run folder"),
    citizen: int = typer.Option(..., help="citizen_id"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show one citizen's entries, the arithmetic to status and level, and consequences."""
    from .engine.explain import explain as do_explain
    from .policy.load import parse_policy
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
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    render_explain(out)


def render_explain(x: dict) -> None:
    console.print(f"[bold]Citizen {x['citizen_id']}[/] under {x['policy']}, as of {x['as_of']}")
    rc = x["recomputed"]
    band = f", band {rc['band']}" if "band" in rc else ""
    console.print(f"status [bold]{rc['status']:02d}[/], level [bold]{rc['level']:02d}[/]{band}"
                  f"  (matches the rating on file: {x['matches_rating_on_file']})")
    console.print(f"  status: {x['arithmetic']['status']}")
    console.print(f"  level:  {x['arithmetic']['level']}")
    t = Table(title=f"Entries ({len(x['entries'])})", box=box.SIMPLE_HEAD, pad_edge=False,
              caption="counts: s = in status, s+l = in status and level, no = not counting")
    for col in ("entry", "date", "source", "record", "rule", "ref", "points", "expires", "state", "counts"):
        t.add_column(col, overflow="fold", no_wrap=col not in ("source", "rule"))
    refs: dict[str, int] = {}
    for e in x["entries"]:
        cnt = "s+l" if e["counts_in_level"] else ("s" if e["counts_in_status"] else "no")
        pts = str(e["points"]) + (f" (cap; {e['points_before_cap']})" if e["points"] != e["points_before_cap"] else "")
        k = refs.setdefault(e["reference"], len(refs) + 1)
        t.add_row(str(e["entry_id"]), e["occurred_on"], e["source"], e["record_id"], e["rule_id"], f"[{k}]", pts,
                  e["closed_on"] and f"closed {e['closed_on']}" or e["expires_on"] or "never", e["state"], cnt)
    console.print(t)
    for ref, k in refs.items():
        console.print(f"  \\[{k}] {ref}", highlight=False)
    if x["consequences"]:
        tc = Table(title="Consequences in force")
        for col in ("consequence", "kind", "context", "because", "since", "until", "review"):
            tc.add_column(col)
        for c in x["consequences"]:
            why = c["because"] + (f" (household member {c['via_household_member']})" if c["via_household_member"] is not None else "")
            tc.add_row(c["consequence_id"], c["kind"], c["context"], why, c["since"] or "",
                       c["until"] or "while it holds", "human" if c["human_review"] else "automatic")
        console.print(tc)
        for c in x["consequences"]:
            render_recourse(c)
    else:
        console.print("No consequence in force.")


def render_recourse(c: dict) -> None:
    r = c.get("recourse")
    if not r:
        return
    console.print(f"\n[bold]{c['consequence_id']}[/] ({c['kind']}): {escape(r['condition'])}", highlight=False)
    if "via_household_member" in r:
        console.print(f"  {r['note']}", highlight=False)
        return
    lifts = r["lifts_without_new_events"]
    if lifts["on"] is None:
        never = ", ".join(str(e["entry_id"]) for e in lifts["never_ending_entries"])
        console.print("  (a) with no new events it does not lift by itself"
                      + (f" (entries that never end: {never})" if never else ""), highlight=False)
    else:
        ending, leaving = lifts["entries_ending"], lifts.get("entries_leaving_level_window", [])
        last = [f"{e['entry_id']} ({e['rule_id']} {e['points']:+d}) ends" for e in ending if e["ends_on"] == lifts["on"]]
        last += [f"{e['entry_id']} ({e['rule_id']} {e['points']:+d}) leaves the level window" for e in leaving
                 if e["leaves_level_window_on"] == lifts["on"]]
        verb = "lifts" if c["kind"] == "restriction" else "lapses"
        more = (f" (by then {len(ending)} entr{'y ends' if len(ending) == 1 else 'ies end'}"
                + (f" and {len(leaving)} leave the level window" if leaving else "") + "; --json lists them)")
        console.print(f"  (a) with no new events it {verb} on [bold]{lifts['on']}[/]"
                      + (f" when {', '.join(last)}" if last else "") + more, highlight=False)
    if c["kind"] != "restriction":
        return
    ov = r["overturn"]
    if ov is None:
        console.print("  (b) overturning entries cannot lift it: the condition holds with no entries at all",
                      highlight=False)
    else:
        ids = ", ".join(f"{e['entry_id']} ({e['rule_id']}, {e['points']:+d}, {e['occurred_on']})"
                        for e in ov["entries"])
        after = ", ".join(f"{k} {v}" for k, v in ov["after"].items())
        console.print(f"  (b) smallest set to overturn ({ov['size']} entr{'y' if ov['size'] == 1 else 'ies'}"
                      f"{'' if ov['exact'] else ', search truncated: not proven smallest'}): {ids}; then {after}",
                      highlight=False)
    off = r["offset"]
    if off is None:
        console.print("  (c) no amount of new positive points lifts it (the condition is not score-based)",
                      highlight=False)
    else:
        ways = []
        for w in off["rules"]:
            if w.get("events") is not None:
                ways.append(f"{w['events']} x {w['rule_id']} ({w['points_per_event']:+d} each)")
            elif w.get("units") is not None:
                ways.append(f"{w['rule_id']}: {w['units']} {w['unit']} in one event ({w['points_per_unit']:g} a unit)")
            else:
                ways.append(f"not {w['rule_id']} ({w['why_not']})")
        console.print(f"  (c) offset: {off['points']} new positive points; e.g. " + "; ".join(ways), highlight=False)


def _date_opt(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{name}: expected a date YYYY-MM-DD, got {value!r}")


_DB_HELP = "ledger store: postgresql://... URL or a .duckdb file (default: the run folder's ledger.duckdb)"


@app.command()
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
    from .store.contest import ContestError, contest as do_contest

    try:
        out = do_contest(run_dir, citizen, entry, reason, on=_date_opt(on, "--on"), db=db)
    except (ContestError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""), 1)
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    console.print(f"entry {out['entry_id']} contested by citizen {out['citizen_id']} on {out['on']} "
                  f"(change {out['change_id']}); review due by {out['review_deadline']}", highlight=False)
    console.print(f"  its points {out['points_while_contested']}; if the review is overdue, {out['overdue']}",
                  highlight=False)
    if out["note"]:
        console.print(f"  note: {out['note']}", highlight=False)
    console.print(f"  re-scored: {out['contested']} contested, {out['overturned']} overturned entries in the run")
    console.print(f"  head to publish: {out['head']}", highlight=False, soft_wrap=True)


@app.command()
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
    from .store.contest import ContestError, resolve as do_resolve

    if upheld == overturned:
        _fail("give exactly one of --upheld or --overturned")
    try:
        out = do_resolve(run_dir, entry, "upheld" if upheld else "overturned", reviewer, reason,
                         on=_date_opt(on, "--on"), db=db)
    except (ContestError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(str(exc).strip("'\""), 1)
    except Exception as exc:  # noqa: BLE001
        _store_failed(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    console.print(f"entry {out['entry_id']} {out['outcome']} on {out['on']} (change {out['change_id']}); "
                  f"state now: {out['state_now']}", highlight=False)
    if out["note"]:
        console.print(f"  note: {out['note']}", highlight=False)
    console.print(f"  re-scored: {out['contested']} contested, {out['overturned']} overturned entries in the run")
    console.print(f"  head to publish: {out['head']}", highlight=False, soft_wrap=True)


@app.command()
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
        err.print(str(exc), highlight=False)
        raise typer.Exit(2)
    findings = lint(p)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_RANK}
    if as_json:
        sys.stdout.write(json.dumps({
            "policy": p.name, "version": p.version, "sha256": policy_hash(p), "counts": counts,
            "findings": [{"severity": f.severity, "code": f.code, "target": f.target, "message": f.message,
                          "anchor": f.anchor} for f in findings],
        }, indent=2) + "\n")
    else:
        t = Table(title=f"Lint of {p.name} {p.version}")
        for col in ("severity", "code", "rule / consequence", "finding", "anchor"):
            t.add_column(col, overflow="fold")
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for f in findings:
            t.add_row(f"[{style[f.severity]}]{f.severity}[/]", f.code, f.target, f.message, f.anchor)
        if findings:
            console.print(t)
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
    """Validate a policy; exit 1 with errors naming the file, the field and what was expected."""
    try:
        p = load_policy(file)
    except PolicyError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(1)
    console.print(f"ok: {p.name} {p.version}: {len(p.rules)} rules, {len(p.closures)} closures, "
                  f"{len(p.consequences)} consequences; sha256 {policy_hash(p)}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
