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

A file that cannot be read as a whole raises :class:`IngestError` with one line naming
the file and what is wrong, before anything is written: an empty file, a CSV row with
more or fewer fields than the header, text that is not UTF-8 (Latin-1, Windows-1251) or
is binary, a Parquet file that is truncated or has nested (list, struct) columns, and
any record of a refused category (``speech.post``, ``location.*``: policy/refused.py).
A readable file's bad rows are quarantined, each with one exact reason (the constants
below); the dates' floor is 1900-01-01 (and the citizen's birth date where the source
sends it), amounts must be finite and within their unit's range (policy/catalog.py
AMOUNT_RANGE), text at most 128 (record_id) or 256 characters without control or
bidirectional characters, and a record_id already in the run's ``events.parquet`` with
other content is a conflict (the same content counts as already present).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..atomic import folder_lock, write_parquet_atomic
from ..identity.linkage import parse_identifier
from ..identity.register import build_register
from ..policy.catalog import AMOUNT_RANGE, BY_NAME
from ..policy.refused import REFUSED, refusal_reason
from .link import link_records
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
DATE_FLOOR = dt.date(1900, 1, 1)
AMOUNT_NOT_FINITE = "impossible amount: not a finite number"
AMOUNT_NEGATIVE = "impossible amount: negative"
CONFLICT = "conflict: record_id already on file with other content (contest the entry to correct it)"
MAX_RECORD_ID = 128
MAX_TEXT = 256
#: control, format (bidirectional overrides, zero-width) and line/paragraph separators
_BAD_CHARS = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]"
_REFUSED_RE = r"(^|\.)(" + "|".join(sorted(REFUSED)) + r")(\.|$)"


def before_floor(column: str) -> str:
    return f"impossible date: {column} before {DATE_FLOOR}"


def too_long(column: str) -> str:
    return f"text too long: {column} over {MAX_RECORD_ID if column == 'record_id' else MAX_TEXT} characters"


def bad_characters(column: str) -> str:
    return f"invalid characters in {column}: control or bidirectional"


def amount_out_of_range(unit: str | None, side: str) -> str:
    lo, hi = AMOUNT_RANGE[unit]
    bound = f"less than {lo:,.0f}" if side == "low" else f"more than {hi:,.0f}"
    return f"impossible amount: {bound} ({unit or 'no unit'})"


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
    """The file as a frame (CSV: every column text), or an IngestError naming what is wrong."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise IngestError(f"{path.name}: unknown file type '{suffix}'; give a .csv or .parquet file")
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if path.is_dir():
        raise IngestError(f"{path}: is a directory; give a .csv or .parquet file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot be read: {exc.strerror or exc}") from None
    return _read_csv(data, path.name) if suffix == ".csv" else _read_parquet(data, path.name)


def _read_csv(data: bytes, name: str) -> pl.DataFrame:
    """Strict CSV: UTF-8 text, a header, and every row with exactly the header's fields.

    pyarrow's reader is used because it refuses ragged rows (polars fills short rows
    with nulls silently); rows are numbered as pyarrow does, the header being row 1.
    A header with semicolons and no comma means semicolon-separated values (Excel's
    CSV in a Russian locale, whose decimal commas the amount parser accepts).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise IngestError(f"{name}: the file is empty (no header, no records)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{name}: UTF-16 text (Excel's 'Unicode text'?); re-save the file as CSV UTF-8")
    nul = data.find(b"\0")
    if nul >= 0:
        raise IngestError(f"{name}: line {_line(data, nul)}: a NUL byte; "
                          "this is a binary file, not CSV text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: line {_line(data, exc.start)}: not UTF-8 text "
                          f"(byte 0x{data[exc.start]:02x}); re-save the file as UTF-8 "
                          "(it may be Latin-1 or Windows-1251)") from None
    nl = text.find("\n")
    first = text if nl < 0 else text[:nl]
    sep = ";" if ";" in first and "," not in first else ","
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep))
    except (csv.Error, StopIteration) as exc:
        raise IngestError(f"{name}: the header cannot be read as CSV ({_flat(str(exc))})") from None
    dup = _repeated(header)
    if dup:
        raise IngestError(f"{name}: column(s) {dup} appear more than once in the header")
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=min(len(data) + 1, 1 << 30)),
            parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                  strings_can_be_null=True, null_values=[""]))
    except (pa.ArrowException, ValueError) as exc:
        raise IngestError(f"{name}: not well-formed CSV: {_csv_problem(str(exc))}") from None
    return pl.from_arrow(table)


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _repeated(names: list[str]) -> list[str]:
    return _few(sorted(c for c, k in Counter(names).items() if k > 1))


def _few(names: list[str], n: int = 10) -> list[str]:
    """At most n names for a message (a file may have thousands of bad columns)."""
    return names if len(names) <= n else [*names[:n], f"... and {len(names) - n} more"]


def _csv_problem(msg: str) -> str:
    m = re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+)", msg)
    if m:
        return (f"row {m.group(1)} (the header is row 1) has {m.group(3)} fields, "
                f"the header has {m.group(2)}")
    return _flat(msg.removeprefix("CSV parse error: "))


def _flat(s: str, limit: int = 160) -> str:
    """One line, at most `limit` characters: messages may quote the file's contents."""
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _read_parquet(data: bytes, name: str) -> pl.DataFrame:
    """A Parquet file of flat columns: text, numbers, booleans, dates or timestamps."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise IngestError(f"{name}: not a readable Parquet file (truncated or corrupt?): {_flat(str(exc))}") from None
    dup = _repeated(table.column_names)
    if dup:
        raise IngestError(f"{name}: column(s) {dup} appear more than once")
    try:
        cols = [_flat_column(field, col, name) for field, col in zip(table.schema, table.columns)]
        return pl.from_arrow(pa.table(cols, names=table.column_names)) if cols else pl.DataFrame()
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a property of the file
        raise IngestError(f"{name}: its columns cannot be read ({_flat(str(exc))})") from None


def _flat_column(field: pa.Field, col: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """One column in a type the reader handles; nested, binary and time-of-day types refused."""
    t = field.type
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return col.cast(pa.string())
    if pa.types.is_decimal(t) or pa.types.is_float16(t):
        return col.cast(pa.float64())
    if pa.types.is_date64(t):
        return col.cast(pa.date32())
    if pa.types.is_uint64(t):  # above Int64's range: keep as text, so identifiers are judged malformed
        big = pc.any(pc.greater(col, pa.scalar(2**63 - 1, pa.uint64()))).as_py()
        return col.cast(pa.string()) if big else col.cast(pa.int64())
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_date32(t) or pa.types.is_timestamp(t) or pa.types.is_null(t)):
        return col
    raise IngestError(f"{name}: column '{field.name}' has type {t}; expected text, numbers, booleans or "
                      "dates (nested lists, structs and binary cannot be ingested)")


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
    """Read and type a source file: (typed frame in the schema, raw frame as text, per-row reason or None).

    Raises IngestError (one line naming the file) for a file that cannot be read as a whole.
    """
    schema = schema_for(source)
    raw = _read_raw(Path(path))
    try:
        return _typed(source, schema, raw, Path(path))
    except pl.exceptions.PolarsError as exc:  # a value polars cannot convert: say so, with the file
        raise IngestError(f"{Path(path).name}: its values cannot be read ({_flat(str(exc))})") from None


def _typed(source: str, schema, raw: pl.DataFrame, path: Path) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """Check the columns, then convert each to the schema's type, marking rows that do not convert."""
    cols = schema.columns
    unknown = [c for c in raw.columns if c not in cols]
    if unknown:
        raise IngestError(
            f"{Path(path).name}: unknown column(s) {_few([_flat(c, 40) for c in unknown])} for source '{source}'; "
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
    _refuse_categories(df["event_type"], Path(path).name)
    text = raw.select([pl.col(c).cast(pl.String) for c in raw.columns])
    return df, text, reason


def _refuse_categories(event_type: pl.Series, name: str) -> None:
    """A file with any record of a refused category (speech, location, ...) is refused whole.

    Such records are not "unknown": the project will not score them at all, and an
    operator sending them should be told so, not find them in quarantine.
    """
    key = event_type.str.to_lowercase().str.replace_all("-", "_", literal=True)
    hit = key.str.contains(_REFUSED_RE).fill_null(False)
    if not hit.any():
        return
    rows = np.flatnonzero(hit.to_numpy())
    first = event_type[int(rows[0])]
    raise IngestError(
        f"{name}: refused: {rows.size:,} record(s) of a refused category, first '{_flat(first, 60)}' "
        f"in data row {int(rows[0]) + 1}: {refusal_reason(first)} (README, 'Out of scope'); nothing was ingested")


def records_on_file(run_dir: Path, source: str, events: pl.LazyFrame | None = None) -> pl.DataFrame | None:
    """This source's records already in the run (``events.parquet``): id and content, or None.

    events: the run's events as one table, from the run folder's reader (store/runfolder.py,
    a stage above this one: the table may be one file or one part per shard); by default
    ``<run_dir>/events.parquet``."""
    path = Path(run_dir) / "events.parquet"
    if events is None and not path.exists():
        return None
    try:
        return ((pl.scan_parquet(path) if events is None else events).filter(pl.col("source").cast(pl.String) == source)
                .select(pl.col("record_id").cast(pl.String), pl.col("event_type").cast(pl.String),
                        pl.col("occurred_on").cast(pl.Date), pl.col("amount").cast(pl.Float64))
                .unique("record_id", keep="first", maintain_order=True).collect())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestError(f"{path}: the run's events cannot be read ({_flat(str(exc))}); "
                          "run `socialrating verify` on the folder") from None


def _validate(source: str, df: pl.DataFrame, reason: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Per-row reasons (the first that applies; None: valid), in the order of the checks below.
    Records already on file are judged by :func:`plan_ingest` (present, conflict or correction)."""
    schema = schema_for(source)

    def flag(mask, why: str) -> None:
        nonlocal reason
        m = np.asarray(mask.to_numpy() if isinstance(mask, pl.Series) else mask, dtype=bool)
        reason = np.where((reason == None) & m, why, reason)  # noqa: E711

    for c in (*_ALWAYS_REQUIRED, *schema.required_keys):
        flag(df[c].is_null(), f"missing required value: {c}")
    _check_text(df, flag)
    flag(~df["event_type"].is_in(schema.event_types).fill_null(False), UNKNOWN_EVENT_TYPE)
    _check_amount(df, flag)
    for c in ("occurred_on", "reported_on", "birth_date"):
        if c in df.columns:
            flag((df[c] < DATE_FLOOR).fill_null(False), before_floor(c))
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


def _check_text(df: pl.DataFrame, flag) -> None:
    """Text columns: a length limit, and no control or bidirectional characters (which can
    make two different ids look the same, or a log line lie)."""
    for c, dtype in df.schema.items():
        if dtype != pl.String:
            continue
        limit = MAX_RECORD_ID if c == "record_id" else MAX_TEXT
        flag((df[c].str.len_chars() > limit).fill_null(False), too_long(c))
        flag(df[c].str.contains(_BAD_CHARS).fill_null(False), bad_characters(c))


def _check_amount(df: pl.DataFrame, flag) -> None:
    """Amounts: finite, and within their unit's range (catalog.AMOUNT_RANGE)."""
    amount = df["amount"]
    present = amount.is_not_null()
    flag(present & ~amount.is_finite().fill_null(True), AMOUNT_NOT_FINITE)
    unit = df["event_type"].replace_strict({k: e.unit or "" for k, e in BY_NAME.items()}, default=None,
                                           return_dtype=pl.String)
    for u, (lo, hi) in AMOUNT_RANGE.items():
        of_unit = (unit == (u or "")).fill_null(False) & present
        flag(of_unit & (amount < lo).fill_null(False), AMOUNT_NEGATIVE if lo == 0 else amount_out_of_range(u, "low"))
        flag(of_unit & (amount > hi).fill_null(False), amount_out_of_range(u, "high"))


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


def _on_file(source: str, run_dir: Path, out_dir: Path, events: pl.LazyFrame | None = None) -> pl.DataFrame:
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
    ev = records_on_file(run_dir, source, events)  # an unreadable events.parquet is one clear error
    if ev is not None:
        frames.append(ev.select(pl.col("record_id"), _run_key().alias("content_sha256"),
                                pl.lit("in the run").alias("outcome")))
    if not frames:
        return pl.DataFrame(schema={"record_id": pl.String, "content_sha256": pl.String, "outcome": pl.String})
    return pl.concat(frames).unique("record_id", keep="last", maintain_order=True)


def plan_ingest(source: str, path: Path, run_dir: Path, *, register: pl.DataFrame | None = None,
                as_of: dt.date | None = None, settings: dict[str, Any] | None = None,
                run_events: pl.LazyFrame | None = None) -> IngestPlan:
    """Read, validate and link one file against what is on file; write nothing.

    A record_id on file with the same content is ``already present``. One accepted
    earlier (or in the run's events) with different content is quarantined as a
    conflict: an accepted record is corrected by contesting its entry, never replaced
    silently. One only quarantined earlier is taken as a correction: validated afresh,
    both versions kept (the old row stays in quarantine; the index records versions).
    run_events: the run's events table (see `records_on_file`); default: events.parquet.
    """
    path, run_dir = Path(path), Path(run_dir)
    as_of = as_of or dt.date.today()
    df, text, reason = read_source_file(source, path)
    n = df.height
    out_dir = run_dir / "ingested"
    ev_rel, q_rel, idx_rel = (f"ingested/{source}.parquet", f"ingested/{source}.quarantine.parquet",
                              f"ingested/{source}.index.parquet")
    hashes = content_hashes(df)
    known = _on_file(source, run_dir, out_dir, run_events)
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
