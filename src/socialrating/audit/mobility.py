"""Traps: does the rating let people move up again, and how long do restrictions last?

Bands are the status bins 00-19, 20-39, 40-59, 60-79, 80-99, or the policy's named bands
when the run's ratings carry a `band` column.

transition_first_last
    people by band in the first month (from_band) and in the last month (to_band);
    share = people / everyone who started in from_band.
transition_monthly
    the same between each month and the next, pooled over all consecutive month pairs;
    people_per_month = pooled count / number of month pairs (the average monthly flow);
    share = the average chance of moving from from_band to to_band in one month.
recovery (Kaplan-Meier)
    a restriction spell runs from the month a person enters a restriction to the month
    they leave it; spells still running at the end of the run are censored (we do not
    know when they would end). still_restricted(t) is the estimated share of spells
    lasting more than t months: S(t) = prod over u <= t of (1 - ended at u / at risk at u),
    where "at risk at u" counts spells lasting at least u months. Overlapping spells of one
    person (own and via household) are merged; 'any-restriction' merges all restrictions.
    The estimate is null beyond the longest spell observed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._run import RunData, merge_spells

HORIZONS = (3, 6, 12, 24)


def _matrix(counts: pl.DataFrame, bands: tuple[str, ...], value: str = "people") -> pl.DataFrame:
    """Complete (from, to) grid with zeros, band names, and row shares."""
    k = len(bands)
    grid = pl.DataFrame({"from": np.repeat(np.arange(k), k).astype(np.int8),
                         "to": np.tile(np.arange(k), k).astype(np.int8)})
    t = grid.join(counts, on=["from", "to"], how="left").with_columns(pl.col(value).fill_null(0))
    t = t.with_columns((pl.col(value) / pl.col(value).sum().over("from")).fill_nan(None).alias("share"))
    names = pl.Series(list(bands), dtype=pl.String)
    return t.select(pl.col("from").alias("from_index"), pl.col("to").alias("to_index"),
                    pl.col("from").map_batches(lambda s: names.gather(s.cast(pl.UInt32)), return_dtype=pl.String)
                    .alias("from_band"),
                    pl.col("to").map_batches(lambda s: names.gather(s.cast(pl.UInt32)), return_dtype=pl.String)
                    .alias("to_band"),
                    value, "share")


def transition_first_last(run: RunData) -> pl.DataFrame:
    r = run.ratings.filter(pl.col("band").is_not_null())
    ends = r.group_by("citizen_id").agg(
        pl.col("band").sort_by("t").first().alias("from"), pl.col("band").sort_by("t").last().alias("to"))
    counts = ends.group_by("from", "to").agg(pl.len().cast(pl.Int64).alias("people"))
    return _matrix(counts, run.bands)


def transition_monthly(run: RunData) -> pl.DataFrame:
    r = run.ratings.select("citizen_id", "t", "band").sort("citizen_id", "t")
    nxt = r.with_columns(pl.col("citizen_id").shift(-1).alias("c_next"), pl.col("t").shift(-1).alias("t_next"),
                         pl.col("band").shift(-1).alias("to"))
    pairs = nxt.filter((pl.col("c_next") == pl.col("citizen_id")) & (pl.col("t_next") == pl.col("t") + 1)
                       & pl.col("band").is_not_null() & pl.col("to").is_not_null())
    n_pairs = max(run.n_months - 1, 1)
    counts = pairs.group_by(pl.col("band").alias("from"), "to").agg(pl.len().cast(pl.Int64).alias("pooled"))
    m = _matrix(counts, run.bands, "pooled")
    return m.with_columns((pl.col("pooled") / n_pairs).alias("people_per_month")).select(
        "from_index", "to_index", "from_band", "to_band", "people_per_month", "share", "pooled")


def restriction_spells(run: RunData, scenario: str = "actual") -> pl.DataFrame:
    """Merged restriction spells per consequence and for any restriction:
    consequence_id, citizen_id, t0, t1, months, ended (False = censored at the run's end)."""
    c = run.consequences.filter((pl.col("scenario") == scenario) & (pl.col("kind") == "restriction"))
    per = merge_spells(c, ["consequence_id", "citizen_id"])
    anyr = merge_spells(c, ["citizen_id"]).select(pl.lit("any-restriction").alias("consequence_id"),
                                                  "citizen_id", "t0", "t1")
    s = pl.concat([per, anyr], how="vertical_relaxed")
    return s.with_columns((pl.col("t1") - pl.col("t0")).alias("months"),
                          (pl.col("t1") < run.n_months).alias("ended"))


def kaplan_meier(spells: pl.DataFrame, by: str = "consequence_id") -> pl.DataFrame:
    """Kaplan-Meier curve of spell length per `by`: months (0..longest), at_risk, ended,
    censored, still_restricted = S(months) = estimated share lasting more than `months`."""
    if spells.height == 0:
        return pl.DataFrame(schema={by: pl.String, "months": pl.Int32, "at_risk": pl.Int64, "ended": pl.Int64,
                                    "censored": pl.Int64, "still_restricted": pl.Float64})
    d = spells.group_by(by, "months").agg(
        pl.col("ended").sum().cast(pl.Int64).alias("ended"),
        (~pl.col("ended")).sum().cast(pl.Int64).alias("censored"))
    longest = spells.group_by(by).agg(pl.col("months").max().alias("_max"))
    grid = longest.with_columns(pl.int_ranges(0, pl.col("_max") + 1).alias("months")).explode("months")
    grid = grid.with_columns(pl.col("months").cast(pl.Int32))
    t = (grid.join(d.with_columns(pl.col("months").cast(pl.Int32)), on=[by, "months"], how="left")
         .with_columns(pl.col("ended").fill_null(0), pl.col("censored").fill_null(0)).sort(by, "months"))
    t = t.with_columns(
        (pl.col("ended") + pl.col("censored")).reverse().cum_sum().reverse().over(by).alias("at_risk"))
    t = t.with_columns(
        pl.when(pl.col("at_risk") > 0).then(1 - pl.col("ended") / pl.col("at_risk")).otherwise(1.0)
        .log().cum_sum().over(by).exp().alias("still_restricted"))
    return t.select(by, "months", "at_risk", "ended", "censored", "still_restricted")


def recovery(run: RunData) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(curve, summary). summary: spells, ended, censored, median_months (first month the
    curve is at or below one half; null if it never is), still_after_{3,6,12,24}."""
    spells = restriction_spells(run)
    curve = kaplan_meier(spells)
    ids = [c for c, k in run.kinds.items() if k == "restriction"] + ["any-restriction"]
    base = pl.DataFrame({"consequence_id": ids}, schema={"consequence_id": pl.String})
    agg = spells.group_by("consequence_id").agg(
        pl.len().cast(pl.Int64).alias("spells"), pl.col("ended").sum().cast(pl.Int64).alias("ended"),
        (~pl.col("ended")).sum().cast(pl.Int64).alias("censored"),
        pl.col("months").mean().alias("mean_observed_months"))
    med = (curve.filter(pl.col("still_restricted") <= 0.5).group_by("consequence_id")
           .agg(pl.col("months").min().alias("median_months")))
    out = base.join(agg, on="consequence_id", how="left").join(med, on="consequence_id", how="left")
    for h in HORIZONS:
        at = curve.filter(pl.col("months") == h).select("consequence_id", pl.col("still_restricted")
                                                        .alias(f"still_after_{h}"))
        out = out.join(at, on="consequence_id", how="left")
    return curve, out.with_columns(pl.col("spells", "ended", "censored").fill_null(0))


def traps(run: RunData, first_last: pl.DataFrame) -> dict:
    """Headline numbers on staying put in the worst band."""
    w = run.worst_band
    row = first_last.filter(pl.col("from_index") == w)
    started = int(row["people"].sum())
    stayed = int(row.filter(pl.col("to_index") == w)["people"].sum())
    ended_in = int(first_last.filter(pl.col("to_index") == w)["people"].sum())
    return {"worst_band": run.bands[w], "started_in_worst_band": started, "still_in_worst_band": stayed,
            "still_in_worst_band_share": stayed / started if started else None,
            "ended_in_worst_band": ended_in}
