"""Who bears each consequence: rates by group, ratios, adverse-impact flags, bootstrap CIs.

Modelled on fairlearn's MetricFrame: for every consequence an *overall* row, *by group*
rows for each dimension (and two-way intersections), and ratios, with the group size on
every row. One long table, columns:

consequence_id, kind, dimension, group
    what and whom. dimension 'overall' has the single group 'all'; an intersection is
    named like 'sex x age_band' with groups like 'F x 25-34'.
n
    people in the group (the whole synthetic population, children included).
affected
    people in the group under the consequence at any time in the run.
rate, rate_lo, rate_hi
    affected / n, with a bootstrap 95% interval.
ratio_overall, ratio_lo, ratio_hi
    rate / overall rate (1 = like everyone; 2 = twice as likely), with its interval.
mean_months
    mean months under the consequence per affected person (cut at the end of the run).
impact_ratio, four_fifths
    the four-fifths rule as the US Uniform Guidelines state it (29 CFR 1607.4(D)): a
    group's rate of the *favourable* outcome divided by the highest such rate among the
    groups of that dimension; `four_fifths` is True when this is below 0.8. The
    favourable outcome of a privilege is having it; of a restriction, being free of it.
harm_ratio, harm_flag
    the same test turned to the harm, which matters for rare restrictions (a group
    restricted at 10% against 2% still keeps 90% vs 98% 'free', ratio 0.92, no flag):
    restriction: harm_ratio = rate / lowest group rate, harm_flag = lowest rate < 0.8 x
    this group's rate (i.e. the least affected group fares four-fifths or less as badly);
    privilege: harm_ratio = highest group rate / rate, harm_flag = four_fifths.
harm_clear
    harm_flag, and the 95% interval of ratio_overall lies wholly on the harmful side of 1
    (above 1 for a restriction, below 1 for a privilege): a flag chance alone is unlikely
    to explain. With small groups or rare consequences the harm flag fires often; this
    column separates the gaps the data can support.
suppressed
    True when n < min_group_size: counts, rates and ratios are then null (too few people
    for a stable rate, and small cells can identify people).

Reference groups: the lowest/highest rates are taken over the groups of the same
dimension that are not suppressed and not under 18 (children are rated only through
household spill-over, and a group that cannot be restricted is no fair yardstick);
under-18 rows still get their ratios against that adult reference.

Confidence intervals: a seeded stratified bootstrap. Resampling a group's n members with
replacement gives a number affected distributed exactly Binomial(n, affected/n), so each
replicate draws that count directly: all replicates, consequences and groups of a
dimension in one NumPy call, no loop over citizens. The overall rate in a replicate is
the sum of its groups' counts over N, so ratio_overall's interval accounts for both.
Percentile intervals. A group with nobody (or everybody) affected gets a zero-width
interval, as any bootstrap does.

Sharded runs: figures merge exactly across shards. Counts (n, affected, months) are sums
over citizens, so they add across shards; the bootstrap draws only from those merged
counts per group and consequence (never per citizen, never per shard), with a generator
seeded by the run's seed and the dimension. So the intervals of a run kept as one file and
of the same run kept as parts, cut into any number of shards, are identical
(tests/test_partitioned_run.py compares the whole audit of both).
"""

from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from ._run import group_rank

DIMENSIONS: tuple[str, ...] = ("district", "age_band", "sex", "income_decile", "area")
INTERSECTIONS: tuple[tuple[str, str], ...] = (("sex", "age_band"), ("district", "area"), ("income_decile", "area"))
MIN_GROUP_SIZE = 100
REPLICATES = 400
FOUR_FIFTHS = 0.8
SEP = " x "

COLUMNS = ["consequence_id", "kind", "dimension", "group", "n", "affected", "rate", "rate_lo", "rate_hi",
           "ratio_overall", "ratio_lo", "ratio_hi", "mean_months", "impact_ratio", "four_fifths",
           "harm_ratio", "harm_flag", "harm_clear", "suppressed"]


def _dims(dimensions: Iterable[str], intersections: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    return [(d,) for d in dimensions] + [tuple(x) for x in intersections]


def group_table(groups: pl.DataFrame, outcomes: pl.DataFrame, kinds: dict[str, str], *,
                dimensions: Iterable[str] = DIMENSIONS,
                intersections: Iterable[Sequence[str]] = INTERSECTIONS,
                min_group_size: int = MIN_GROUP_SIZE, replicates: int = REPLICATES,
                seed: int = 0, level: float = 0.95) -> pl.DataFrame:
    """Rates of each outcome by group.

    groups: citizen_id plus one String column per dimension (see `_run.add_groups`).
    outcomes: citizen_id, consequence_id, months: one row per affected person and
        consequence (months may be 0 when duration does not apply).
    kinds: consequence_id -> 'privilege' | 'restriction', in the order to report; ids
        nobody has still get rows (with 0 affected).
    """
    ids = list(kinds)
    kind_frame = pl.DataFrame({"consequence_id": ids, "kind": [kinds[i] for i in ids]},
                              schema={"consequence_id": pl.String, "kind": pl.String})
    N = groups.height
    out = (outcomes.select("citizen_id", "consequence_id", pl.col("months").cast(pl.Float64))
           .filter(pl.col("consequence_id").is_in(ids))
           .join(groups, on="citizen_id", how="inner"))
    tables = []
    specs = [("overall",)] + _dims(dimensions, intersections)
    for d_i, cols in enumerate(specs):
        if cols == ("overall",):
            label = pl.lit("all")
            name = "overall"
        else:
            label = pl.concat_str([pl.col(c) for c in cols], separator=SEP)
            name = SEP.join(cols)
        sizes = groups.group_by(label.alias("group")).agg(pl.len().alias("n"))
        aff = out.group_by("consequence_id", label.alias("group")).agg(
            pl.len().alias("affected"), pl.col("months").sum().alias("months_sum"))
        t = (kind_frame.join(sizes, how="cross")
             .join(aff, on=["consequence_id", "group"], how="left")
             .with_columns(pl.col("affected").fill_null(0), pl.col("months_sum").fill_null(0.0),
                           pl.lit(name).alias("dimension"))
             .sort("consequence_id", "group"))
        tables.append(_bootstrap(t, N, replicates, np.random.default_rng([seed, d_i]), level))
    t = pl.concat(tables, how="vertical_relaxed")
    return _finish(t, N, min_group_size, ids, specs)


def _bootstrap(t: pl.DataFrame, N: int, B: int, rng: np.random.Generator, level: float) -> pl.DataFrame:
    """Add rate/ratio percentile intervals for one dimension (t sorted by consequence, group)."""
    C = t["consequence_id"].n_unique()
    G = t.height // max(C, 1)
    n = t["n"].to_numpy().reshape(C, G).astype(np.int64)
    k = t["affected"].to_numpy().reshape(C, G).astype(np.int64)
    p = np.divide(k, n, out=np.zeros(k.shape), where=n > 0)
    draws = rng.binomial(n[None], p[None], size=(B, C, G))
    rates = draws / np.maximum(n, 1)[None]
    overall = draws.sum(axis=2, keepdims=True) / max(N, 1)
    ratios = np.divide(rates, overall, out=np.full(rates.shape, np.nan), where=overall > 0)
    a = (1 - level) / 2 * 100
    if B:
        r_lo, r_hi = np.percentile(rates, [a, 100 - a], axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN where nobody is affected overall
            q_lo, q_hi = np.nanpercentile(ratios, [a, 100 - a], axis=0)
    else:  # no replicates, no intervals (percentiles of nothing would raise)
        r_lo = r_hi = q_lo = q_hi = np.full((C, G), np.nan)
    return t.with_columns(
        pl.Series("rate_lo", r_lo.ravel()).fill_nan(None), pl.Series("rate_hi", r_hi.ravel()).fill_nan(None),
        pl.Series("ratio_lo", np.asarray(q_lo).ravel()).fill_nan(None),
        pl.Series("ratio_hi", np.asarray(q_hi).ravel()).fill_nan(None),
    )


def _finish(t: pl.DataFrame, N: int, min_group_size: int, ids: list[str], specs) -> pl.DataFrame:
    overall = t.filter(pl.col("dimension") == "overall").select(
        "consequence_id", (pl.col("affected") / max(N, 1)).alias("_overall"))
    sup = (pl.col("n") < min_group_size) & (pl.col("dimension") != "overall")
    restr = pl.col("kind") == "restriction"
    child = pl.col("group").str.contains("under 18", literal=True)
    t = t.join(overall, on="consequence_id", how="left").with_columns(
        sup.alias("suppressed"),
        (pl.col("affected") / pl.col("n")).alias("rate"),
    ).with_columns(
        pl.when(pl.col("_overall") > 0).then(pl.col("rate") / pl.col("_overall")).alias("ratio_overall"),
        pl.when(pl.col("affected") > 0).then(pl.col("months_sum") / pl.col("affected")).alias("mean_months"),
        pl.when(restr).then(1 - pl.col("rate")).otherwise(pl.col("rate")).alias("_fav"),
    )
    ref = ~pl.col("suppressed") & ~child & (pl.col("dimension") != "overall")
    key = ["consequence_id", "dimension"]
    t = t.with_columns(
        pl.col("_fav").filter(ref).max().over(key).alias("_fav_max"),
        pl.col("rate").filter(ref).min().over(key).alias("_rate_min"),
        pl.col("rate").filter(ref).max().over(key).alias("_rate_max"),
    )
    cmp = pl.col("dimension") != "overall"
    t = t.with_columns(
        pl.when(cmp & (pl.col("_fav_max") > 0)).then(pl.col("_fav") / pl.col("_fav_max")).alias("impact_ratio"),
    ).with_columns(
        pl.when(cmp & pl.col("impact_ratio").is_not_null()).then(pl.col("impact_ratio") < FOUR_FIFTHS)
        .alias("four_fifths"),
        pl.when(cmp & restr & (pl.col("_rate_min") > 0)).then(pl.col("rate") / pl.col("_rate_min"))
        .when(cmp & ~restr & (pl.col("rate") > 0)).then(pl.col("_rate_max") / pl.col("rate"))
        .alias("harm_ratio"),
    ).with_columns(
        pl.when(cmp & restr & pl.col("_rate_min").is_not_null())
        .then(pl.col("_rate_min") < FOUR_FIFTHS * pl.col("rate"))
        .when(cmp & ~restr).then(pl.col("four_fifths"))
        .alias("harm_flag"),
    )
    t = t.with_columns(
        (pl.col("harm_flag") & pl.when(restr).then(pl.col("ratio_lo") > 1).otherwise(pl.col("ratio_hi") < 1))
        .alias("harm_clear"))
    hidden = ["affected", "rate", "rate_lo", "rate_hi", "ratio_overall", "ratio_lo", "ratio_hi", "mean_months",
              "impact_ratio", "four_fifths", "harm_ratio", "harm_flag", "harm_clear"]
    t = t.with_columns(pl.when(~pl.col("suppressed")).then(pl.col(c)).alias(c) for c in hidden)
    order = {c: i for i, c in enumerate(ids)}
    dorder = {("overall" if s == ("overall",) else SEP.join(s)): i for i, s in enumerate(specs)}
    t = t.with_columns(
        pl.col("consequence_id").replace_strict(order, return_dtype=pl.Int32).alias("_c"),
        pl.col("dimension").replace_strict(dorder, return_dtype=pl.Int32).alias("_d"),
    )
    t = _sort_groups(t)
    return t.select(pl.col(c) for c in COLUMNS).with_columns(
        pl.col("n").cast(pl.Int64), pl.col("affected").cast(pl.Int64))


def _sort_groups(t: pl.DataFrame) -> pl.DataFrame:
    """Consequence order, dimension order, then each dimension's natural group order."""
    ranks = []
    for dim in t["dimension"].unique().to_list():
        parts = dim.split(SEP)
        groups = t.filter(pl.col("dimension") == dim)["group"].unique().to_list()
        ordered = sorted(groups, key=lambda g, parts=parts: tuple(
            group_rank(p, v) for p, v in zip(parts, g.split(SEP))))
        ranks.append(pl.DataFrame({"dimension": [dim] * len(ordered), "group": ordered,
                                   "_g": list(range(len(ordered)))},
                                  schema={"dimension": pl.String, "group": pl.String, "_g": pl.Int32}))
    return t.join(pl.concat(ranks), on=["dimension", "group"], how="left").sort("_c", "_d", "_g")


def disparity_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per consequence and dimension: lowest and highest group rate, their ratio
    (fairlearn's 'between_groups' ratio, min/max), difference, and the flagged groups.

    Over non-suppressed adult groups, as in the reference set of `group_table`.
    """
    t = table.filter((pl.col("dimension") != "overall") & ~pl.col("suppressed")
                     & ~pl.col("group").str.contains("under 18", literal=True))
    return (t.group_by("consequence_id", "kind", "dimension", maintain_order=True).agg(
        pl.len().alias("groups"),
        pl.col("rate").min().alias("rate_min"), pl.col("rate").max().alias("rate_max"),
        # of groups with equal rates, the first in the table's (natural group) order: without
        # maintain_order polars may break ties either way, and the audit would differ run to run
        pl.col("group").sort_by("rate", maintain_order=True).first().alias("least_affected"),
        pl.col("group").sort_by("rate", descending=True, maintain_order=True).first().alias("most_affected"),
        pl.col("harm_flag").sum().alias("flagged_groups"),
        pl.col("group").filter(pl.col("harm_flag")).alias("flagged"),
    ).with_columns(
        pl.when(pl.col("rate_max") > 0).then(pl.col("rate_min") / pl.col("rate_max")).alias("ratio_min_max"),
        (pl.col("rate_max") - pl.col("rate_min")).alias("difference"),
        pl.col("flagged").list.join(", "),
    ))
