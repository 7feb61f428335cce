"""The summary a run prints: how the two numbers are spread and who is under what.

Computed lazily from the run folder's Parquet files (Polars scans), so it works the same
for a 1,000-person test and a national run.
"""

from __future__ import annotations

import polars as pl

from ..store.runfolder import RunFolder


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


def consequence_counts(folder: RunFolder, citizens: int) -> pl.DataFrame:
    """People under each consequence (own condition and via household), with shares."""
    c = folder.scan("current_consequences")
    return (c.group_by("consequence_id", "kind", "context")
            .agg(pl.len().alias("people"),
                 pl.col("via_citizen_id").is_not_null().sum().alias("via_household"))
            .with_columns((pl.col("people") / max(citizens, 1) * 100).round(2).alias("share_pct"))
            .sort("consequence_id").collect())


def bands(folder: RunFolder) -> pl.DataFrame | None:
    r = folder.scan("current_ratings")
    if "band" not in r.collect_schema().names():
        return None
    return r.group_by("band").agg(pl.len().alias("people")).sort("band").collect()


def headline(folder: RunFolder) -> dict:
    m = folder.manifest()
    r = folder.scan("current_ratings").select(
        pl.col("status").mean().alias("status_mean"), pl.col("level").mean().alias("level_mean"),
        pl.col("status").median().alias("status_median"), pl.col("level").median().alias("level_median"),
    ).collect().row(0, named=True)
    restricted = (folder.scan("current_consequences").filter(pl.col("kind") == "restriction")
                  .select(pl.col("citizen_id").n_unique()).collect().item())
    privileged = (folder.scan("current_consequences").filter(pl.col("kind") == "privilege")
                  .select(pl.col("citizen_id").n_unique()).collect().item())
    return {**r, "restricted_people": restricted, "privileged_people": privileged,
            "citizens": m["people"]}
