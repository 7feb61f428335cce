"""Name + birth-date linkage: Splink (DuckDB backend) scores candidate pairs, Polars decides.

``score_pairs`` hands Splink the distinct name tuples of the records (left) and the
register (right), with the fixed-parameter model of :mod:`.linkage_settings`; Splink
blocks, compares and returns each candidate pair's match weight. ``decide`` turns the
pairs into one decision per tuple (see the decision rule in linkage_settings).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import duckdb
import polars as pl

__all__ = ["score_pairs", "decide", "PAIR_SCHEMA"]

PAIR_SCHEMA = {"unique_id": pl.Int64, "citizen_id": pl.Int64, "match_weight": pl.Float64}
_FIELDS = ("surname", "given_name", "patronymic", "birth_date")


def _splink_settings(model: dict[str, Any], n_register: int) -> dict[str, Any]:
    s = copy.deepcopy(model)
    s["probability_two_random_records_match"] = 1.0 / max(n_register, 2)
    s["linker_uid"] = "socialrating"  # fixed, so table names never depend on a random uid
    return s


def score_pairs(left: pl.DataFrame, register: pl.DataFrame, settings: dict[str, Any],
                *, threads: int | None = None, n_register: int | None = None) -> pl.DataFrame:
    """Candidate pairs (unique_id of ``left``, citizen_id, match_weight) above ``min_match_weight``.

    ``left``: unique_id Int64 + the four normalised fields; ``register``: citizen_id + the fields.
    ``n_register``: the size of the register the prior is taken from, when ``register``
    holds only some of its rows (the candidates of a national index); default: its rows
    with surname and birth date.
    """
    if left.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    if n_register is not None and register.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)  # no candidate: no pair, as blocking over everybody found
    from splink import DuckDBAPI, Linker

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        db = DuckDBAPI(connection=con)
        lt = left.select("unique_id", *_FIELDS).to_arrow()
        rt = (register.filter(pl.col("surname").is_not_null() & pl.col("birth_date").is_not_null())
              .select(pl.col("citizen_id").alias("unique_id"), *_FIELDS).to_arrow())
        sdf_l = db.register(lt, table_name="records_l")
        sdf_r = db.register(rt, table_name="register_r")
        prior_n = rt.num_rows if n_register is None else n_register
        linker = Linker([sdf_l, sdf_r], _splink_settings(settings["splink"], prior_n), log_level=None)
        pred = linker.inference.predict(threshold_match_weight=settings["min_match_weight"], warning_mode="never")
        name = pred.physical_name
        # which side is which is told by source_dataset, whatever order Splink chose
        out = con.sql(
            f"SELECT CASE WHEN source_dataset_l = 'records_l' THEN unique_id_l ELSE unique_id_r END AS unique_id, "
            f"CASE WHEN source_dataset_l = 'records_l' THEN unique_id_r ELSE unique_id_l END AS citizen_id, "
            f"match_weight FROM {name}"
        ).pl()
    finally:
        con.close()
    return out.with_columns(pl.col("unique_id").cast(pl.Int64), pl.col("citizen_id").cast(pl.Int64),
                            pl.col("match_weight").cast(pl.Float64))


def decide(pairs: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """One row per unique_id present in ``pairs``: citizen_id (best candidate), match_probability
    (best candidate competing with the others), pairwise_probability, n_candidates, decision
    ('linked' / 'ambiguous' / 'below match threshold'). Ties are broken by citizen_id only
    to keep the output deterministic; a tie can never pass the threshold (each gets <= 0.5).
    """
    if pairs.height == 0:
        return pl.DataFrame(schema={"unique_id": pl.Int64, "citizen_id": pl.Int64, "match_probability": pl.Float64,
                                    "pairwise_probability": pl.Float64, "n_candidates": pl.UInt32, "decision": pl.String})
    # odds = 2**w; compute in a numerically safe way relative to the best weight
    g = (
        pairs.sort(["unique_id", "match_weight", "citizen_id"], descending=[False, True, False])
        .group_by("unique_id", maintain_order=True)
        .agg(
            pl.col("citizen_id").first(),
            w_best=pl.col("match_weight").first(),
            rel=pl.lit(2.0).pow(pl.col("match_weight") - pl.col("match_weight").first()).sum(),
            n_candidates=pl.len(),
        )
    )
    # p_best = 2^wb / (1 + sum 2^wj) = 1 / (2^-wb + sum 2^(wj-wb))
    out = g.with_columns(
        match_probability=1.0 / (pl.lit(2.0).pow((-pl.col("w_best")).clip(upper_bound=1000.0)) + pl.col("rel")),
        pairwise_probability=1.0 / (1.0 + pl.lit(2.0).pow((-pl.col("w_best")).clip(upper_bound=1000.0))),
    )
    out = out.with_columns(
        decision=pl.when(pl.col("match_probability") >= threshold).then(pl.lit("linked"))
        .when(pl.col("pairwise_probability") >= threshold).then(pl.lit("ambiguous"))
        .otherwise(pl.lit("below match threshold"))
    )
    return out.select("unique_id", "citizen_id", "match_probability", "pairwise_probability", "n_candidates", "decision")


def weight_to_probability(w: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -w))
