"""All schemes side by side: every built-in policy run on the same synthetic nation.

`run_league` builds the world (population, agencies' records with their errors, linkage)
once for the seed and runs the ordinary simulation of each built-in policy on it, each
into a sub-folder of the league folder, so every scheme sees exactly the same people and
the same records. `league_rows` then reads each run folder and reduces it to the figures
a reader comparing schemes asks for first (one row per scheme, see `SchemeRow`), and
`write_league_json` keeps them in `league.json` next to the sub-folders.

The figures come from the run folders' own tables (current_consequences, consequences,
wrongful, citizens, manifest) with plain column operations, so each can be checked
against `socialrating audit` of the sub-folder.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from ..policy.conditions import describe
from ..policy.load import builtin_names, parse_policy
from ..policy.model import Policy, Rule
from ..simulate.simulation import MAX_DEFAULT_HISTORY_YEARS, SimConfig, make_world, simulate
from ..store.runfolder import RunFolder
from ._run import add_groups
from .groups import DIMENSIONS, MIN_GROUP_SIZE

#: fewer people ever restricted than this name no "most affected group"
MIN_AFFECTED = 20
#: how a group is named in the league ("age 25-34", "decile 1", "Volga", "rural")
GROUP_LABEL = {"district": "", "age_band": "age ", "sex": "sex ", "income_decile": "decile ", "area": ""}
#: the league's default first month: every built-in scheme's rules are in force from it
#: (the We platform's stage 3 scores events from 2026-01-01)
LEAGUE_START = dt.date(2026, 1, 1)


@dataclass
class SchemeRow:
    """One scheme's figures in the league (counts are people of the synthetic nation)."""

    name: str
    version: str
    title: str
    people: int
    restricted_end: int          # under at least one restriction on the last day
    restricted_ever: int         # under at least one restriction at any month end of the run
    wrongful: int                # restricted in some month only because of wrong records
    group: str | None            # the group (of at least MIN_GROUP_SIZE people) most often restricted
    group_ratio: float | None    # its rate of ever restricted / the overall rate
    feedback_share: float | None  # share of restriction person-months that feedback added
    restriction_months: int
    lint_errors: int
    lint_warnings: int
    rules: list[str] = field(default_factory=list)
    consequences: list[str] = field(default_factory=list)
    lint: list[dict] = field(default_factory=list)
    assumptions: int = 0


def run_league(out: str | Path, *, people: int, years: float, seed: int, start: dt.date = LEAGUE_START,
               world: str = "synthetic", policies: list[str] | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> list[SchemeRow]:
    """Run every built-in policy (or `policies`) on one world and write the league folder."""
    out = Path(out)
    names = policies or builtin_names()
    # one world for every scheme: the longest default history, every record of it kept (each
    # scheme counts what its own rules can still count)
    hist = MAX_DEFAULT_HISTORY_YEARS
    base = SimConfig(people=people, years=years, seed=seed, start=start, world=world, history_years=hist)
    shared = make_world(base, hist, None)
    for i, name in enumerate(names):
        if progress:
            progress(name, i, len(names))
        simulate(SimConfig(policy=name, people=people, years=years, seed=seed, start=start, world=world,
                           history_years=hist), out / name, world=shared)
    rows = league_rows(out, names)
    write_league_json(out, rows, people=people, years=years, seed=seed, start=start, world=world)
    return rows


def league_rows(out: str | Path, names: list[str]) -> list[SchemeRow]:
    out = Path(out)
    return [scheme_row(out / n) for n in names]


def scheme_row(run_dir: Path) -> SchemeRow:
    """The league figures of one run folder."""
    policy = parse_policy((run_dir / "policy.yaml").read_text(encoding="utf-8"), str(run_dir / "policy.yaml"))
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    folder = RunFolder(run_dir)
    citizens = folder.read("citizens")
    current = folder.read("current_consequences")
    spells = folder.read("consequences")
    wrongful = folder.read("wrongful")
    restr = pl.col("kind").cast(pl.String) == "restriction"
    ever_ids = spells.filter(restr & (pl.col("scenario").cast(pl.String) == "actual"))["citizen_id"].unique()
    w = wrongful.filter(restr)
    months = int(w["months_actual"].cast(pl.Int64).sum()) if w.height else 0
    fb = int(w["feedback_months"].cast(pl.Int64).sum()) if w.height else 0
    group, ratio = most_affected(citizens, ever_ids)
    lint = manifest.get("lint") or []
    return SchemeRow(
        name=policy.name, version=policy.version, title=policy.title, people=citizens.height,
        restricted_end=current.filter(restr)["citizen_id"].n_unique(),
        restricted_ever=ever_ids.len(),
        wrongful=w.filter(pl.col("wrongful_months") > 0)["citizen_id"].n_unique(),
        group=group, group_ratio=ratio,
        feedback_share=(fb / months) if months else None, restriction_months=months,
        lint_errors=sum(f["severity"] == "error" for f in lint),
        lint_warnings=sum(f["severity"] == "warning" for f in lint),
        rules=[rule_line(policy, r) for r in policy.rules],
        consequences=[f"{c.id} ({c.kind}, {c.context}): {describe(c.when)}"
                      + (", household too" if c.applies_to_household else "")
                      + ("" if c.human_review or c.kind == "privilege" else ", automatic")
                      for c in policy.consequences],
        lint=lint, assumptions=len(policy.assumptions),
    )


def most_affected(citizens: pl.DataFrame, ever_ids: pl.Series) -> tuple[str | None, float | None]:
    """The group, over the audit's dimensions and among groups of at least MIN_GROUP_SIZE
    people, with the highest share ever restricted, and that share over the overall share.
    Ties go to the first in dimension order, then group name. With fewer than MIN_AFFECTED
    people ever restricted there is no such group: one or two people make any ratio."""
    if ever_ids.len() < MIN_AFFECTED or citizens.height == 0:
        return None, None
    g = add_groups(citizens).with_columns(hit=pl.col("citizen_id").is_in(ever_ids.implode()))
    overall = g["hit"].mean()
    best: tuple[float, str] | None = None
    for dim in DIMENSIONS:
        t = (g.group_by(dim).agg(n=pl.len(), rate=pl.col("hit").mean())
             .filter(pl.col("n") >= MIN_GROUP_SIZE).sort(dim))
        for grp, rate in zip(t[dim].to_list(), t["rate"].to_list()):
            r = rate / overall
            if best is None or r > best[0] + 1e-12:
                best = (r, f"{GROUP_LABEL[dim]}{grp}")
    return (best[1], round(best[0], 2)) if best else (None, None)


def rule_line(policy: Policy, r: Rule) -> str:
    """A rule in one line: id, event type, points (per unit), cap, expiry, dates."""
    pts = f"{r.points:+d}" if r.points is not None else f"{r.points_per_unit:+g}/{r.unit}"
    parts = [f"{r.id}: {r.event_type} {pts}"]
    if r.cap is not None:
        parts.append(f"cap {r.cap.points:+d}/{r.cap.period_months} mo")
    exp = policy.expiry_months(r)
    parts.append(f"{exp} mo" if exp else "no expiry")
    if r.valid_from:
        parts.append(f"from {r.valid_from}")
    if r.valid_until:
        parts.append(f"until {r.valid_until}")
    return ", ".join(parts)


def write_league_json(out: Path, rows: list[SchemeRow], **params) -> Path:
    doc = {"kind": "league", **{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items()},
           "schemes": [asdict(r) for r in rows]}
    path = Path(out) / "league.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_league(out: str | Path) -> tuple[dict, list[SchemeRow]]:
    """The league folder's parameters and rows (from league.json)."""
    doc = json.loads((Path(out) / "league.json").read_text(encoding="utf-8"))
    rows = [SchemeRow(**r) for r in doc.pop("schemes")]
    return doc, rows
