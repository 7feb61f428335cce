"""People under each consequence month by month, in each scenario.

The scenarios of a run: `actual` (the rating as run, with data errors and with the rating
feeding back into people's lives), `perfect_data` (the same with every erroneous record
corrected), `no_feedback` (the same without the feedback) and, when the run has it,
`no_appeals` (the same with nobody contesting anything). Only the scenarios present in
consequences.parquet are reported.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._run import KINDS, RunData, merge_spells


def merged_spells(run: RunData) -> pl.DataFrame:
    """Merged spells per (scenario, consequence, citizen), plus any-restriction/any-privilege."""
    c = run.consequences
    per = merge_spells(c, ["scenario", "consequence_id", "citizen_id"])
    parts = [per]
    for kind in KINDS:
        k = merge_spells(c.filter(pl.col("kind") == kind), ["scenario", "citizen_id"])
        parts.append(k.select("scenario", pl.lit(f"any-{kind}").alias("consequence_id"), "citizen_id", "t0", "t1"))
    return pl.concat(parts, how="vertical_relaxed").with_columns(pl.col("t1").clip(upper_bound=run.n_months))


def _ids(run: RunData) -> list[str]:
    return list(run.kinds) + [f"any-{k}" for k in KINDS]


def over_time(run: RunData, merged: pl.DataFrame | None = None) -> pl.DataFrame:
    """scenario, consequence_id, t, month (month-end date), people in force that month.
    merged: `merged_spells(run)` if already computed."""
    s = merged_spells(run) if merged is None else merged
    ids = _ids(run)
    M = run.n_months
    sc = list(run.scenarios)
    grid = pl.DataFrame({"scenario": np.repeat(sc, len(ids) * M),
                         "consequence_id": np.tile(np.repeat(ids, M), len(sc)),
                         "t": np.tile(np.arange(M, dtype=np.int32), len(sc) * len(ids))})
    starts = s.group_by("scenario", "consequence_id", pl.col("t0").alias("t")).agg(pl.len().alias("_in"))
    stops = s.group_by("scenario", "consequence_id", pl.col("t1").alias("t")).agg(pl.len().alias("_out"))
    keys = ["scenario", "consequence_id", "t"]
    t = (grid.join(starts.with_columns(pl.col("t").cast(pl.Int32)), on=keys, how="left")
         .join(stops.with_columns(pl.col("t").cast(pl.Int32)), on=keys, how="left")
         .with_columns(pl.col("_in").fill_null(0).cast(pl.Int64), pl.col("_out").fill_null(0).cast(pl.Int64))
         .sort(keys))
    t = t.with_columns((pl.col("_in") - pl.col("_out")).cum_sum().over("scenario", "consequence_id").alias("people"))
    months = pl.Series("month", run.months, dtype=pl.Date)
    return t.with_columns(pl.col("t").map_batches(lambda x: months.gather(x.cast(pl.UInt32)),
                                                  return_dtype=pl.Date).alias("month")).select(
        "scenario", "consequence_id", "t", "month", "people")


def scenario_totals(run: RunData, merged: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per consequence: people ever under it and person-months, in each scenario (wide),
    with the differences actual - perfect_data (errors) and actual - no_feedback (feedback)."""
    s = (merged_spells(run) if merged is None else merged).with_columns((pl.col("t1") - pl.col("t0")).alias("m"))
    agg = s.group_by("consequence_id", "scenario").agg(
        pl.col("citizen_id").n_unique().cast(pl.Int64).alias("people"), pl.col("m").sum().cast(pl.Int64).alias("pm"))
    ids = _ids(run)
    out = pl.DataFrame({"consequence_id": ids,
                        "kind": [run.kinds.get(i, i.removeprefix("any-")) for i in ids]})
    for sc in run.scenarios:
        part = agg.filter(pl.col("scenario") == sc).select(
            "consequence_id", pl.col("people").alias(f"people_{sc}"), pl.col("pm").alias(f"person_months_{sc}"))
        out = out.join(part, on="consequence_id", how="left")
    out = out.with_columns(pl.exclude("consequence_id", "kind").fill_null(0))
    diffs = {"perfect_data": "errors", "no_feedback": "feedback", "no_appeals": "appeals"}
    for sc, what in diffs.items():
        if sc in run.scenarios:
            sign = -1 if sc == "no_appeals" else 1  # appeals remove people: no_appeals - actual
            out = out.with_columns(
                (sign * (pl.col("people_actual") - pl.col(f"people_{sc}"))).alias(
                    f"people_{'removed' if sign < 0 else 'added'}_by_{what}"),
                (sign * (pl.col("person_months_actual") - pl.col(f"person_months_{sc}"))).alias(
                    f"person_months_{'removed' if sign < 0 else 'added'}_by_{what}"))
    return out
