"""A rating policy written as ONE DuckDB SQL query and as ONE polars lazy query.

The engine benchmark (benchmarks/engine.py) times these beside the engine, and
tests/test_sql_policy.py checks on a small case that both give exactly the engine's
ratings and consequences, so the speed comparison is between equal results.

A single query expresses: fixed and per-unit points (truncated toward zero, clamped to
int16 as the engine does), valid_from/valid_until, expiry in calendar months (clamped to
the month's end), the level window, the two piecewise-linear scales and consequences whose
conditions compare status, level or balances (all/any/not of those). It does not express
what needs an ordered pass or a second table: caps (a running total per citizen, rule and
period), closures (a later event ending an earlier entry), has_active (counts of entries
in force per type), bands and household consequences. `query_policy` removes exactly those
from a policy; the engine scores the same reduced policy, so every citizen is compared.

The SQL and the polars expressions are generated from the policy's data (no eval); event
types are quoted as SQL string literals after the policy's own validation (dotted
lower-case names only).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from socialrating.policy import conditions as C
from socialrating.policy.model import Policy, Scale

POINTS_MIN, POINTS_MAX = -32768, 32767  # the engine's int16 entries


def _expressible(cond) -> bool:
    if isinstance(cond, (C.AllCond, C.AnyCond)):
        return all(_expressible(c) for c in (cond.all if isinstance(cond, C.AllCond) else cond.any))
    if isinstance(cond, C.NotCond):
        return _expressible(cond.not_)
    return isinstance(cond, (C.StatusCond, C.LevelCond, C.BalanceStatusCond, C.BalanceLevelCond))


def query_policy(policy: Policy) -> Policy:
    """The part of `policy` one query expresses: no caps, closures, has_active, bands or
    household consequences (see the module docstring for why)."""
    rules = [r.model_copy(update={"cap": None}) for r in policy.rules]
    cons = [c for c in policy.consequences if _expressible(c.when) and not c.applies_to_household]
    rating = policy.rating.model_copy(update={"bands": None})
    return policy.model_copy(update={"rules": rules, "closures": [], "consequences": cons, "rating": rating})


def dropped(policy: Policy) -> list[str]:
    """What query_policy leaves out of `policy`, in words (printed by the benchmark)."""
    out = [f"cap of rule {r.id}" for r in policy.rules if r.cap is not None]
    out += [f"closure {c.id}" for c in policy.closures]
    out += [f"consequence {c.id}" for c in policy.consequences
            if not _expressible(c.when) or c.applies_to_household]
    if policy.rating.bands is not None:
        out.append("bands")
    return out


def _rules_rows(policy: Policy) -> list[dict]:
    unit_types = {r.event_type for r in policy.rules if r.points_per_unit is not None}
    return [{
        "event_type": r.event_type,
        "fixed": r.points,
        "per_unit": r.points_per_unit,
        "exp_months": policy.expiry_months(r),
        "valid_from": r.valid_from or dt.date(1, 1, 1),
        "valid_until": r.valid_until or dt.date(9999, 12, 31),
        "unit_type": r.event_type in unit_types,
    } for r in policy.rules]


# ---------------------------------------------------------------- DuckDB SQL

def _lit(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, str):
        assert C.EVENT_TYPE_RE.fullmatch(v), v  # validated by the policy: no quote can occur
        return f"'{v}'"
    return repr(v)


def _scale_sql(col: str, scale: Scale) -> str:
    p = scale.breakpoints
    arms = [f"WHEN {col} <= {p[0].balance} THEN {p[0].score}", f"WHEN {col} >= {p[-1].balance} THEN {p[-1].score}"]
    for a, b in zip(p, p[1:]):
        arms.append(f"WHEN {col} < {b.balance} THEN {a.score} + "
                    f"floor(({col} - {a.balance}) * {b.score - a.score} / {b.balance - a.balance})::INTEGER")
    return "CASE " + " ".join(arms) + " END"


def _cond_sql(cond) -> str:
    if isinstance(cond, C.AllCond):
        return "(" + " AND ".join(_cond_sql(c) for c in cond.all) + ")"
    if isinstance(cond, C.AnyCond):
        return "(" + " OR ".join(_cond_sql(c) for c in cond.any) + ")"
    if isinstance(cond, C.NotCond):
        return f"(NOT {_cond_sql(cond.not_)})"
    key = next(k for k in C.METRICS if hasattr(cond, k))
    cmp = getattr(cond, key)
    ops = [(op, getattr(cmp, b)) for b, op in (("lt", "<"), ("lte", "<="), ("gt", ">"), ("gte", ">="), ("eq", "="))
           if getattr(cmp, b) is not None]
    return "(" + " AND ".join(f"{key} {op} {v}" for op, v in ops) + ")"


def duckdb_sql(policy: Policy, as_of: dt.date) -> str:
    """The whole policy as one SELECT over tables `events` and `citizens` (citizen_id).

    Returns one row per citizen, sorted by citizen_id: balances, status, level and one
    boolean column per consequence (named by its id).
    """
    rows = _rules_rows(policy)
    cols = list(rows[0])
    values = ",\n    ".join("(" + ", ".join(_lit(r[c]) for c in cols) + ")" for r in rows)
    rs = policy.rating
    asof = _lit(as_of)
    in_force = f"(exp_months IS NULL OR day + to_months(exp_months) > {asof})"
    cons = "".join(f",\n  {_cond_sql(c.when)} AS \"{c.id}\"" for c in policy.consequences)
    return f"""
WITH rules({", ".join(cols)}) AS (VALUES
    {values}),
entries AS (
  SELECT e.citizen_id, e.occurred_on AS day, r.exp_months,
         CASE WHEN r.per_unit IS NULL THEN r.fixed
              ELSE greatest({POINTS_MIN}, least({POINTS_MAX}, trunc(e.amount * r.per_unit)))::INTEGER END AS points
  FROM events e JOIN rules r ON e.event_type = r.event_type
  WHERE e.occurred_on <= {asof} AND e.occurred_on >= r.valid_from AND e.occurred_on < r.valid_until
    AND (NOT r.unit_type OR (e.amount >= 0 AND NOT isnan(e.amount)))
),
balances AS (
  SELECT citizen_id,
         sum(points) FILTER (WHERE {in_force}) AS bs,
         sum(points) FILTER (WHERE {in_force} AND day + INTERVAL {rs.level_window_months} MONTH > {asof}) AS bl
  FROM entries GROUP BY citizen_id
),
rated AS (
  SELECT c.citizen_id, ({rs.base_status} + coalesce(b.bs, 0))::INTEGER AS balance_status,
         ({rs.base_level} + coalesce(b.bl, 0))::INTEGER AS balance_level
  FROM citizens c LEFT JOIN balances b USING (citizen_id)
),
scored AS (
  SELECT *, ({_scale_sql("balance_status", rs.status_scale)})::TINYINT AS status,
            ({_scale_sql("balance_level", rs.level_scale)})::TINYINT AS level
  FROM rated
)
SELECT citizen_id, balance_status, balance_level, status, level{cons}
FROM scored ORDER BY citizen_id
"""


def run_duckdb(con, events, citizens: np.ndarray, policy: Policy, as_of: dt.date) -> pl.DataFrame:
    """Run duckdb_sql on a connection with `events` (polars or Arrow) and `citizens`."""
    con.register("events", events)
    con.register("citizens", pl.DataFrame({"citizen_id": pl.Series(citizens, dtype=pl.Int64)}))
    return pl.from_arrow(con.sql(duckdb_sql(policy, as_of)).to_arrow_table())


# ---------------------------------------------------------------- polars lazy

def _add_months(day: pl.Expr, months: pl.Expr) -> pl.Expr:
    """Civil month arithmetic (offset_by clamps the day to the month's end, as the engine
    does); faster in polars than building the date from year, month and day."""
    return day.dt.offset_by(pl.format("{}mo", months))


def _scale_pl(col: str, scale: Scale) -> pl.Expr:
    p = scale.breakpoints
    b = pl.col(col)
    e = pl.when(b <= p[0].balance).then(p[0].score).when(b >= p[-1].balance).then(p[-1].score)
    for a, nb in zip(p, p[1:]):
        e = e.when(b < nb.balance).then(a.score + ((b - a.balance) * (nb.score - a.score)) // (nb.balance - a.balance))
    return e.otherwise(None).cast(pl.Int8)


def _cond_pl(cond) -> pl.Expr:
    if isinstance(cond, C.AllCond):
        return pl.all_horizontal([_cond_pl(c) for c in cond.all])
    if isinstance(cond, C.AnyCond):
        return pl.any_horizontal([_cond_pl(c) for c in cond.any])
    if isinstance(cond, C.NotCond):
        return ~_cond_pl(cond.not_)
    key = next(k for k in C.METRICS if hasattr(cond, k))
    cmp, x = getattr(cond, key), pl.col(key)
    parts = [op(x, getattr(cmp, b)) for b, op in (
        ("lt", pl.Expr.__lt__), ("lte", pl.Expr.__le__), ("gt", pl.Expr.__gt__),
        ("gte", pl.Expr.__ge__), ("eq", pl.Expr.__eq__)) if getattr(cmp, b) is not None]
    return pl.all_horizontal(parts)


def polars_query(events: pl.LazyFrame, citizens: pl.LazyFrame, policy: Policy, as_of: dt.date) -> pl.LazyFrame:
    """The whole policy as one lazy query; the same columns and order as duckdb_sql."""
    et = events.collect_schema()["event_type"]
    rules = pl.DataFrame(_rules_rows(policy), schema_overrides={
        "fixed": pl.Int32, "per_unit": pl.Float64, "exp_months": pl.Int32}).with_columns(pl.col("event_type").cast(et))
    rs = policy.rating
    day, amount = pl.col("occurred_on"), pl.col("amount")
    in_force = pl.col("exp_months").is_null() | (_add_months(day, pl.col("exp_months")) > as_of)
    in_window = _add_months(day, pl.lit(rs.level_window_months, pl.Int32)) > as_of
    points = pl.when(pl.col("per_unit").is_null()).then(pl.col("fixed")).otherwise(
        (amount * pl.col("per_unit")).clip(POINTS_MIN, POINTS_MAX).cast(pl.Int32))  # cast truncates
    balances = (
        events.select("citizen_id", "event_type", "occurred_on", "amount")
        .join(rules.lazy(), on="event_type")
        .filter((day <= as_of) & (day >= pl.col("valid_from")) & (day < pl.col("valid_until"))
                & (~pl.col("unit_type") | ((amount >= 0) & amount.is_not_nan())))
        .with_columns(points=points, in_force=in_force, in_window=in_window)
        .group_by("citizen_id")
        .agg(bs=pl.col("points").filter("in_force").sum(),
             bl=pl.col("points").filter(pl.col("in_force") & pl.col("in_window")).sum())
    )
    return (
        citizens.join(balances, on="citizen_id", how="left")
        .select("citizen_id",
                balance_status=(rs.base_status + pl.col("bs").fill_null(0)).cast(pl.Int32),
                balance_level=(rs.base_level + pl.col("bl").fill_null(0)).cast(pl.Int32))
        .with_columns(status=_scale_pl("balance_status", rs.status_scale),
                      level=_scale_pl("balance_level", rs.level_scale))
        .with_columns([_cond_pl(c.when).alias(c.id) for c in policy.consequences])
        .sort("citizen_id")
    )


# ---------------------------------------------------------------- the engine's result, same shape

def engine_table(result, policy: Policy) -> pl.DataFrame:
    """The engine's ratings plus one boolean column per consequence (held directly).

    Timed with the engine in the benchmark, so it is written as array work: the holders'
    positions among the rated citizens (sorted, as the engine returns them) by binary
    search, one boolean array per consequence (a string compare and an is_in per
    consequence took about 110 ms of the engine's 350 ms on 16M events)."""
    out = result.ratings.select("citizen_id", "balance_status", "balance_level", "status", "level")
    if not out["citizen_id"].is_sorted():
        out = out.sort("citizen_id")
    ids = out["citizen_id"].to_numpy()
    cons = result.consequences
    direct = cons["via_citizen_id"].is_null().to_numpy()
    code = cons["consequence_id"].to_physical().to_numpy()
    holders = cons["citizen_id"].to_numpy()
    names = list(cons["consequence_id"].dtype.categories) if cons.height else []
    columns = {}
    for c in policy.consequences:
        held = np.zeros(len(ids), dtype=bool)
        if c.id in names:
            who = holders[direct & (code == names.index(c.id))]
            pos = np.searchsorted(ids, who)
            if len(who) and (pos.max() >= len(ids) or (ids[pos] != who).any()):
                raise ValueError(f"{c.id}: a holder who is not among the rated citizens")
            held[pos] = True
        columns[c.id] = held
    return out.with_columns(**{k: pl.Series(v) for k, v in columns.items()})


def same_table(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Equal values column by column (dtypes may differ between the systems)."""
    if a.columns != b.columns or a.height != b.height:
        return False
    return all((a[c].cast(pl.Int64) if a[c].dtype.is_integer() else a[c]).equals(
        b[c].cast(pl.Int64) if b[c].dtype.is_integer() else b[c]) for c in a.columns)
