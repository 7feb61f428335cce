"""Reading a run folder for the audit: the schemas it expects, month arithmetic, groups.

The audit reads only Parquet files and manifest.json, so it can audit any run folder that
has these tables with these columns, whatever wrote it. `SCHEMAS` is what it checks, taken
from the run folder's contract (store/runfolder.py); a missing column or an unexpected
type fails with a message naming the file and column.

Months: every date column identifies a calendar month (the day is ignored), so month-end
dates and first-of-month dates give the same answer. A consequence spell is in force in
the `months` consecutive calendar months from `start_month`; `end_month` is read only to
know whether the spell is still running at the end of the run (null).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..population.calibration import DISTRICTS
from ..store.runfolder import FILES, KINDS, SCENARIOS, RunFolder, kind  # known scenarios, in report order; others allowed

AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
STATUS_BANDS = ("00-19", "20-39", "40-59", "60-79", "80-99")

#: the tables the audit reads -> column -> accepted dtypes ("int": any integer, "text": String
#: or Enum, "date": Date), from the run folder's contract (store/runfolder.py FILES)
AUDITED = ("citizens", "ratings", "consequences", "wrongful")


SCHEMAS: dict[str, dict[str, Any]] = {t: {c: kind(FILES[t].columns[c]) for c in FILES[t].needed}
                                      for t in AUDITED}
OPTIONAL_TABLES = tuple(t for t in AUDITED if FILES[t].optional)


class RunFormatError(ValueError):
    """A run folder lacks a table or column the audit needs, or has it with the wrong type."""


def _ok(dtype: pl.DataType, want: Any) -> bool:
    if want == "int":
        return dtype.is_integer()
    if want == "text":
        return dtype == pl.String or isinstance(dtype, (pl.Enum, pl.Categorical))
    if want == "date":
        return dtype == pl.Date or isinstance(dtype, pl.Datetime)
    return dtype == want


def _unreadable(path: Path, exc: Exception) -> RunFormatError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RunFormatError(f"{path}: not a readable Parquet file ({first})")


def table_path(folder: RunFolder, table: str) -> Path:
    """Where `table` lives, for messages: its file, or its folder of parts."""
    files = folder.table_files(table)
    return files[0] if len(files) == 1 else files[0].parent


def _scan(folder: RunFolder, table: str) -> pl.LazyFrame:
    """`table` as one lazy frame (one file or parts); a bad layout or file is one RunFormatError."""
    try:
        return folder.scan(table)
    except ValueError as exc:  # both layouts, or parts with a gap (RunFolder.table_files)
        raise RunFormatError(str(exc)) from None


def check_schema(folder: RunFolder, table: str) -> None:
    path = table_path(folder, table)
    try:
        schema = _scan(folder, table).collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, exc) from None
    problems = []
    for col, want in SCHEMAS[table].items():
        if col not in schema:
            problems.append(f"missing column '{col}'")
        elif not _ok(schema[col], want):
            problems.append(f"column '{col}' is {schema[col]}, expected {want if isinstance(want, str) else want}")
    if problems:
        raise RunFormatError(f"{path}: " + "; ".join(problems))


def month_key(col: str | pl.Expr) -> pl.Expr:
    """A calendar month as one integer (year * 12 + month - 1)."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.year().cast(pl.Int32) * 12 + e.dt.month().cast(pl.Int32) - 1


def key_to_date(key: int) -> dt.date:
    """Month key -> the last day of that month (the engine's month-end convention)."""
    y, m0 = divmod(key + 1, 12)  # the month after, as (year, 0-based month)
    return dt.date(y, m0 + 1, 1) - dt.timedelta(days=1)


@dataclass
class RunData:
    """The tables of one run, typed for the audit (text columns as String)."""

    path: Path
    manifest: dict
    citizens: pl.DataFrame      # citizen_id + group columns (see add_groups)
    ratings: pl.DataFrame       # citizen_id, t (month index from 0), status, level, band (index into bands)
    consequences: pl.DataFrame  # + t0 (first month index), t1 (first month index no longer in force)
    wrongful: pl.DataFrame | None
    months: list[dt.date]       # month ends of the run, index t
    policy: Any | None = None   # socialrating.policy.model.Policy when policy.yaml parses
    kinds: dict[str, str] = field(default_factory=dict)  # consequence_id -> kind
    contexts: dict[str, str] = field(default_factory=dict)
    bands: tuple[str, ...] = STATUS_BANDS  # status bins worst first; named bands in policy order (best first)
    named_bands: bool = False
    scenarios: tuple[str, ...] = ("actual",)  # present in consequences.parquet, known ones first

    @property
    def worst_band(self) -> int:
        """Index in `bands` of the worst band (00-19, or the policy's last named band)."""
        return len(self.bands) - 1 if self.named_bands else 0

    @property
    def n_months(self) -> int:
        return len(self.months)

    @property
    def consequence_ids(self) -> list[str]:
        return list(self.kinds)


def _read(folder: RunFolder, table: str, columns: list[str] | None = None) -> pl.DataFrame:
    """`table` (only `columns` if given), its text columns as String."""
    check_schema(folder, table)
    path = table_path(folder, table)
    try:
        df = _scan(folder, table).select(columns or pl.all()).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, exc) from None
    casts = {c: pl.String for c, want in SCHEMAS[table].items()
             if want == "text" and c in df.columns and df.schema[c] != pl.String}
    return df.with_columns(pl.col(c).cast(t) for c, t in casts.items()) if casts else df


def add_groups(citizens: pl.DataFrame) -> pl.DataFrame:
    """citizen_id plus the audit's group columns, all String except income_decile."""
    age = pl.col("age").cast(pl.Int32)
    age_band = (pl.when(age < 18).then(pl.lit("under 18"))
                .when(age < 25).then(pl.lit("18-24"))
                .when(age < 35).then(pl.lit("25-34"))
                .when(age < 45).then(pl.lit("35-44"))
                .when(age < 55).then(pl.lit("45-54"))
                .when(age < 65).then(pl.lit("55-64"))
                .otherwise(pl.lit("65+")))
    return citizens.select(
        pl.col("citizen_id").cast(pl.Int64),
        pl.col("district").cast(pl.String),
        age_band.alias("age_band"),
        pl.col("sex").cast(pl.String),
        pl.col("income_decile").cast(pl.Int8).cast(pl.String).alias("income_decile"),
        pl.when(pl.col("urban")).then(pl.lit("urban")).otherwise(pl.lit("rural")).alias("area"),
    )


GROUP_ORDERS: dict[str, list[str]] = {
    "district": list(DISTRICTS), "age_band": list(AGE_BANDS), "sex": ["F", "M"],
    "income_decile": [str(i) for i in range(1, 11)], "area": ["urban", "rural"],
}


def group_rank(dimension: str, value: str) -> tuple[int, str]:
    """Sort key for a dimension's groups: census order of districts, ages ascending..."""
    o = GROUP_ORDERS.get(dimension, [])
    return (o.index(value), value) if value in o else (len(o), value)


def status_band_expr(col: str = "status") -> pl.Expr:
    s = pl.col(col).cast(pl.Int32).clip(0, 99) // 20
    return pl.concat_str((s * 20).cast(pl.String).str.zfill(2), pl.lit("-"),
                         (s * 20 + 19).cast(pl.String).str.zfill(2))


def load_run(run_dir: str | Path) -> RunData:
    """Read and check a run folder (see SCHEMAS)."""
    path = Path(run_dir)
    manifest = _read_manifest(path)
    folder = RunFolder(path)
    for t in SCHEMAS:
        if not folder.has(t) and t not in OPTIONAL_TABLES:
            raise RunFormatError(f"{path}: {t}.parquet is missing")
    citizens = add_groups(_read(folder, "citizens", ["citizen_id", "district", "age", "sex", "income_decile",
                                                     "urban"]))
    policy = _read_policy(path)
    ratings, months, bands, named = _read_ratings(folder, manifest, policy)
    k0 = months[0].year * 12 + months[0].month - 1  # month_key of the first month
    cons, scenarios = _read_consequences(folder, k0)
    kinds, contexts = _labels(policy, cons)
    wrongful = _read_wrongful(folder) if folder.has("wrongful") else None
    return RunData(path, manifest, citizens, ratings, cons, wrongful, months, policy, kinds, contexts,
                   bands, named, scenarios or ("actual",))


def _read_manifest(path: Path) -> dict:
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise RunFormatError(f"{path}: not a run folder (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text())
    except ValueError as exc:
        raise RunFormatError(f"{mpath}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise RunFormatError(f"{mpath}: expected a JSON object, got {type(manifest).__name__}")
    return manifest


def _read_policy(path: Path):
    """The run's policy when policy.yaml is there and parses (the audit works without it)."""
    if not (path / "policy.yaml").exists():
        return None
    from ..policy.load import PolicyError, parse_policy
    try:
        return parse_policy((path / "policy.yaml").read_text(encoding="utf-8"), str(path / "policy.yaml"))
    except PolicyError:
        return None


def _band_names(ratings: pl.LazyFrame, policy) -> tuple[str, ...]:
    """Named bands best first: the policy's, else the column's Enum, else the values sorted."""
    if policy is not None and policy.rating.bands is not None:
        return tuple(policy.rating.bands.names)
    dtype = ratings.collect_schema()["band"]
    if isinstance(dtype, pl.Enum):
        return tuple(dtype.categories.to_list())
    return tuple(sorted(ratings.select(pl.col("band").drop_nulls().unique()).collect().to_series().to_list()))


def _read_ratings(folder: RunFolder, manifest: dict, policy) -> tuple[pl.DataFrame, list[dt.date], tuple[str, ...], bool]:
    """The panel as (citizen_id, t, status, level, band index), the month ends, the bands and
    whether they are the policy's named bands. The panel is N x months rows, so it is read
    lazily (its months and bands first, then only the columns used, already converted):
    the run's table is never held whole beside the audit's."""
    check_schema(folder, "ratings")
    rpath = table_path(folder, "ratings")
    lf = _scan(folder, "ratings")
    try:
        keys = sorted(lf.select(month_key("month").unique()).collect().to_series().to_list())
        named = ("band" in lf.collect_schema()
                 and bool(lf.select(pl.col("band").null_count() < pl.len()).collect().item()))
        bands = _band_names(lf, policy) if named else STATUS_BANDS
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(rpath, exc) from None
    if not keys:
        raise RunFormatError(f"{rpath}: no rows")
    k0 = keys[0]
    n_months = max(keys) - k0 + 1
    if manifest.get("months") and int(manifest["months"]) > n_months:
        n_months = int(manifest["months"])
    months = [key_to_date(k0 + i) for i in range(n_months)]
    if named:
        code = pl.col("band").cast(pl.String).replace_strict({b: i for i, b in enumerate(bands)}, default=None,
                                                             return_dtype=pl.Int8)
    else:
        code = (pl.col("status").cast(pl.Int32).clip(0, 99) // 20).cast(pl.Int8)
    try:
        ratings = lf.select(
            pl.col("citizen_id").cast(pl.Int64), (month_key("month") - k0).cast(pl.Int32).alias("t"),
            pl.col("status").cast(pl.Int32), pl.col("level").cast(pl.Int32), code.alias("band"),
        ).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(rpath, exc) from None
    return ratings, months, bands, named


def _read_consequences(folder: RunFolder, k0: int) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The spells with t0 and t1 (month indices), and the scenarios found, known ones first."""
    cpath = table_path(folder, "consequences")
    cons = _read(folder, "consequences").with_columns(
        pl.col("citizen_id").cast(pl.Int64), pl.col("via_citizen_id").cast(pl.Int64),
        (month_key("start_month") - k0).cast(pl.Int32).alias("t0"),
    ).with_columns((pl.col("t0") + pl.col("months").cast(pl.Int32)).alias("t1"))
    bad = cons.filter(~pl.col("kind").is_in(KINDS))
    if bad.height:
        raise RunFormatError(f"{cpath}: unknown kind {bad['kind'][0]!r} (expected one of {KINDS})")
    found = set(cons["scenario"].unique().to_list())
    scenarios = tuple(s for s in SCENARIOS if s in found) + tuple(sorted(found - set(SCENARIOS)))
    if "actual" not in scenarios and cons.height:
        raise RunFormatError(f"{cpath}: no rows for the 'actual' scenario (found {sorted(found)})")
    return cons, scenarios


def _labels(policy, cons: pl.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """consequence_id -> kind and -> context: the policy's, then any others the spells name."""
    kinds: dict[str, str] = {}
    contexts: dict[str, str] = {}
    if policy is not None:
        for c in policy.consequences:
            kinds[c.id] = c.kind
            contexts[c.id] = c.context
    for cid, kind, ctx in cons.select("consequence_id", "kind", "context").unique().sort("consequence_id").iter_rows():
        kinds.setdefault(cid, kind)
        contexts.setdefault(cid, ctx)
    return kinds, contexts


def _read_wrongful(folder: RunFolder) -> pl.DataFrame:
    wrongful = _read(folder, "wrongful")
    ints = [c for c in wrongful.columns if c.startswith(("months_", "wrongful_months", "feedback_months",
                                                           "appeals_prevented"))]
    return wrongful.with_columns(
        pl.col("citizen_id").cast(pl.Int64), pl.col("error_sources").fill_null(""),
        *(pl.col(c).cast(pl.Int32) for c in ints))


def merge_spells(spells: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Union of possibly overlapping [t0, t1) spells within each `keys` group.

    Household spill-over can give one person two rows for the same consequence (own and
    via a relative), and "any restriction" is the union over restrictions; counting months
    or people on the union counts each person-month once. Vectorised: one sort, then a
    running maximum of ends made group-local by offsetting each group's values above the
    previous group's; a new spell starts where a start lies beyond every earlier end.
    """
    if spells.height == 0:
        return spells.select(*keys, "t0", "t1")
    s = spells.select(*keys, "t0", "t1").sort(*keys, "t0", "t1")
    gid = s.select(pl.struct(keys).rle_id()).to_series().to_numpy().astype(np.int64)
    t0 = s["t0"].to_numpy().astype(np.int64)
    t1 = s["t1"].to_numpy().astype(np.int64)
    lo = min(t0.min(), t1.min())
    span = max(t0.max(), t1.max()) - lo + 2
    off = gid * span - lo + 1  # values of group g lie in (g * span, (g + 1) * span)
    run_max = np.maximum.accumulate(t1 + off)
    first = np.ones(len(t0), dtype=bool)
    first[1:] = gid[1:] != gid[:-1]
    prev = np.empty_like(run_max)
    prev[0] = 0
    prev[1:] = run_max[:-1]
    new = first | (t0 + off > prev)
    starts = np.flatnonzero(new)
    ends = np.maximum.reduceat(t1, starts)
    out = s[starts].select(*keys, "t0")
    return out.with_columns(pl.Series("t1", ends).cast(s.schema["t1"]))


def person_totals(cons: pl.DataFrame, scenario: str = "actual", kinds: dict[str, str] | None = None,
                  with_any: bool = True) -> pl.DataFrame:
    """Per (citizen, consequence): months in force (union of spells) in one scenario.

    With `with_any`, adds the pseudo-consequences 'any-restriction' and 'any-privilege'
    (the union over consequences of that kind).
    """
    c = cons.filter(pl.col("scenario") == scenario)
    per = merge_spells(c, ["citizen_id", "consequence_id"])
    out = per.group_by("citizen_id", "consequence_id").agg((pl.col("t1") - pl.col("t0")).sum().alias("months"))
    if with_any:
        for kind in KINDS:
            k = c.filter(pl.col("kind") == kind)
            anyk = merge_spells(k, ["citizen_id"]).group_by("citizen_id").agg(
                (pl.col("t1") - pl.col("t0")).sum().alias("months"))
            out = pl.concat([out, anyk.select("citizen_id", pl.lit(f"any-{kind}").alias("consequence_id"), "months")])
    return out.with_columns(pl.col("months").cast(pl.Int32))
