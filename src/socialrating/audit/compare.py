"""Two runs side by side: the same people and seed under two policies.

Because both runs draw the same synthetic people and behaviour from the same seed, the
difference per citizen is the policy's doing.

status_change
    per status difference (B - A, last month): people; the summary counts winners (B
    higher), losers (B lower) and unchanged.
band_transitions
    people by band in A's last month (from) and B's last month (to); each run's own bands.
changes_by_group
    for each outcome, people who gain it under B (not under A at any time in the run) and
    who lose it, by group, with rates (the group table of groups.py, suppression included).
    Outcomes are compared by kind and context ('restriction:travel'), since two policies
    name their consequences differently, plus 'any-restriction'/'any-privilege', plus
    every consequence id the two policies share ('id:no-credit').
winners_by_group
    rates of winners and losers by group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._run import KINDS, RunData, load_run
from .figures import FIGURES, figure_table, label
from .groups import DIMENSIONS, INTERSECTIONS, MIN_GROUP_SIZE, REPLICATES, group_table


class RunMismatchError(ValueError):
    """The two runs are not of the same population and seed, so they cannot be compared."""


@dataclass
class CompareResult:
    run_a: Path
    run_b: Path
    summary: dict[str, Any]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def _check(a: RunData, b: RunData) -> None:
    problems = []
    for key in ("seed", "people"):
        va, vb = a.manifest.get(key), b.manifest.get(key)
        if va is None or vb is None:
            problems.append(f"'{key}' is missing from a manifest ({a.path.name}: {va!r}, {b.path.name}: {vb!r})")
        elif va != vb:
            problems.append(f"different {key}: {va!r} in {a.path} but {vb!r} in {b.path}")
    if a.citizens.height != b.citizens.height:
        problems.append(f"different numbers of citizens: {a.citizens.height} vs {b.citizens.height}")
    else:
        ia = np.sort(a.citizens["citizen_id"].to_numpy())
        ib = np.sort(b.citizens["citizen_id"].to_numpy())
        if not np.array_equal(ia, ib):
            problems.append("the citizen ids differ")
        else:
            cols = ["citizen_id", "district", "age_band", "sex", "income_decile", "area"]
            ja = a.citizens.select(cols).sort("citizen_id")
            jb = b.citizens.select(cols).sort("citizen_id")
            if not ja.equals(jb):
                problems.append("the same citizen ids have different characteristics (not the same population)")
    if a.months[0] != b.months[0] or a.n_months != b.n_months:
        problems.append(f"different periods: {a.months[0]}..{a.months[-1]} vs {b.months[0]}..{b.months[-1]}")
    if problems:
        raise RunMismatchError("cannot compare these runs, they are not the same population and seed: "
                               + "; ".join(problems))


def _ever(run: RunData) -> pl.DataFrame:
    """citizen_id, outcome: every outcome key a citizen had at any time (actual scenario)."""
    c = run.consequences.filter(pl.col("scenario") == "actual")
    ctx = c.select("citizen_id", pl.concat_str("kind", pl.lit(":"), "context").alias("outcome"))
    anyk = c.select("citizen_id", pl.concat_str(pl.lit("any-"), "kind").alias("outcome"))
    ids = c.select("citizen_id", pl.concat_str(pl.lit("id:"), "consequence_id").alias("outcome"))
    return pl.concat([ctx, anyk, ids]).unique()


def _last(run: RunData) -> pl.DataFrame:
    r = run.ratings
    return r.filter(pl.col("t") == r["t"].max()).select("citizen_id", "status", "band")


def compare_runs(dir_a: str | Path, dir_b: str | Path, *, min_group_size: int = MIN_GROUP_SIZE,
                 replicates: int = REPLICATES, seed: int | None = None, dimensions=DIMENSIONS,
                 intersections=INTERSECTIONS) -> CompareResult:
    """Compare run B against run A (same people and seed, different policies)."""
    a, b = load_run(dir_a), load_run(dir_b)
    _check(a, b)
    if seed is None:
        seed = int(a.manifest.get("seed") or 0)
    opts = dict(dimensions=dimensions, intersections=intersections, min_group_size=min_group_size,
                replicates=replicates, seed=seed)
    la, lb = _last(a), _last(b)
    j = la.join(lb, on="citizen_id", how="inner", suffix="_b").rename({"status": "status_a", "band": "band_a"})
    j = j.with_columns((pl.col("status_b") - pl.col("status_a")).alias("difference"))
    t: dict[str, pl.DataFrame] = {}
    t["status_change"] = j.group_by("difference").agg(pl.len().cast(pl.Int64).alias("people")).sort("difference")
    d = j["difference"].to_numpy()
    N = len(d)
    summary: dict[str, Any] = {
        "policy_a": (a.manifest.get("policy") or {}).get("name"), "policy_b": (b.manifest.get("policy") or {}).get("name"),
        "citizens": N, "winners": int((d > 0).sum()), "losers": int((d < 0).sum()), "unchanged": int((d == 0).sum()),
        "mean_difference": float(d.mean()) if N else None,
        "median_difference": float(np.median(d)) if N else None,
        "p10_difference": float(np.percentile(d, 10)) if N else None,
        "p90_difference": float(np.percentile(d, 90)) if N else None,
    }

    ka, kb = len(a.bands), len(b.bands)
    grid = pl.DataFrame({"from_index": np.repeat(np.arange(ka), kb).astype(np.int8),
                         "to_index": np.tile(np.arange(kb), ka).astype(np.int8)})
    counts = j.group_by(pl.col("band_a").alias("from_index"), pl.col("band_b").alias("to_index")).agg(
        pl.len().cast(pl.Int64).alias("people"))
    bt = grid.join(counts, on=["from_index", "to_index"], how="left").with_columns(pl.col("people").fill_null(0))
    bt = bt.with_columns((pl.col("people") / pl.col("people").sum().over("from_index")).fill_nan(None).alias("share"))
    na, nb = pl.Series(list(a.bands)), pl.Series(list(b.bands))
    t["band_transitions"] = bt.with_columns(
        pl.col("from_index").map_batches(lambda s: na.gather(s.cast(pl.UInt32)), return_dtype=pl.String).alias("from_band"),
        pl.col("to_index").map_batches(lambda s: nb.gather(s.cast(pl.UInt32)), return_dtype=pl.String).alias("to_band"),
    ).select("from_index", "to_index", "from_band", "to_band", "people", "share")

    ea, eb = _ever(a), _ever(b)
    gained = eb.join(ea, on=["citizen_id", "outcome"], how="anti")
    lost = ea.join(eb, on=["citizen_id", "outcome"], how="anti")
    shared = {f"id:{i}" for i in a.kinds} & {f"id:{i}" for i in b.kinds}
    keys = sorted({o for o in pl.concat([ea, eb])["outcome"].unique().to_list()
                   if not o.startswith("id:") or o in shared})
    keys = [f"any-{k}" for k in KINDS if f"any-{k}" in keys] + [k for k in keys if not k.startswith("any-")]
    kinds = {k: _kind_of(k, a, b) for k in keys}

    def gt(frame: pl.DataFrame, what: str) -> pl.DataFrame:
        out = frame.filter(pl.col("outcome").is_in(keys)).select(
            "citizen_id", pl.col("outcome").alias("consequence_id"), pl.lit(0).alias("months"))
        g = group_table(a.citizens, out, kinds, **opts)
        return g.select("consequence_id", "kind", "dimension", "group", "n", "suppressed",
                        pl.col("affected").alias(what), pl.col("rate").alias(f"{what}_rate"),
                        pl.col("rate_lo").alias(f"{what}_lo"), pl.col("rate_hi").alias(f"{what}_hi"))

    g1, g2 = gt(gained, "gained"), gt(lost, "lost")
    ch = g1.join(g2.drop("kind", "n", "suppressed"), on=["consequence_id", "dimension", "group"], how="left",
                 maintain_order="left")
    t["changes_by_group"] = ch.rename({"consequence_id": "outcome"}).with_columns(
        (pl.col("gained_rate") - pl.col("lost_rate")).alias("net_rate"))
    overall = t["changes_by_group"].filter(pl.col("dimension") == "overall")
    summary["changes"] = {r["outcome"]: {"gained": r["gained"], "lost": r["lost"]} for r in overall.iter_rows(named=True)}

    wl = j.select("citizen_id", pl.when(pl.col("difference") > 0).then(pl.lit("winner"))
                  .when(pl.col("difference") < 0).then(pl.lit("loser")).alias("consequence_id"),
                  pl.col("difference").abs().alias("months")).filter(pl.col("consequence_id").is_not_null())
    wg = group_table(a.citizens, wl, {"winner": "privilege", "loser": "restriction"}, **opts)
    t["winners_by_group"] = wg.select(
        pl.col("consequence_id").alias("outcome"), "dimension", "group", "n", "affected", "rate", "rate_lo",
        "rate_hi", "ratio_overall", pl.col("mean_months").alias("mean_points_moved"), "suppressed")
    t["figures"], summary["figures"] = _figures(a, b)
    return CompareResult(a.path, b.path, summary, t)


def _figures(a: RunData, b: RunData) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Every figure of audit/figures.py for A and B, for any-restriction, any-privilege and
    the consequence ids both policies have: a long table and {id: {figure: {label, a, b}}}."""
    fa, fb = figure_table(a), figure_table(b)
    shared = [c for c in fa["consequence_id"].to_list() if c in set(fb["consequence_id"].to_list())]
    ids = [f"any-{k}" for k in reversed(KINDS) if f"any-{k}" in shared] + [c for c in shared
                                                                           if not c.startswith("any-")]
    names = [f.name for f in FIGURES]
    long = (fa.select("consequence_id", *names).unpivot(index="consequence_id", variable_name="figure",
                                                        value_name="a")
            .join(fb.select("consequence_id", *names).unpivot(index="consequence_id", variable_name="figure",
                                                              value_name="b"), on=["consequence_id", "figure"])
            .filter(pl.col("consequence_id").is_in(ids)))
    order = {c: i for i, c in enumerate(ids)}
    forder = {n: i for i, n in enumerate(names)}
    long = long.with_columns(
        pl.struct("figure", "consequence_id").map_elements(lambda r: label(r["figure"], r["consequence_id"]),
                                                           return_dtype=pl.String).alias("label"),
        (pl.col("b") - pl.col("a")).alias("difference"),
    ).sort(pl.col("consequence_id").replace_strict(order, return_dtype=pl.Int32),
           pl.col("figure").replace_strict(forder, return_dtype=pl.Int32))
    out: dict[str, Any] = {}
    for r in long.iter_rows(named=True):
        out.setdefault(r["consequence_id"], {})[r["figure"]] = {"label": r["label"], "a": r["a"], "b": r["b"]}
    return long.select("consequence_id", "figure", "label", "a", "b", "difference"), out


def _kind_of(key: str, a: RunData, b: RunData) -> str:
    if key.startswith("any-"):
        return key[4:]
    if key.startswith("id:"):
        cid = key[3:]
        return a.kinds.get(cid) or b.kinds[cid]
    return key.split(":", 1)[0]
