"""One definition of every figure a run is quoted by, and its computation.

The terminal summary, `socialrating audit` (table and --json), the HTML report and
`socialrating compare` all take their numbers *and their labels* from here, so a figure
reads the same wherever it is printed. Each `Figure` says what it counts, in which
scenario, and what a share of it is a share of.

All per-consequence figures are computed from consequences.parquet alone (the spells of
every scenario, household spill-over included), on a person-month grid: a person under
two overlapping spells of one consequence counts once a month, and "any restriction" is
the union over restrictions (so "wrongly under any restriction" means: restricted in the
run as it happened, and under no restriction at all with correct records). Wrongful and
lengthened months are kept apart: a person is either wrongly under a consequence (would
never have been under it) or under it longer (would have been, for fewer months).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from ._run import KINDS, RunData
from .timeline import merged_spells


@dataclass(frozen=True)
class Figure:
    """A quotable number: `label` with {x} standing for the consequence's name."""

    name: str
    label: str
    short: str  # a column header
    definition: str
    scenario: str
    denominator: str  # what a share of this figure is a share of ('' when a share makes no sense)
    unit: str  # 'people' or 'person-months'
    needs: tuple[str, ...] = ("actual",)  # scenarios the run must have for this figure


FIGURES: tuple[Figure, ...] = (
    Figure("at_end", "people under {x} at the end", "at the end",
           "people under it in the last month of the run", "actual", "population", "people"),
    Figure("at_end_via_household", "people under {x} at the end through a household member", "via household",
           "of those under it at the end, people under it only because a household member is (spill-over)",
           "actual", "at_end", "people"),
    Figure("ever", "people ever under {x}", "ever",
           "people under it in at least one month of the run", "actual", "population", "people"),
    Figure("person_months", "person-months under {x}", "person-months",
           "months under it added up over people (a person counts once a month)", "actual", "", "person-months"),
    Figure("wrongly", "people wrongly under {x}", "wrongly",
           "people under it in some month who, with every record correct, would never have been under it",
           "actual vs perfect_data", "ever", "people", ("actual", "perfect_data")),
    Figure("wrongful_months", "wrongful months under {x}", "wrongful months",
           "the months the people wrongly under it spent under it", "actual vs perfect_data", "person_months",
           "person-months", ("actual", "perfect_data")),
    Figure("longer", "people under {x} longer because of wrong records", "longer",
           "people who would have been under it with correct records too, but for fewer months",
           "actual vs perfect_data", "ever", "people", ("actual", "perfect_data")),
    Figure("longer_months", "months wrong records added to {x}", "months added",
           "the months wrong records added for the people under it longer", "actual vs perfect_data",
           "person_months", "person-months"),
    Figure("feedback_months", "feedback months under {x}", "feedback months",
           "months under it in the run that would not have happened had the rating not fed back into "
           "people's lives (the no-feedback scenario)", "actual vs no_feedback", "person_months", "person-months",
           ("actual", "no_feedback")),
    Figure("prevented_by_appeals", "wrongful months of {x} prevented by appeals", "spared by appeals",
           "months people would have been under it wrongly had nobody appealed, and were not in the run",
           "no_appeals vs actual and perfect_data", "", "person-months",
           ("actual", "perfect_data", "no_appeals")),
)
BY_NAME = {f.name: f for f in FIGURES}
#: plain words for the denominators and scenarios of FIGURES (the report's glossary)
DENOMINATOR_WORDS = {"population": "everyone in the run (the adults, for a consequence no child is under in their "
                                   "own right)", "ever": "the people ever under it",
                     "at_end": "the people under it at the end", "person_months": "the person-months under it"}
SCENARIO_WORDS = {"actual": "the run as it happened",
                  "actual vs perfect_data": "the run against the same run with every record correct",
                  "actual vs no_feedback": "the run against the same run where the rating changes nothing in "
                                           "people's lives",
                  "no_appeals vs actual and perfect_data": "the same run had nobody appealed, against the run "
                                                           "and the run with correct records"}

#: run-wide counts: name -> (label, definition)
COUNTS: dict[str, tuple[str, str]] = {
    "citizens": ("citizens", "synthetic people in the run"),
    "adults": ("adults", "people aged 18 or over"),
    "months": ("months", "months the rating was in force"),
    "records_in": ("records from the sources", "records the 16 agencies sent (linkage.json)"),
    "records_linked": ("records linked to a person", "of those, records matched to a citizen"),
    "records_set_aside": ("records set aside", "of those, records that matched nobody, kept in quarantine with a reason"),
    "records_after_end": ("records reported after the last month", "linked records that arrived too late to count"),
    "events_in": ("records the engine read", "linked records that arrived within the run, plus the records "
                                             "the feedback model added"),
    "events_rejected": ("records the engine rejected", "records the engine quarantined as invalid"),
    "entries": ("ledger entries", "entries in the ledger on the last day"),
}
ANY = {f"any-{k}": f"any {k}" for k in KINDS}


def label(name: str, consequence: str) -> str:
    """The printed label of a figure for one consequence ('people ever under no-credit')."""
    return BY_NAME[name].label.format(x=ANY.get(consequence, consequence))


def definitions() -> dict[str, dict[str, str]]:
    """Every figure's definition, for JSON output and the report's glossary."""
    return {f.name: {k: v for k, v in asdict(f).items() if k != "name"} for f in FIGURES}


def person_months(run: RunData) -> pl.DataFrame:
    """scenario, consequence_id, citizen_id, t: one row per person-month under a consequence."""
    s = merged_spells(run).filter(pl.col("t1") > pl.col("t0"))
    return (s.with_columns(pl.int_ranges("t0", "t1", dtype=pl.Int32).alias("t")).explode("t")
            .select(pl.col("scenario").cast(pl.String), "consequence_id", "citizen_id", "t"))


def _months(grid: pl.DataFrame, scenario: str) -> pl.DataFrame:
    return grid.filter(pl.col("scenario") == scenario).select("consequence_id", "citizen_id", "t")


def adult_only(run: RunData) -> dict[str, bool]:
    """consequence_id -> True when no child holds it in their own right in any scenario.

    Children are rated but have almost no records; for such consequences the people who
    can be under it are the adults, so adults are the fair denominator."""
    kids = run.citizens.filter(pl.col("age_band") == "under 18").select("citizen_id")
    own = run.consequences.filter(pl.col("via_citizen_id").is_null()).join(kids, on="citizen_id", how="semi")
    held = set(own["consequence_id"].unique().to_list())
    out = {cid: cid not in held for cid in run.kinds}
    for kind in KINDS:
        out[f"any-{kind}"] = all(v for c, v in out.items() if run.kinds.get(c) == kind)
    return out


def _via_at_end(run: RunData) -> pl.DataFrame:
    """consequence_id, at_end_via_household: under it in the last month through a household
    member and not in their own right."""
    last = run.n_months - 1
    c = run.consequences.filter((pl.col("scenario") == "actual") & (pl.col("t0") <= last) & (pl.col("t1") > last))
    c = pl.concat([c.select("consequence_id", "citizen_id", "via_citizen_id"),
                   c.select(pl.concat_str(pl.lit("any-"), pl.col("kind")).alias("consequence_id"), "citizen_id",
                            "via_citizen_id")])
    own = c.filter(pl.col("via_citizen_id").is_null()).select("consequence_id", "citizen_id").unique()
    via = (c.filter(pl.col("via_citizen_id").is_not_null()).select("consequence_id", "citizen_id").unique()
           .join(own, on=["consequence_id", "citizen_id"], how="anti"))
    return via.group_by("consequence_id").agg(pl.len().alias("at_end_via_household"))


def wrong_people(run: RunData, grid: pl.DataFrame | None = None) -> pl.DataFrame:
    """consequence_id, citizen_id, wholly, months: everyone wrong records put under a
    consequence for some month (actual but not perfect_data that month). wholly: never
    under it with correct records (then months = all their months under it: "wrongly");
    else months = the months wrong records added ("longer")."""
    if "perfect_data" not in run.scenarios:
        return pl.DataFrame(schema={"consequence_id": pl.String, "citizen_id": pl.Int64, "wholly": pl.Boolean,
                                    "months": pl.UInt32})
    grid = person_months(run) if grid is None else grid
    key = ["consequence_id", "citizen_id"]
    perf = _months(grid, "perfect_data")
    extra = _months(grid, "actual").join(perf, on=[*key, "t"], how="anti")
    ever_perfect = perf.select(key).unique().with_columns(pl.lit(False).alias("wholly"))
    return (extra.group_by(key).agg(pl.len().alias("months"))
            .join(ever_perfect, on=key, how="left").with_columns(pl.col("wholly").fill_null(True))
            .select(*key, "wholly", "months").sort(key))


def figure_table(run: RunData, grid: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per consequence (the policy's, then any-restriction, any-privilege): every figure.

    Columns: consequence_id, kind, context, population (the denominator of at_end/ever:
    adults for adult-only consequences, else everyone), adult_only, then one column per
    figure (null when the run lacks the scenario it needs)."""
    ids = list(run.kinds) + list(ANY)
    grid = person_months(run) if grid is None else grid
    key = ["consequence_id", "citizen_id"]
    act = _months(grid, "actual")
    last = run.n_months - 1
    agg = [act.group_by("consequence_id").agg(
        pl.col("citizen_id").filter(pl.col("t") == last).n_unique().alias("at_end"),
        pl.col("citizen_id").n_unique().alias("ever"), pl.len().alias("person_months")),
           _via_at_end(run)]
    if "perfect_data" in run.scenarios:
        wp = wrong_people(run, grid)
        agg.append(wp.group_by("consequence_id").agg(
            pl.col("citizen_id").filter(pl.col("wholly")).n_unique().alias("wrongly"),
            pl.col("months").filter(pl.col("wholly")).sum().alias("wrongful_months"),
            pl.col("citizen_id").filter(~pl.col("wholly")).n_unique().alias("longer"),
            pl.col("months").filter(~pl.col("wholly")).sum().alias("longer_months")))
        if "no_appeals" in run.scenarios:
            perf = _months(grid, "perfect_data")
            na = _months(grid, "no_appeals").join(perf, on=[*key, "t"], how="anti")
            prevented = na.join(act, on=[*key, "t"], how="anti")
            agg.append(prevented.group_by("consequence_id").agg(pl.len().alias("prevented_by_appeals")))
    if "no_feedback" in run.scenarios:
        fb = act.join(_months(grid, "no_feedback"), on=[*key, "t"], how="anti")
        agg.append(fb.group_by("consequence_id").agg(pl.len().alias("feedback_months")))
    adults = adult_only(run)
    n_all = run.citizens.height
    n_adult = run.citizens.filter(pl.col("age_band") != "under 18").height
    out = pl.DataFrame({
        "consequence_id": ids, "kind": [run.kinds.get(i) or i.removeprefix("any-") for i in ids],
        "context": [run.contexts.get(i, "") for i in ids], "adult_only": [adults.get(i, False) for i in ids],
        "population": [n_adult if adults.get(i, False) else n_all for i in ids]})
    for a in agg:
        out = out.join(a, on="consequence_id", how="left")
    exprs = []
    for f in FIGURES:
        if not all(sc in run.scenarios for sc in f.needs):
            exprs.append(pl.lit(None, pl.Int64).alias(f.name))
        elif f.name in out.columns:
            exprs.append(pl.col(f.name).fill_null(0).cast(pl.Int64))
        else:
            exprs.append(pl.lit(0, pl.Int64).alias(f.name))
    return out.select("consequence_id", "kind", "context", "adult_only", pl.col("population").cast(pl.Int64),
                      *exprs)


def wrongly_over_time(run: RunData, grid: pl.DataFrame | None = None) -> pl.DataFrame:
    """consequence_id, t, month, people: under it that month in the run but not that month
    with correct records (only the any-* rows and the policy's consequences)."""
    if "perfect_data" not in run.scenarios:
        return pl.DataFrame(schema={"consequence_id": pl.String, "t": pl.Int32, "month": pl.Date,
                                    "people": pl.Int64})
    grid = person_months(run) if grid is None else grid
    extra = _months(grid, "actual").join(_months(grid, "perfect_data"), on=["consequence_id", "citizen_id", "t"],
                                          how="anti")
    ids = list(run.kinds) + list(ANY)
    full = pl.DataFrame({"consequence_id": [i for i in ids for _ in range(run.n_months)],
                         "t": [t for _ in ids for t in range(run.n_months)],
                         "month": [m for _ in ids for m in run.months]},
                        schema={"consequence_id": pl.String, "t": pl.Int32, "month": pl.Date})
    per = extra.group_by("consequence_id", "t").agg(pl.len().cast(pl.Int64).alias("people"))
    return full.join(per, on=["consequence_id", "t"], how="left").with_columns(pl.col("people").fill_null(0))


def counts(run: RunData) -> dict[str, int | None]:
    """The run-wide counts: records from linkage.json and the manifest when the run has them."""
    c = run.manifest.get("counts") or {}
    link: dict[str, Any] = {}
    lp = run.path / "linkage.json"
    if lp.exists():
        try:
            link = json.loads(lp.read_text())
        except ValueError:
            link = {}
    return {"citizens": run.citizens.height,
            "adults": run.citizens.filter(pl.col("age_band") != "under 18").height,
            "months": run.n_months,
            "records_in": link.get("records_in"), "records_linked": link.get("records_linked"),
            "records_set_aside": link.get("records_quarantined"),
            "records_after_end": c.get("records_reported_after_last_month"),
            "events_in": c.get("events_in"), "events_rejected": c.get("quarantined"), "entries": c.get("entries")}


def figures_json(table: pl.DataFrame, run_counts: dict[str, Any]) -> dict[str, Any]:
    """The figures as a JSON-ready dict: counts, and per consequence each figure's value
    and label (the same structure `audit --json`, the summary and the report share)."""
    by: dict[str, Any] = {}
    for r in table.iter_rows(named=True):
        cid = r["consequence_id"]
        by[cid] = {"kind": r["kind"], "population": r["population"], "adult_only": r["adult_only"],
                   **{f.name: {"value": r[f.name], "label": label(f.name, cid)} for f in FIGURES}}
    return {"counts": {k: {"value": v, "label": COUNTS[k][0]} for k, v in run_counts.items()},
            "consequences": by}


SETTLE_MONTHS = 6
SETTLE_TOLERANCE = 0.05  # the trend over the last 6 months within 5% of the level: settled


def _trend(y: list[float]) -> tuple[float, float]:
    """(level, change): the mean of the last SETTLE_MONTHS values and the change over them
    along their least-squares line."""
    import numpy as np

    v = np.asarray(y[-SETTLE_MONTHS:], dtype=float)
    x = np.arange(len(v), dtype=float)
    slope = float(np.polyfit(x, v, 1)[0]) if len(v) > 1 else 0.0
    return float(v.mean()), slope * (len(v) - 1)


def settling(over_time: pl.DataFrame, wrongly: pl.DataFrame, n_months: int) -> pl.DataFrame:
    """Has each headline series settled? Per consequence and series ('under it' each month
    in the run as it happened; 'wrongly under it' each month): the level (mean of the last
    6 months), the change over those 6 months along a straight-line fit, and settled =
    |change| <= 5% of the level (null when the run is shorter than 7 months: too short to
    tell). A series still rising or falling means the figures at the end depend on when
    the run stopped."""
    series = [("under it", over_time.filter(pl.col("scenario") == "actual")), ("wrongly under it", wrongly)]
    rows = []
    for name, frame in series:
        for cid, part in frame.sort("consequence_id", "t").group_by("consequence_id", maintain_order=True):
            level, change = _trend(part["people"].to_list())
            ok = None if n_months <= SETTLE_MONTHS else abs(change) <= SETTLE_TOLERANCE * level or (
                level == 0 and change == 0)
            rows.append({"consequence_id": cid[0], "series": name, "level": level, "change_6_months": change,
                         "change_share": change / level if level else None, "settled": ok})
    return pl.DataFrame(rows, schema={"consequence_id": pl.String, "series": pl.String, "level": pl.Float64,
                                      "change_6_months": pl.Float64, "change_share": pl.Float64,
                                      "settled": pl.Boolean})


def settling_note(row: dict[str, Any] | None) -> str:
    """A short phrase for a series' settling row: '' when settled, else what it did."""
    if row is None or row["settled"] is None:
        return "the run is too short to tell whether this has settled"
    if row["settled"]:
        return ""
    word = "rising" if row["change_6_months"] > 0 else "falling"
    size = f"{abs(row['change_share']):.0%}" if row["change_share"] is not None else "from zero"
    return f"not settled: still {word} ({size} over the last {SETTLE_MONTHS} months)"
