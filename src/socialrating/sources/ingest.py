"""``socialrating ingest``: bring a user's file of one source's records into a run folder.

``ingest_file(source, path, run_dir)`` reads CSV or Parquet in the source's documented
schema (``schemas.SCHEMAS[source].columns``), validates every row, links the valid ones
to the citizen register (:func:`socialrating.identity.linkage.link_records`) and appends

* linked events (engine columns: citizen_id, event_type, occurred_on, amount, source,
  record_id) to ``<run_dir>/ingested/<source>.parquet``;
* rows that could not be used, every column as text plus ``reason``, to
  ``<run_dir>/ingested/<source>.quarantine.parquet``.

Nothing is dropped silently: records in = accepted + quarantined + already present.
Every record id taken is kept in ``<run_dir>/ingested/<source>.index.parquet`` with the
sha256 of its content and what became of it. A record whose id is on file with the same
content is ``already present`` (ingesting the same file twice changes nothing, not even
a file's bytes); with other content it is quarantined as a conflict if it was accepted
(or is one of the run's own records), or taken as a correction if it was only quarantined
before (both versions kept). `plan_ingest` decides all that and writes nothing;
`ingest_file` writes it under the folder's lock, each file replaced atomically; a sealed
run folder is extended by ``store.intake.ingest_into_run`` (hash chain, re-score, manifest).

CSV identifiers may be digits or formatted strings (``112-233-445 95``,
``+7 912 345-67-89``, ``45 08 123456``); dates ISO (``2024-05-01``) or ``01.05.2024``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..atomic import folder_lock, write_parquet_atomic
from ..identity.linkage import link_records, parse_identifier
from ..identity.register import build_register
from .schemas import EVENT_COLUMNS, schema_for

__all__ = ["IngestError", "IngestReport", "IngestPlan", "ingest_file", "plan_ingest", "read_source_file",
           "EVENT_COLUMNS"]

_IDENTIFIERS = ("snils", "inn", "passport", "phone")
_ALWAYS_REQUIRED = ("record_id", "event_type", "occurred_on")
ALREADY_PRESENT = "already present"
DUPLICATE_IN_FILE = "duplicate record_id in file"
UNKNOWN_EVENT_TYPE = "unknown event type"
FUTURE_DATE = "impossible date: in the future"
BEFORE_BIRTH = "impossible date: before birth"
REPORTED_BEFORE = "impossible date: reported before it occurred"


class IngestError(ValueError):
    """The file as a whole cannot be ingested (unknown or missing columns, unknown format)."""


@dataclass
class IngestReport:
    source: str
    path: str
    records_in: int
    accepted: int
    quarantined: dict[str, int] = field(default_factory=dict)
    already_present: int = 0
    events_path: str = ""
    quarantine_path: str = ""
    corrections: int = 0  # record_ids quarantined before, now sent again with other content

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_raw(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    raise IngestError(f"{path.name}: unknown file type '{suffix}'; give a .csv or .parquet file")


def _to_date(s: pl.Series) -> tuple[pl.Series, np.ndarray]:
    if s.dtype == pl.Date:
        return s, np.zeros(len(s), dtype=bool)
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.date(), np.zeros(len(s), dtype=bool)
    t = s.cast(pl.String).str.strip_chars().replace("", None)
    d = pl.select(pl.coalesce(t.str.to_date("%Y-%m-%d", strict=False), t.str.to_date("%d.%m.%Y", strict=False))).to_series()
    bad = (t.is_not_null() & d.is_null()).to_numpy()
    return d.alias(s.name), bad


def _to_float(s: pl.Series) -> tuple[pl.Series, np.ndarray]:
    if s.dtype.is_numeric():
        return s.cast(pl.Float64), np.zeros(len(s), dtype=bool)
    t = s.cast(pl.String).str.strip_chars().str.replace_all(r"\s", "").str.replace(",", ".", literal=True).replace("", None)
    x = t.cast(pl.Float64, strict=False)
    return x.alias(s.name), (t.is_not_null() & x.is_null()).to_numpy()


def _to_bool(s: pl.Series) -> tuple[pl.Series, np.ndarray]:
    if s.dtype == pl.Boolean:
        return s, np.zeros(len(s), dtype=bool)
    t = s.cast(pl.String).str.strip_chars().str.to_lowercase().replace("", None)
    x = t.replace_strict({"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False},
                         default=None, return_dtype=pl.Boolean)
    return x.alias(s.name), (t.is_not_null() & x.is_null()).to_numpy()


def read_source_file(source: str, path: Path) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """Read and type a source file: (typed frame in the schema, raw frame as text, per-row reason or None)."""
    schema = schema_for(source)
    raw = _read_raw(Path(path))
    cols = schema.columns
    unknown = [c for c in raw.columns if c not in cols]
    if unknown:
        raise IngestError(
            f"{Path(path).name}: unknown column(s) {unknown} for source '{source}'; "
            f"the {source} schema has: {', '.join(cols)}")
    needed = [c for c in (*_ALWAYS_REQUIRED, *schema.required_keys) if c not in raw.columns]
    if needed:
        raise IngestError(f"{Path(path).name}: missing required column(s) {needed} for source '{source}'")
    n = raw.height
    reason = np.full(n, None, dtype=object)

    def flag(mask: np.ndarray, why: str) -> None:
        nonlocal reason
        reason = np.where((reason == None) & mask, why, reason)  # noqa: E711

    typed: list[pl.Series] = []
    for c, dtype in cols.items():
        s = raw[c] if c in raw.columns else pl.Series(c, [None] * n, dtype=dtype)
        if c in _IDENTIFIERS:
            x, bad = parse_identifier(s, c)
            flag(bad, f"invalid identifier format: {c}")
        elif dtype == pl.Date:
            x, bad = _to_date(s)
            flag(bad, f"invalid date: {c}")
        elif dtype == pl.Float64:
            x, bad = _to_float(s)
            flag(bad, f"invalid number: {c}")
        elif dtype == pl.Boolean:
            x, bad = _to_bool(s)
            flag(bad, f"invalid boolean: {c}")
        elif dtype == pl.Int64:
            x = s.cast(pl.Int64, strict=False)
            flag((s.is_not_null() & x.is_null()).to_numpy(), f"invalid number: {c}")
        else:
            x = s.cast(pl.String).str.strip_chars().replace("", None)
        typed.append(x.cast(dtype).alias(c))
    df = pl.DataFrame(typed)
    text = raw.select([pl.col(c).cast(pl.String) for c in raw.columns])
    return df, text, reason


def _validate(source: str, df: pl.DataFrame, reason: np.ndarray, as_of: dt.date) -> np.ndarray:
    schema = schema_for(source)

    def flag(mask, why: str) -> None:
        nonlocal reason
        m = np.asarray(mask.to_numpy() if isinstance(mask, pl.Series) else mask, dtype=bool)
        reason = np.where((reason == None) & m, why, reason)  # noqa: E711

    for c in (*_ALWAYS_REQUIRED, *schema.required_keys):
        flag(df[c].is_null(), f"missing required value: {c}")
    flag(~df["event_type"].is_in(schema.event_types).fill_null(False), UNKNOWN_EVENT_TYPE)
    occ = df["occurred_on"]
    flag((occ > as_of).fill_null(False), FUTURE_DATE)
    if "reported_on" in df.columns:
        flag((df["reported_on"] > as_of).fill_null(False), FUTURE_DATE)
        flag((df["reported_on"] < occ).fill_null(False), REPORTED_BEFORE)
    if "birth_date" in df.columns:
        flag((df["birth_date"] > as_of).fill_null(False), FUTURE_DATE)
        flag((occ < df["birth_date"]).fill_null(False), BEFORE_BIRTH)
    flag(df["record_id"].is_duplicated() & ~df["record_id"].is_first_distinct() & df["record_id"].is_not_null(), DUPLICATE_IN_FILE)
    return reason


CONFLICT = "conflict: record_id already accepted with different content (contest the entry to correct it)"
INDEX_SCHEMA = {"record_id": pl.String, "content_sha256": pl.String, "outcome": pl.String, "version": pl.Int32,
                "ingested_from": pl.String}


@dataclass
class IngestPlan:
    """What one ingest would write: the new full contents of the ingested/ files."""

    report: IngestReport
    files: dict[str, pl.DataFrame]   # path relative to the run folder -> new content
    accepted: pl.DataFrame           # the newly accepted events (engine columns)


def content_hashes(df: pl.DataFrame) -> pl.Series:
    """sha256 of each typed row (every schema column, length-prefixed, ~ for null): two
    spellings of the same record (formatted identifiers, date styles) hash alike."""
    import duckdb

    parts = []
    for c in df.columns:
        t = df[c].cast(pl.String)
        parts.append(pl.when(t.is_null()).then(pl.lit("~")).otherwise(
            t.str.len_bytes().cast(pl.String) + pl.lit(":") + t))
    canon = pl.DataFrame({"c": pl.select(pl.concat_str(parts, separator="|")).to_series()}) if parts else \
        pl.DataFrame({"c": [""] * df.height})
    con = duckdb.connect()
    try:
        con.register("canon", canon.to_arrow())
        got = con.execute("SELECT sha256(c) FROM canon").fetchall()
    finally:
        con.close()
    return pl.Series("content_sha256", [r[0] for r in got], dtype=pl.String)


def _run_key() -> pl.Expr:
    """What the run's events.parquet keeps of a record (type, date, amount), to compare a
    re-sent record with: equal -> already present, else a conflict."""
    return pl.concat_str([pl.lit("run:"), pl.col("event_type").cast(pl.String), pl.col("occurred_on").cast(pl.String),
                          pl.col("amount").cast(pl.Float64).cast(pl.String)], separator="|", ignore_nulls=False) \
        .fill_null("run:?")


def _on_file(source: str, run_dir: Path, out_dir: Path) -> pl.DataFrame:
    """The latest version of each record_id on file for `source`: record_id, content_sha256
    (null where unknown: files from before the index), outcome.

    On file: the ingest index, the ingested events and quarantine (older folders), and the
    run's own events.parquet records of this source.
    """
    frames = []
    idx = out_dir / f"{source}.index.parquet"
    if idx.exists():
        # a conflict never replaces what it conflicted with: compare with the last version kept
        frames.append(pl.read_parquet(idx).filter(pl.col("outcome") != "conflict")
                      .select("record_id", "content_sha256", "outcome"))
    else:
        for name, outcome in ((f"{source}.parquet", "accepted"), (f"{source}.quarantine.parquet", "quarantined")):
            p = out_dir / name
            if p.exists():
                frames.append(pl.read_parquet(p, columns=["record_id"]).select(
                    pl.col("record_id").cast(pl.String), pl.lit(None, pl.String).alias("content_sha256"),
                    pl.lit(outcome).alias("outcome")))
    ev = run_dir / "events.parquet"
    if ev.exists():
        frames.append(pl.scan_parquet(ev).filter(pl.col("source").cast(pl.String) == source).select(
            pl.col("record_id").cast(pl.String), _run_key().alias("content_sha256"),
            pl.lit("in the run").alias("outcome")).collect())
    if not frames:
        return pl.DataFrame(schema={"record_id": pl.String, "content_sha256": pl.String, "outcome": pl.String})
    return pl.concat(frames).unique("record_id", keep="last", maintain_order=True)


def plan_ingest(source: str, path: Path, run_dir: Path, *, register: pl.DataFrame | None = None,
                as_of: dt.date | None = None, settings: dict[str, Any] | None = None) -> IngestPlan:
    """Read, validate and link one file against what is on file; write nothing.

    A record_id on file with the same content is ``already present``. One accepted
    earlier (or in the run's events) with different content is quarantined as a
    conflict: an accepted record is corrected by contesting its entry, never replaced
    silently. One only quarantined earlier is taken as a correction: validated afresh,
    both versions kept (the old row stays in quarantine; the index records versions).
    """
    path, run_dir = Path(path), Path(run_dir)
    as_of = as_of or dt.date.today()
    df, text, reason = read_source_file(source, path)
    n = df.height
    out_dir = run_dir / "ingested"
    ev_rel, q_rel, idx_rel = (f"ingested/{source}.parquet", f"ingested/{source}.quarantine.parquet",
                              f"ingested/{source}.index.parquet")
    hashes = content_hashes(df)
    known = _on_file(source, run_dir, out_dir)
    rid = df["record_id"].cast(pl.String)
    run_key = df.select(_run_key()).to_series() if "amount" in df.columns else pl.Series([None] * n, dtype=pl.String)
    look = pl.DataFrame({"record_id": rid, "h": hashes, "k": run_key}).join(
        known, on="record_id", how="left", maintain_order="left")
    on_file = look["outcome"].is_not_null().to_numpy()
    same = (on_file & (look["content_sha256"].is_null() | (look["content_sha256"] == look["h"])
                       | (look["content_sha256"] == look["k"])).fill_null(False).to_numpy())
    kept = look["outcome"].is_in(["accepted", "in the run"]).fill_null(False).to_numpy()
    present = same
    conflict = on_file & ~same & kept
    correction = on_file & ~same & ~kept

    reason = _validate(source, df, reason, as_of)
    reason = np.where(present, None, reason)
    reason = np.where(conflict, CONFLICT, reason)
    valid = ~present & (reason == None)  # noqa: E711

    linked_events = pl.DataFrame(schema=EVENT_COLUMNS)
    q_parts: list[pl.DataFrame] = []
    if valid.any():
        if register is None:
            citizens = run_dir / "citizens.parquet"
            if not citizens.exists():
                raise IngestError(f"no register: {citizens} does not exist; pass register= or write the population there")
            register = build_register(pl.read_parquet(citizens))
        elif "citizen_id" in register.columns and register.schema.get("surname") != pl.String:
            register = build_register(register)
        rows = np.flatnonzero(valid)
        res = link_records(source, df[rows], register, settings=settings)
        linked_events = res.linked.select(
            pl.col("citizen_id").cast(pl.Int64), pl.col("event_type").cast(pl.String), pl.col("occurred_on").cast(pl.Date),
            pl.col("amount").cast(pl.Float64), pl.lit(source, pl.String).alias("source"), pl.col("record_id").cast(pl.String))
        if res.quarantine.height:
            qid = res.quarantine.select(pl.col("record_id").cast(pl.String), "reason")
            q_parts.append(text[rows].join(qid, on="record_id", how="inner", maintain_order="left"))
    bad = np.flatnonzero(~present & ~valid)
    if bad.size:
        q_parts.append(text[bad].with_columns(pl.Series("reason", reason[bad].tolist(), dtype=pl.String)))
    quarantine = pl.concat(q_parts, how="diagonal_relaxed") if q_parts else None

    files: dict[str, pl.DataFrame] = {}
    ev_path, q_path, idx_path = run_dir / ev_rel, run_dir / q_rel, run_dir / idx_rel
    if linked_events.height:
        old = pl.read_parquet(ev_path) if ev_path.exists() else None
        files[ev_rel] = pl.concat([old, linked_events], how="vertical_relaxed") if old is not None else linked_events
    if quarantine is not None and quarantine.height:
        quarantine = quarantine.with_columns(pl.lit(path.name).alias("ingested_from"))
        old = pl.read_parquet(q_path) if q_path.exists() else None
        files[q_rel] = pl.concat([old, quarantine], how="diagonal_relaxed") if old is not None else quarantine
    if (~present).any():
        files[idx_rel] = _index(idx_path, rid, hashes, ~present, linked_events, path.name, conflict)

    by_reason = {} if quarantine is None else {k: int(v) for k, v in quarantine.group_by("reason").len().sort("reason").iter_rows()}
    report = IngestReport(source=source, path=str(path), records_in=n, accepted=linked_events.height,
                          quarantined=by_reason, already_present=int(present.sum()),
                          events_path=str(ev_path), quarantine_path=str(q_path),
                          corrections=int(correction.sum()))
    if report.accepted + report.quarantined_total + report.already_present != n:
        raise IngestError(f"{path.name}: records in ({n}) != accepted + quarantined + already present; nothing written")
    return IngestPlan(report, files, linked_events)


def _index(idx_path: Path, rid: pl.Series, hashes: pl.Series, new: np.ndarray, accepted: pl.DataFrame,
           file_name: str, conflict: np.ndarray) -> pl.DataFrame:
    """The ingest index with this file's new record versions appended (record_id, content
    hash, outcome, version number, file)."""
    old = pl.read_parquet(idx_path) if idx_path.exists() else pl.DataFrame(schema=INDEX_SCHEMA)
    ok = set(accepted["record_id"].to_list())
    rows = np.flatnonzero(new)
    add = pl.DataFrame({"record_id": rid.gather(rows), "content_sha256": hashes.gather(rows)}).with_columns(
        outcome=pl.when(pl.Series(conflict[rows])).then(pl.lit("conflict"))
        .when(pl.col("record_id").is_in(list(ok))).then(pl.lit("accepted")).otherwise(pl.lit("quarantined")),
        ingested_from=pl.lit(file_name))
    prior = old.group_by("record_id").agg(pl.col("version").max().alias("_v"))
    add = add.join(prior, on="record_id", how="left", maintain_order="left").with_columns(
        version=(pl.col("_v").fill_null(0) + 1).cast(pl.Int32)).drop("_v")
    return pl.concat([old, add.select(list(INDEX_SCHEMA))], how="vertical_relaxed")


def ingest_file(source: str, path: Path, run_dir: Path, *, register: pl.DataFrame | None = None,
                as_of: dt.date | None = None, settings: dict[str, Any] | None = None) -> IngestReport:
    """Validate, link and append one file of ``source`` records to ``run_dir/ingested/``.

    Holds the folder's lock; each file is replaced atomically. A sealed run folder is
    extended through ``socialrating.store.intake.ingest_into_run`` instead (chain, re-score
    and manifest in one transaction). ``register``: the linkage register or a population
    frame (default: from ``<run_dir>/citizens.parquet``); ``as_of``: dates after it are
    impossible (default: today).
    """
    run_dir = Path(run_dir)
    with folder_lock(run_dir):
        plan = plan_ingest(source, path, run_dir, register=register, as_of=as_of, settings=settings)
        for rel, frame in plan.files.items():
            write_parquet_atomic(frame, run_dir / rel)
    return plan.report
