"""Command line: `socialrating run | demo | explain | policy ...`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .policy.load import PolicyError, builtin_names, json_schema, load_policy, policy_hash, read_policy_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Open rules-as-code model of national social-rating schemes, on synthetic data.")
policy_app = typer.Typer(no_args_is_help=True, help="List, show, validate and export policies.")
app.add_typer(policy_app, name="policy")
_WIDTH = None if sys.stdout.isatty() else 120  # readable tables in logs and pipes too
console = Console(width=_WIDTH)
err = Console(stderr=True)


def _fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    policy: str = typer.Option("we-platform", help="built-in policy name or a YAML file"),
    people: int = typer.Option(100_000, min=1, help="synthetic citizens"),
    years: float = typer.Option(2.0, min=0.1, max=20, help="years of events before the rating date"),
    seed: int = typer.Option(20240701, help="seed of all randomness (numpy SeedSequence)"),
    out: Path = typer.Option(Path("runs/latest"), help="run folder to write"),
    start: str = typer.Option("2024-07-01", help="first day of events (YYYY-MM-DD)"),
    shard_size: int = typer.Option(1_000_000, min=1000, help="people per shard (bounds memory)"),
) -> None:
    """Generate a synthetic population and its events, score them, write the run folder."""
    from .simulate.run import RunConfig, run as do_run

    try:
        start_d = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start: expected a date YYYY-MM-DD, got {start!r}")
    cfg = RunConfig(policy=policy, people=people, years=years, seed=seed, start=start_d, shard_size=shard_size)
    try:
        with Progress(TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("people"),
                      TimeElapsedColumn(), console=err, transient=True) as prog:
            task = prog.add_task("run", total=people)
            manifest = do_run(cfg, out, progress=lambda done, total: prog.update(task, completed=done))
    except PolicyError as exc:
        _fail(str(exc))
    print_summary(out)
    console.print(f"\nRun folder: [bold]{out}[/]  (policy {manifest['policy']['name']} "
                  f"{manifest['policy']['version']}, sha256 {manifest['policy']['sha256'][:12]}...)")


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="run folder to write")) -> None:
    """The README's main job: 100,000 people, 2 years, the we-platform policy, then the summary."""
    run(policy="we-platform", people=100_000, years=2.0, seed=20240701, out=out,
        start="2024-07-01", shard_size=1_000_000)
    console.print(f"Explain one citizen: [bold]socialrating explain {out} --citizen 42[/]")


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
    t.caption = (f"status mean {h['status_mean']:.1f}, median {h['status_median']:.0f}; "
                 f"level mean {h['level_mean']:.1f}, median {h['level_median']:.0f}")
    console.print(t)
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
    rating = folder.scan("ratings").filter(pl.col("citizen_id") == citizen).collect()
    if rating.height == 0:
        _fail(f"citizen {citizen} is not in {run_dir} (citizen ids run 0..{m['rows']['ratings'] - 1})")
    rrow = rating.drop("citizen_id", "as_of").row(0, named=True)
    if "band" in rrow:
        rrow["band"] = str(rrow["band"])
    ledger = folder.scan("ledger").filter(pl.col("citizen_id") == citizen).collect()
    cons = folder.scan("consequences").filter(pl.col("citizen_id") == citizen).collect()
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
    t = Table(title=f"Entries ({len(x['entries'])})")
    for col in ("date", "event", "source", "record", "rule", "points", "expires", "state", "counts"):
        t.add_column(col)
    for e in x["entries"]:
        cnt = "status+level" if e["counts_in_level"] else ("status" if e["counts_in_status"] else "no")
        pts = str(e["points"]) + (f" (cap; {e['points_before_cap']})" if e["points"] != e["points_before_cap"] else "")
        t.add_row(e["occurred_on"], e["event_type"], e["source"], e["record_id"], e["rule_id"], pts,
                  e["closed_on"] and f"closed {e['closed_on']}" or e["expires_on"] or "never", e["state"], cnt)
    console.print(t)
    if x["consequences"]:
        tc = Table(title="Consequences in force")
        for col in ("consequence", "kind", "context", "because", "since", "until", "review"):
            tc.add_column(col)
        for c in x["consequences"]:
            why = c["because"] + (f" (household member {c['via_household_member']})" if c["via_household_member"] is not None else "")
            tc.add_row(c["consequence_id"], c["kind"], c["context"], why, c["since"] or "",
                       c["until"] or "while it holds", "human" if c["human_review"] else "automatic")
        console.print(tc)
    else:
        console.print("No consequence in force.")


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
