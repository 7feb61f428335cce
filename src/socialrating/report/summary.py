"""The summary a run prints: how the two numbers are spread, and the run's figures.

The figures (who is under what at the end and ever, how many wrongly, what feedback and
appeals did) come from socialrating.audit.figures, the one place they are defined, so
the summary, `audit`, the report and `compare` print the same numbers with the same
labels. `summary(run_dir)` gathers everything the summary prints; `render(summary)`
turns it into rich renderables (cli.print_summary prints them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.table import Table
from rich.text import Text

from ..audit._run import load_run
from ..audit.figures import (BY_NAME, COUNTS, FIGURES, counts, figure_table, figures_json, person_months,
                              settling, settling_note, wrongly_over_time)
from ..audit.timeline import over_time
from ..store.runfolder import RunFolder

#: the figures of the two summary tables, in column order
STANDING = ("at_end", "at_end_via_household", "ever", "person_months")
ERRORS = ("ever", "wrongly", "wrongful_months", "longer", "longer_months", "feedback_months", "prevented_by_appeals")


@dataclass
class Summary:
    manifest: dict[str, Any]
    counts: dict[str, Any]
    figures: pl.DataFrame  # audit.figures.figure_table
    distribution: pl.DataFrame
    bands: pl.DataFrame | None
    scores: dict[str, float]
    settling: pl.DataFrame | None = None  # audit.figures.settling

    def as_json(self) -> dict[str, Any]:
        """The figures the summary shows, in the structure of `audit --json` ('figures')."""
        return figures_json(self.figures, self.counts)


def distribution(folder: RunFolder) -> pl.DataFrame:
    """People per ten-point bin of status and of level."""
    r = folder.scan("current_ratings")
    bins = [f"{10 * i:02d}-{10 * i + 9:02d}" for i in range(10)]
    s = r.group_by((pl.col("status") // 10).alias("bin")).agg(pl.len().alias("status"))
    lv = r.group_by((pl.col("level") // 10).alias("bin")).agg(pl.len().alias("level"))
    frame = pl.LazyFrame({"bin": list(range(10))}, schema={"bin": pl.Int8})
    out = (frame.join(s.with_columns(pl.col("bin").cast(pl.Int8)), on="bin", how="left")
           .join(lv.with_columns(pl.col("bin").cast(pl.Int8)), on="bin", how="left")
           .fill_null(0).sort("bin").collect())
    return out.with_columns(pl.Series("range", bins)).select("range", "status", "level")


def bands(folder: RunFolder) -> pl.DataFrame | None:
    r = folder.scan("current_ratings")
    if "band" not in r.collect_schema().names():
        return None
    return r.group_by("band").agg(pl.len().alias("people")).sort("band").collect()


def summary(run_dir: str | Path) -> Summary:
    """Everything the run summary prints, from the run folder."""
    folder = RunFolder(run_dir)
    run = load_run(run_dir)
    scores = folder.scan("current_ratings").select(
        pl.col("status").mean().alias("status_mean"), pl.col("level").mean().alias("level_mean"),
        pl.col("status").median().alias("status_median"), pl.col("level").median().alias("level_median"),
    ).collect().row(0, named=True)
    grid = person_months(run)
    settle = settling(over_time(run), wrongly_over_time(run, grid), run.n_months)
    return Summary(run.manifest, counts(run), figure_table(run, grid), distribution(folder), bands(folder), scores,
                   settle)


def _n(v: Any) -> str:
    return "–" if v is None else f"{v:,}"


def _header(s: Summary) -> Text:
    m, c = s.manifest, s.counts
    pol = m.get("policy") or {}

    def part(k: str) -> str:
        return f"{_n(c[k])} {COUNTS[k][0]}"

    records = ""
    if c["records_in"] is not None:
        records = (f"{part('records_in')} ({part('records_linked')}, {part('records_set_aside')}; "
                   f"{part('records_after_end')}); ")
    return Text.assemble(
        (f"{pol.get('name')}", "bold"),
        f" {pol.get('version')}: {part('citizens')} ({part('adults')}) rated over {part('months')}, as of "
        f"{m.get('as_of')}; {records}{part('events_in')} ({part('events_rejected')}); {part('entries')}")


def _figure_table(figures: pl.DataFrame, title: str, names: tuple[str, ...], kind: str | None,
                  caption: str) -> Table:
    t = Table(title=title, caption=caption, caption_justify="left", pad_edge=False, collapse_padding=True)
    rows = figures if kind is None else figures.filter(pl.col("kind") == kind)
    widest = max((len(c) for c in rows["consequence_id"].to_list()), default=11)
    t.add_column("consequence", no_wrap=True, min_width=min(widest, 24))  # names stay whole at 80 columns
    for n in names:  # headers wrap between words, never inside one
        t.add_column(BY_NAME[n].short, justify="right", min_width=max(len(w) for w in BY_NAME[n].short.split()))
    for r in rows.iter_rows(named=True):
        t.add_row(r["consequence_id"], *[_n(r[n]) for n in names])
    return t


def _caption(names: tuple[str, ...], scope: str) -> str:
    return "; ".join(f"{BY_NAME[n].short}: {BY_NAME[n].definition}" for n in names) + f" ({scope})."


HEADLINE = ("at_end", "ever", "wrongly", "wrongful_months", "longer", "feedback_months", "prevented_by_appeals")


def standing_and_errors(figures: pl.DataFrame, months: int) -> list[Table]:
    """The two per-consequence tables of figures (the summary and `audit` print both)."""
    out = [_figure_table(figures, f"People under each consequence (the run as it happened, {months} months)",
                         STANDING, None, _caption(STANDING, "any-*: at least one of that kind"))]
    if figures.filter((pl.col("kind") == "restriction") & ~pl.col("consequence_id").str.starts_with("any-")).height:
        out.append(_figure_table(figures, f"Restrictions over the {months} months: wrong records, feedback, appeals",
                                 ERRORS, "restriction",
                                 _caption(ERRORS[1:], "months count once a person a month; wrongly and longer "
                                                      "are different people")))
    return out


def figure_rows(figs: dict[str, Any], ids: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, value) rows: the run-wide counts, then every figure of the given consequences
    (figs: the structure of `figures_json`)."""
    rows = [(v["label"], _n(v["value"])) for v in figs["counts"].values()]
    for cid in ids:
        c = figs["consequences"].get(cid)
        if c is None:
            continue
        rows += [(c[f.name]["label"], _n(c[f.name]["value"])) for f in FIGURES if c[f.name]["value"] is not None]
    return rows


def _note(s: Summary, cid: str, series: str) -> str:
    """' (not settled: ...)' after a headline figure whose series is still moving."""
    if s.settling is None:
        return ""
    rows = s.settling.filter((pl.col("consequence_id") == cid) & (pl.col("series") == series))
    note = settling_note(rows.row(0, named=True) if rows.height else None)
    return f" ({note})" if note else ""


def render(s: Summary) -> list[Any]:
    """The summary as rich renderables, in print order."""
    out: list[Any] = [_header(s)]
    t = Table(title="Distribution of the two numbers (people)")
    t.add_column("score"); t.add_column("status", justify="right"); t.add_column("level", justify="right")
    for rng, st, lv in s.distribution.iter_rows():
        t.add_row(rng, f"{st:,}", f"{lv:,}")
    out.append(t)
    sc = s.scores
    out.append(f"status mean {sc['status_mean']:.1f}, median {sc['status_median']:.0f}; "
               f"level mean {sc['level_mean']:.1f}, median {sc['level_median']:.0f}")
    if s.bands is not None:
        tb = Table(title="Grades")
        tb.add_column("band"); tb.add_column("people", justify="right")
        for name, n in s.bands.iter_rows():
            tb.add_row(str(name), f"{n:,}")
        out.append(tb)
    out.extend(standing_and_errors(s.figures, s.counts["months"]))
    restricts = s.figures.filter((pl.col("kind") == "restriction")
                                 & ~pl.col("consequence_id").str.starts_with("any-")).height > 0
    cid = "any-restriction" if restricts else "any-privilege"  # a bonus-only policy restricts nobody
    r = s.as_json()["consequences"][cid]
    notes = {"at_end": _note(s, cid, "under it"), "wrongly": _note(s, cid, "wrongly under it")}
    out.append("\n".join(f"{r[n]['label']}: {_n(r[n]['value'])}{notes.get(n, '')}" for n in HEADLINE
                         if r[n]["value"] is not None))
    return out


#: headline keys the figure tables already show; `audit` lists the rest as other findings
SHOWN_IN_FIGURES = frozenset({
    "citizens", "adults", "months", "restricted_people", "restricted_at_end_people", "privileged_people",
    "restriction_months", "wrongly_restricted_people", "wrongful_restriction_months", "restricted_longer_people",
    "restriction_months_added_by_errors", "restriction_months_added_by_feedback",
    "wrongful_restriction_months_prevented_by_appeals",
})


def figure_value(key: str, v: Any) -> str:
    """A figure as a reader quotes it: ids and seeds as written, shares as percentages, a
    share of nobody as 'n/a'."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if key == "seed" or key.endswith("_id"):
        return str(v)
    if isinstance(v, float) and ("share" in key or key.startswith("still_")):
        return f"{100 * v:.2f}%"
    return f"{v:,.4g}" if isinstance(v, float) else f"{v:,}"


def other_findings(headline: dict[str, Any], title: str = "Other findings") -> Table:
    """A two-column table of the headline's scalar figures that the figure tables do not
    already show (nested ones are in the JSON)."""
    t = Table(title=title)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in headline.items():
        if k not in SHOWN_IN_FIGURES and (v is None or isinstance(v, (bool, str, int, float))):
            t.add_row(k.replace("_", " "), figure_value(k, v))
    return t
