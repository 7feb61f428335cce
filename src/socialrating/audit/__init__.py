"""The audit of one run: who the rating restricts, how many wrongly, which groups bear it,
whether it traps people, and what feedback adds.

    from socialrating.audit import audit_run
    result = audit_run("runs/we-100k")      # also writes runs/we-100k/audit/*.parquet + audit.json
    result.headline["restricted_share"]
    result.tables["groups"]

Everything is computed from the run folder's files (see `_run.SCHEMAS`), over whole
columns with Polars and NumPy. `compare_runs` (compare.py) sets two runs side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..atomic import write_atomic
from ._run import KINDS, RunData, RunFormatError, load_run, person_totals
from .figures import FIGURES, counts, person_months, wrong_people, definitions, figure_table, figures_json, settling, wrongly_over_time
from .compare import CompareResult, RunMismatchError, compare_runs
from .groups import DIMENSIONS, INTERSECTIONS, MIN_GROUP_SIZE, REPLICATES, disparity_summary, group_table
from .mobility import recovery, transition_first_last, transition_monthly, traps
from .timeline import merged_spells, over_time, scenario_totals
from .wrongful import wrongful_by_group, wrongful_by_source

__all__ = ["AuditResult", "audit_run", "compare_runs", "CompareResult", "RunMismatchError", "RunFormatError",
           "load_run", "group_table", "disparity_summary", "FIGURES", "figure_table", "definitions"]

AUDIT_VERSION = 2  # 2: figures from audit/figures.py; wrongful months exclude lengthened ones

#: what each table holds (written into audit.json next to the files)
TABLE_NOTES = {
    "figures": "per consequence: every quotable figure (see audit/figures.py and audit.json 'definitions')",
    "wrongly_over_time": "people under each consequence each month who would not be that month with correct records",
    "settling": "per consequence and headline series: level and trend over the last 6 months, settled or not",
    "consequences": "per consequence: people ever under it, share of the population, mean months (actual run)",
    "groups": "per consequence and group: size, rate with 95% CI, ratio to overall, four-fifths and harm flags",
    "disparities": "per consequence and dimension: lowest and highest group rate, min/max ratio, flagged groups",
    "over_time": "people under each consequence each month, in each scenario",
    "scenarios": "people and person-months per consequence in each scenario, and what errors/feedback added",
    "wrongful_groups": "group table of wholly wrongful consequences",
    "wrongful_sources": "wholly and partly wrongful consequences by the source of the erroneous records",
    "transitions_first_last": "people by band in the first month (from) and last month (to)",
    "transitions_monthly": "average monthly flows between bands and one-month transition shares",
    "recovery_curve": "Kaplan-Meier share of restriction spells still running after each number of months",
    "recovery": "per restriction: spells, ended, censored, median months, share still restricted after 3/6/12/24",
}


@dataclass
class AuditResult:
    """Tables (Polars frames) and headline numbers of one run's audit."""

    run_dir: Path
    headline: dict[str, Any]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # figures_json(): counts and per-consequence figures

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def _consequence_table(run: RunData, totals: pl.DataFrame) -> pl.DataFrame:
    N = run.citizens.height
    ids = list(run.kinds) + [f"any-{k}" for k in KINDS]
    base = pl.DataFrame({"consequence_id": ids,
                         "kind": [run.kinds.get(i, i.removeprefix("any-")) for i in ids],
                         "context": [run.contexts.get(i, "") for i in ids]})
    desc = {}
    if run.policy is not None:
        desc = {c.id: c.description for c in run.policy.consequences}
    desc.update({"any-restriction": "under at least one restriction", "any-privilege": "holds at least one privilege"})
    agg = totals.group_by("consequence_id").agg(pl.len().cast(pl.Int64).alias("people"),
                                                pl.col("months").mean().alias("mean_months"),
                                                pl.col("months").sum().cast(pl.Int64).alias("person_months"))
    out = base.join(agg, on="consequence_id", how="left").with_columns(
        pl.col("people").fill_null(0), pl.col("person_months").fill_null(0),
        pl.col("consequence_id").replace_strict(desc, default="", return_dtype=pl.String).alias("description"))
    return out.with_columns((pl.col("people") / max(N, 1)).alias("share")).select(
        "consequence_id", "kind", "context", "description", "people", "share", "mean_months", "person_months")


def audit_run(run_dir: str | Path, *, min_group_size: int = MIN_GROUP_SIZE, replicates: int = REPLICATES,
              seed: int | None = None, dimensions=DIMENSIONS, intersections=INTERSECTIONS,
              write: bool = True) -> AuditResult:
    """Audit one run folder; with `write`, save audit/<table>.parquet and audit.json in it.

    seed: for the bootstrap; by default the run's own seed (manifest "seed"), so the same
    run gives the same intervals.
    """
    run = load_run(run_dir)
    if seed is None:
        seed = int(run.manifest.get("seed") or 0)
    kinds_any = {**run.kinds, **{f"any-{k}": k for k in KINDS}}
    opts = dict(dimensions=dimensions, intersections=intersections, min_group_size=min_group_size,
                replicates=replicates, seed=seed)
    totals = person_totals(run.consequences, "actual")
    t: dict[str, pl.DataFrame] = {}
    grid = person_months(run)  # one person-month grid for every figure
    wrong = wrong_people(run, grid)
    t["figures"] = figure_table(run, grid)
    t["wrongly_over_time"] = wrongly_over_time(run, grid)
    t["consequences"] = _consequence_table(run, totals)
    t["groups"] = group_table(run.citizens, totals, kinds_any, **opts)
    t["disparities"] = disparity_summary(t["groups"])
    merged = merged_spells(run)
    t["over_time"] = over_time(run, merged)
    t["scenarios"] = scenario_totals(run, merged)
    t["settling"] = settling(t["over_time"], t["wrongly_over_time"], run.n_months)
    if run.wrongful is not None:
        t["wrongful_groups"] = wrongful_by_group(run, wrong, **opts)
        t["wrongful_sources"] = wrongful_by_source(run, wrong)
    t["transitions_first_last"] = transition_first_last(run)
    t["transitions_monthly"] = transition_monthly(run)
    t["recovery_curve"], t["recovery"] = recovery(run)

    headline = _headline(run, t)
    params = {"min_group_size": min_group_size, "replicates": replicates, "seed": seed, "level": 0.95,
              "dimensions": list(dimensions), "intersections": [list(x) for x in intersections],
              "audit_version": AUDIT_VERSION}
    result = AuditResult(run.path, headline, t, params, figures_json(t["figures"], counts(run)))
    if write:
        _write(result)
    return result


def _f(x) -> float | None:
    return None if x is None else float(x)


def _headline(run: RunData, t: dict[str, pl.DataFrame]) -> dict[str, Any]:
    N = run.citizens.height
    scen_present = list(run.scenarios)
    f = {r["consequence_id"]: r for r in t["figures"].iter_rows(named=True)}
    r, p = f["any-restriction"], f["any-privilege"]

    def share(num, den):
        return None if num is None or not den else num / den

    h: dict[str, Any] = {
        "citizens": N, "adults": int(run.citizens.filter(pl.col("age_band") != "under 18").height),
        "months": run.n_months, "first_month": run.months[0].isoformat(), "last_month": run.months[-1].isoformat(),
        "policy": (run.manifest.get("policy") or {}).get("name") or (run.policy.name if run.policy else None),
        "seed": run.manifest.get("seed"), "scenarios": scen_present,
        # every count below is a figure of audit/figures.py (any-restriction / any-privilege rows)
        "restricted_people": r["ever"], "restricted_share": share(r["ever"], r["population"]),
        "restricted_share_of": "adults" if r["adult_only"] else "everyone",
        "restricted_at_end_people": r["at_end"], "restricted_at_end_share": share(r["at_end"], r["population"]),
        "privileged_people": p["ever"], "privileged_share": share(p["ever"], p["population"]),
        "privileged_share_of": "adults" if p["adult_only"] else "everyone",
        "restricted_mean_months": share(r["person_months"], r["ever"]),
        "restriction_months": r["person_months"],
    }
    last = run.ratings.filter(pl.col("t") == run.ratings["t"].max())
    h["status_mean_last_month"] = _f(last["status"].mean())
    h["status_median_last_month"] = _f(last["status"].median())
    sc = t["scenarios"].filter(pl.col("consequence_id") == "any-restriction").row(0, named=True)
    if "perfect_data" in scen_present:
        h["restricted_people_perfect_data"] = sc["people_perfect_data"]
        h["restricted_people_added_by_errors"] = sc["people_added_by_errors"]
        h["wrongly_restricted_people"] = r["wrongly"]
        h["wrongly_restricted_share_of_restricted"] = share(r["wrongly"], r["ever"])
        h["wrongful_restriction_months"] = r["wrongful_months"]
        h["restricted_longer_people"] = r["longer"]
        h["restriction_months_added_by_errors"] = r["longer_months"]
    if "no_feedback" in scen_present:
        h["restricted_people_no_feedback"] = sc["people_no_feedback"]
        h["restriction_months_added_by_feedback"] = r["feedback_months"]
        h["restriction_months_feedback_share"] = share(r["feedback_months"], r["person_months"])
    if "no_appeals" in scen_present:
        h["restricted_people_no_appeals"] = sc["people_no_appeals"]
        if r["prevented_by_appeals"] is not None:
            h["wrongful_restriction_months_prevented_by_appeals"] = r["prevented_by_appeals"]
    if "wrongful_sources" in t:
        src = t["wrongful_sources"].filter(pl.col("consequence_id") == "any-restriction")
        if src.height:
            top = src.sort("wrongful_people", descending=True).row(0, named=True)
            h["top_error_source"] = top["source"]
            h["top_error_source_people"] = top["wrongful_people"]
    d = t["disparities"].filter((pl.col("consequence_id") == "any-restriction") & pl.col("rate_max").is_not_null()
                                & (pl.col("rate_min") > 0) & ~pl.col("dimension").str.contains(" x ", literal=True))
    if d.height:
        top = d.with_columns((pl.col("rate_max") / pl.col("rate_min")).alias("_r")).sort("_r", descending=True).row(
            0, named=True)
        h["largest_disparity"] = {"dimension": top["dimension"], "most_affected": top["most_affected"],
                                  "least_affected": top["least_affected"], "rate_most": top["rate_max"],
                                  "rate_least": top["rate_min"], "times": top["rate_max"] / top["rate_min"]}
    g = t["groups"].filter((pl.col("consequence_id") == "any-restriction") & pl.col("harm_flag").fill_null(False))
    h["groups_flagged_any_restriction"] = g.height
    h["groups_clearly_flagged_any_restriction"] = int(g["harm_clear"].fill_null(False).sum())
    h.update(traps(run, t["transitions_first_last"]))
    rec = t["recovery"].filter(pl.col("consequence_id") == "any-restriction").row(0, named=True)
    h["restriction_spells"] = rec["spells"]
    h["restriction_spells_unended"] = rec["censored"]
    h["restriction_median_months"] = rec["median_months"]
    h["still_restricted_after_12_months"] = _f(rec["still_after_12"])
    return h


def _write(result: AuditResult) -> None:
    out = result.run_dir / "audit"
    out.mkdir(exist_ok=True)
    for name, frame in result.tables.items():
        write_atomic(out / f"{name}.parquet", lambda p, f=frame: f.write_parquet(p, compression="zstd"))
    doc = {"headline": result.headline, "parameters": result.parameters, "figures": result.figures,
           "definitions": definitions(),
           "tables": {n: {"file": f"audit/{n}.parquet", "rows": f.height, "about": TABLE_NOTES.get(n, "")}
                      for n, f in result.tables.items()}}
    text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    write_atomic(result.run_dir / "audit.json", lambda p: p.write_text(text))
