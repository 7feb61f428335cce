"""Find people in a run: who is restricted, who wrongly, in which group (`socialrating citizens`).

An analyst goes from a headline ("200 people wrongly restricted") to the people behind it
and then to one record (`explain`). This module answers that question over whole columns
of the run folder's tables, with the same definitions the audit uses:

* under X (`--consequence X`): X is in force on the rating date (current_consequences);
* ever under X in a scenario (`--scenario S --ever`): a spell of X in scenario S;
* wrongly under X (`--wrongly`): X was in force in the actual run but never would have been
  with correct records (wrongful.parquet: months_actual > 0 and months_perfect_data == 0);
* groups as in the audit (`district`, `age_band`, `sex`, `income_decile`, `area`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..store.runfolder import RunFolder
from ._run import GROUP_ORDERS, add_groups

__all__ = ["CitizenQuery", "find_citizens", "QueryError"]


class QueryError(ValueError):
    """A filter that names something the run does not have."""


@dataclass
class CitizenQuery:
    consequence: str | None = None        # a consequence id, or None for any restriction
    wrongly: bool = False                 # only people wrongly under it (data errors)
    scenario: str = "actual"              # which scenario's spells --ever reads
    ever: bool = False                    # ever under it during the run, not just at the end
    groups: dict[str, str] = field(default_factory=dict)  # dimension -> group
    status_min: int | None = None
    status_max: int | None = None
    limit: int = 20
    everyone: bool = False                # no consequence filter: everyone in the groups/status range


def _ids_under(run: Path, q: CitizenQuery) -> pl.LazyFrame | None:
    """citizen_id and the consequences that match the consequence/scenario/wrongly filters
    (None: no consequence filter at all)."""
    def pick(lf: pl.LazyFrame) -> pl.LazyFrame:
        lf = lf.with_columns(pl.col("consequence_id").cast(pl.String))
        if q.consequence:
            return lf.filter(pl.col("consequence_id") == q.consequence)
        return lf.filter(pl.col("kind").cast(pl.String) == "restriction")

    folder = RunFolder(run)
    if q.wrongly:
        if not folder.has("wrongful"):
            raise QueryError(f"{run}: no wrongful.parquet (a run without a perfect-data twin); --wrongly needs it")
        lf = pick(folder.scan("wrongful")).filter((pl.col("months_actual") > 0) & (pl.col("months_perfect_data") == 0))
    elif q.ever:
        lf = pick(folder.scan("consequences")).filter(
            pl.col("scenario").cast(pl.String) == q.scenario)
    elif q.consequence is None and q.everyone:
        return None
    else:
        lf = pick(folder.scan("current_consequences"))
    return lf.group_by("citizen_id").agg(pl.col("consequence_id").unique().sort().str.join(",").alias("matched"))


def _check(run: Path, q: CitizenQuery, kinds: dict[str, str], scenarios: list[str]) -> None:
    if q.consequence is not None and q.consequence not in kinds:
        raise QueryError(f"--consequence {q.consequence!r}: not in this run's policy; known: {', '.join(kinds)}")
    if q.ever and q.scenario not in scenarios:
        raise QueryError(f"--scenario {q.scenario!r}: not in this run; known: {', '.join(scenarios)}")
    for dim, val in q.groups.items():
        if dim not in GROUP_ORDERS:
            raise QueryError(f"--group {dim}={val}: unknown dimension; known: {', '.join(GROUP_ORDERS)}")
        if val not in GROUP_ORDERS[dim]:
            raise QueryError(f"--group {dim}={val}: unknown group; known: {', '.join(GROUP_ORDERS[dim])}")


def find_citizens(run_dir: str | Path, q: CitizenQuery, kinds: dict[str, str],
                  scenarios: list[str]) -> tuple[pl.DataFrame, int]:
    """The first `q.limit` matching people (by citizen_id) and how many match in all.

    `kinds`: consequence id -> kind from the run's policy; `scenarios`: the run's scenarios.
    Columns: citizen_id, status, level, age, sex, district, area, matched (the consequences
    that matched the filter), in_force (all consequences in force on the rating date).
    """
    run = Path(run_dir)
    _check(run, q, kinds, scenarios)
    folder = RunFolder(run)
    people = add_groups(folder.read("citizens", columns=["citizen_id", "district", "age", "sex", "income_decile", "urban"]))
    people = people.join(folder.read("citizens", columns=["citizen_id", "age"]), on="citizen_id")
    for dim, val in q.groups.items():
        people = people.filter(pl.col(dim) == val)
    ratings = folder.scan("current_ratings").select("citizen_id", "status", "level")
    lf = people.lazy().join(ratings, on="citizen_id", how="inner")
    if q.status_min is not None:
        lf = lf.filter(pl.col("status") >= q.status_min)
    if q.status_max is not None:
        lf = lf.filter(pl.col("status") <= q.status_max)
    under = _ids_under(run, q)
    if under is None:
        lf = lf.with_columns(pl.lit("").alias("matched"))
    else:
        lf = lf.join(under, on="citizen_id", how="inner")
    in_force = (folder.scan("current_consequences")
                .group_by("citizen_id")
                .agg(pl.col("consequence_id").cast(pl.String).unique().sort().str.join(",").alias("in_force")))
    lf = lf.join(in_force, on="citizen_id", how="left").with_columns(pl.col("in_force").fill_null(""))
    found = lf.sort("citizen_id").collect()
    cols = ["citizen_id", "status", "level", "age", "sex", "district", "area", "income_decile", "matched", "in_force"]
    return found.select(cols).head(q.limit), found.height
