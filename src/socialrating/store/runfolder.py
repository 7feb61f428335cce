"""A run folder: the Parquet tables of one run plus its manifest, and their contract.

`FILES` is the contract: every file of a run folder, what it holds and the columns of
each table with their types. The simulation writes to it, the audit checks and reads
against it (audit/_run.py), the tests' fixtures write small run folders with it.

Written deterministically (fixed compression, no wall-clock time in any file but
timings.json) so that the same seed, policy and software give byte-identical files.
Tables are streamed shard by shard, so memory stays bounded by the shard size.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..engine.ledger import STATES as ENGINE_STATES
from ..engine.score import CONSEQUENCE_KIND
from ..population.generate import CORE_COLUMNS, POPULATION_SCHEMA

#: citizens, events and ledger as of the last month; current_ratings and
#: current_consequences: the engine's result on the rating date (re-derived after every
#: contest or review); ratings: the monthly panel; consequences: spells per scenario.
TABLES = ("citizens", "events", "ledger", "current_ratings", "current_consequences", "quarantine")

# The run folder's shared vocabulary: written by simulate, read by audit, report and the
# commands. One home, so writers and readers cannot drift apart.
#: the paired scenarios of a simulation, in report order
SCENARIOS = ("actual", "perfect_data", "no_feedback", "no_appeals")
SCENARIO_ENUM = pl.Enum(list(SCENARIOS))
#: consequence kinds (the engine's Enum, as current_consequences carries it)
KIND_ENUM = CONSEQUENCE_KIND
KINDS = tuple(CONSEQUENCE_KIND.categories.to_list())
#: ledger entry states (the engine's, as ledger.parquet and the store carry them)
STATES = tuple(ENGINE_STATES)
STATE_ENUM = pl.Enum(list(STATES))


def kind(dtype: pl.DataType | None) -> Any:
    """A column type as readers take it: "text" (String, Enum, Categorical, or None: text
    whose categories depend on the policy or world), "int" (any integer), "date", or the type."""
    if dtype is None or dtype == pl.String or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return "text"
    if dtype.is_integer():
        return "int"
    return "date" if dtype == pl.Date else dtype


@dataclass(frozen=True)
class RunFile:
    """One file of a run folder.

    columns: each column and its type as written; None is text whose categories depend on
    the policy or the world. `needed` are the columns readers rely on (the audit checks
    them); `loose` columns vary in type between worlds within their kind (see `kind`);
    `optional` files may be absent, `optional_columns` too."""

    file: str
    holds: str
    columns: dict[str, pl.DataType | None] = field(default_factory=dict)
    needed: tuple[str, ...] = ()
    optional: bool = False
    optional_columns: tuple[str, ...] = ()
    loose: tuple[str, ...] = ()

    def dtypes(self, text: pl.DataType = pl.String) -> dict[str, pl.DataType]:
        """The columns' types, policy-dependent text as ``text``."""
        return {c: text if t is None else t for c, t in self.columns.items()}

    def problems(self, schema: dict[str, pl.DataType]) -> list[str]:
        """How a table's schema departs from this file's contract (empty: it keeps it)."""
        out = []
        for col, want in self.columns.items():
            got = schema.get(col)
            if got is None:
                if col not in self.optional_columns:
                    out.append(f"{self.file}: no column {col}")
            elif (want is None or col in self.loose) and kind(got) != kind(want):
                out.append(f"{self.file}: {col} is {got}, expected {kind(want)}")
            elif want is not None and col not in self.loose and got != want:
                out.append(f"{self.file}: {col} is {got}, expected {want}")
        return out


_SPELL = {"start_month": pl.Date, "end_month": pl.Date, "months": pl.Int16}
_PAIRED = ("months_actual", "months_perfect_data", "months_no_feedback", "wrongful_months", "feedback_months",
           "months_no_appeals", "wrongful_months_no_appeals", "appeals_prevented_months")
_RECORD = {"citizen_id": pl.Int64, "event_type": None, "occurred_on": pl.Date, "amount": pl.Float64,
           "source": None, "record_id": pl.String}
_RATING = {"balance_status": pl.Int32, "balance_level": pl.Int32, "status": pl.Int8, "level": pl.Int8}

#: keyed by table name for the Parquet tables ("ledger"), by file name for the rest: keyed by
#: the name before the first dot, "ledger.duckdb" took the key "ledger" from ledger.parquet
#: (and manifest.sig manifest.json's), so those two files' contracts were never checked
FILES: dict[str, RunFile] = {f.file.removesuffix(".parquet"): f for f in (
    RunFile("citizens.parquet", "the synthetic people (Synthetic Russia adds its identifier columns: snils, "
            "inn, passport, phone, name codes; the basic world has fewer columns)",
            {c: POPULATION_SCHEMA[c] for c in CORE_COLUMNS},
            needed=("citizen_id", "district", "urban", "sex", "age", "income_decile"),
            optional_columns=("region_code", "birth_date", "household_role", "employed"),
            loose=("sex", "household_id")),
    RunFile("ratings.parquet", "the monthly panel: everyone's rating at every month end (band: policies "
            "with named bands)", {"citizen_id": pl.Int64, "month": pl.Date, **_RATING, "band": None},
            needed=("citizen_id", "month", "status", "level"), optional_columns=("band",)),
    RunFile("consequences.parquet", "consequence spells per scenario, own or via a household member",
            {"citizen_id": pl.Int64, "scenario": SCENARIO_ENUM, "consequence_id": None, "kind": KIND_ENUM,
             "context": pl.String, **_SPELL, "via_citizen_id": pl.Int64},
            needed=("citizen_id", "scenario", "consequence_id", "kind", "context", "start_month", "end_month",
                    "months", "via_citizen_id")),
    RunFile("wrongful.parquet", "per citizen and consequence: months held in each scenario and the months "
            "counted by pairing them (wrongful, added by feedback, prevented by appeals)",
            {"citizen_id": pl.Int64, "consequence_id": None, "kind": KIND_ENUM,
             **{c: pl.Int16 for c in _PAIRED}, "error_sources": pl.String},
            needed=("citizen_id", "consequence_id", *_PAIRED[:5], "error_sources"), optional=True),
    RunFile("events.parquet", "every record the actual scenario received, feedback records included",
            dict(_RECORD)),
    RunFile("ledger.parquet", "the ledger as of the last month end, recomputed from every record received",
            {"entry_id": pl.Int64, "citizen_id": pl.Int64, "rule_id": None, "event_type": None, "category": None,
             "occurred_on": pl.Date, "points": pl.Int16, "points_raw": pl.Int16, "expires_on": pl.Date,
             "closed_on": pl.Date, "closed_by": pl.String, "source": None, "record_id": pl.String,
             "state": STATE_ENUM}),
    RunFile("quarantine.parquet", "records the engine could not score, with the reason",
            {**_RECORD, "reason": pl.String}),
    RunFile("current_ratings.parquet", "everyone's rating on the rating date (re-derived after a contest)",
            {"citizen_id": pl.Int64, "as_of": pl.Date, **_RATING}),
    RunFile("current_consequences.parquet", "consequences in force on the rating date, and why",
            {"citizen_id": pl.Int64, "consequence_id": None, "kind": KIND_ENUM, "context": pl.String,
             "since": pl.Date, "until": pl.Date, "because": pl.String, "via_citizen_id": pl.Int64}),
    RunFile("truth.parquet", "the synthetic world's ground truth per record (never read by the engine)",
            {"source": pl.String, "record_id": pl.String, "true_citizen_id": pl.Int64, "erroneous": pl.Boolean},
            optional=True),
    RunFile("manifest.json", "what ran, on what, counts and checks; sealed with every file's sha256"),
    RunFile("manifest.sig", "the operator's signature of the manifest"),
    RunFile("operator.pub", "the operator's public key, to check the signature"),
    RunFile("policy.yaml", "the policy text that ran"),
    RunFile("linkage.json", "identity linkage: records in, linked, quarantined by reason"),
    RunFile("ledger.duckdb", "the hash-chained ledger store (when not in PostgreSQL): the chain, the changes "
            "and the list of the entry segments", optional=True),
    RunFile("ledger.entries", "the store's entries as it received them, a Parquet segment per append "
            "(read through ledger.duckdb; checked by `verify`, not listed in the manifest)", optional=True),
)}


def empty_table(name: str, **dtypes: pl.DataType) -> pl.DataFrame:
    """The file's table with no rows; policy-dependent columns as given in ``dtypes``."""
    f = FILES[name]
    cols = {c: dtypes.get(c, t) for c, t in f.dtypes().items() if c not in f.optional_columns or c in dtypes}
    return pl.DataFrame(schema=cols)


PACKAGES = ("socialrating", "numpy", "polars", "pyarrow", "duckdb", "pydantic")


#: integer columns stored as deltas (Parquet's DELTA_BINARY_PACKED) rather than dictionary
#: or plain values: citizen ids repeated month after month in ratings, or ascending entry
#: ids, take a few bits a row instead of two to four bytes. Measured on a 1M-people run's
#: parts (2026-11-30): ratings -44%, ledger -18%, truth -14%, citizens -15%, events -9%.
_DELTA_TYPES = (pa.int32(), pa.int64())
#: record ids (an agency's prefix and 12 digits, nearly all distinct) stored with the
#: length of the prefix they share with the row before (DELTA_BYTE_ARRAY) rather than in a
#: dictionary that never repeats. Measured on a 1M-people run's parts (2026-11-30): events
#: -10%, ledger -8%, truth -7%, as fast to write. Since record ids carry running numbers
#: (sources/record_numbers.py, 2026-12-01), rows in reporting order share all but the last
#: digits: about 2 bytes a row instead of 6.
_PREFIX_CODED = ("record_id",)
#: floating-point columns (amounts) with each value's bytes split into streams (Parquet's
#: BYTE_STREAM_SPLIT), which zstd then compresses, rather than a dictionary of values that
#: seldom repeat. Measured on 3M of a 1M-people run's events (2026-11-30): the amount
#: column 5.71 MB -> 5.07 MB, written in 30 ns a row instead of 63.
_SPLIT_TYPES = (pa.float32(), pa.float64())


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How every table of a run is written: zstd, integer columns as deltas, record ids
    prefix-coded, floats split into byte streams, the other columns dictionary-encoded where Parquet finds it pays
    (pyarrow's default). Row groups' min/max only for columns that are not free text:
    a free-text column's (record ids, names, reasons) skips no row group, the ids being
    random, and cost a sixth of the writing."""
    ints = [f.name for f in schema if f.type in _DELTA_TYPES]
    floats = [f.name for f in schema if f.type in _SPLIT_TYPES]
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    ids = [c for c in text if c in _PREFIX_CODED]
    return {"compression": "zstd", "write_statistics": [f.name for f in schema if f.name not in text],
            "use_dictionary": [f.name for f in schema if f.name not in ints + floats + ids],
            "column_encoding": {**{c: "DELTA_BINARY_PACKED" for c in ints}, **{c: "BYTE_STREAM_SPLIT" for c in floats},
                                **{c: "DELTA_BYTE_ARRAY" for c in ids}}}


def write_table(frame: pl.DataFrame, path: str | Path) -> None:
    """One table (or one shard's part of it) to a Parquet file, as parquet_options says."""
    table = frame.to_arrow()
    pq.write_table(table, path, row_group_size=1_000_000, **parquet_options(table.schema))


class TableWriter:
    """Appends shards of one table to a single Parquet file."""

    def __init__(self, path: Path):
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, **parquet_options(table.schema))
        elif table.schema != self.writer.schema:
            table = table.cast(self.writer.schema)
        self.writer.write_table(table, row_group_size=1_000_000)
        self.rows += frame.height

    def close(self, empty_schema: pa.Schema | None = None) -> None:
        if self.writer is None and empty_schema is not None:
            pq.write_table(empty_schema.empty_table(), self.path, compression="zstd")
        if self.writer is not None:
            self.writer.close()


class RunFolder:
    """Writes and reads the files of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def writers(self) -> dict[str, TableWriter]:
        self.path.mkdir(parents=True, exist_ok=True)
        return {t: TableWriter(self.path / f"{t}.parquet") for t in TABLES}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the manifest sealed: every file's sha256, the published head, the signature."""
        from .seal import write_sealed

        manifest = dict(manifest)
        manifest["software"] = versions()
        write_sealed(manifest, self.path)

    def manifest(self) -> dict[str, Any]:
        p = self.path / "manifest.json"
        if not p.exists():
            raise FileNotFoundError(f"{self.path}: not a run folder (no manifest.json); run `socialrating run` first")
        try:
            return json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{p}: the manifest is not valid JSON ({exc})") from None

    def table_files(self, table: str) -> list[Path]:
        """The Parquet files holding ``table``: ``<table>.parquet`` for a run of one shard,
        or, for a sharded run, the parts ``<table>/part-00000.parquet``, ... in shard order
        (shards in citizen order, so the parts read in order are the one table). Both
        present, or parts not numbered 0..K-1 without a gap, is an error: a table would be
        read twice or with a shard missing."""
        single, folder = self.path / f"{table}.parquet", self.path / table
        parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if parts and single.exists():
            raise ValueError(f"{self.path}: {table} is both {single.name} and {table}/ (parts); keep one")
        if not parts:
            return [single]
        want = [folder / part_name(i) for i in range(len(parts))]
        if parts != want:
            raise ValueError(f"{folder}: parts are not part-00000.parquet to {want[-1].name} without a gap")
        return parts

    def has(self, table: str) -> bool:
        """Whether the run holds ``table`` (as one file or as parts)."""
        return (self.path / f"{table}.parquet").exists() or (self.path / table / part_name(0)).exists()

    def scan(self, table: str) -> pl.LazyFrame:
        """``table`` as one lazy frame, parts concatenated in shard order."""
        files = self.table_files(table)
        return pl.scan_parquet(files[0] if len(files) == 1 else files)

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        """``table`` as one frame, parts concatenated in shard order."""
        files = self.table_files(table)
        return pl.read_parquet(files[0] if len(files) == 1 else files, columns=columns)

    def part_path(self, table: str, shard: int) -> Path:
        """Where shard ``shard``'s part of ``table`` goes in a sharded run (the folder is made)."""
        folder = self.path / table
        folder.mkdir(parents=True, exist_ok=True)
        return folder / part_name(shard)

    def policy_text(self) -> str:
        return (self.path / "policy.yaml").read_text(encoding="utf-8")


def part_name(shard: int) -> str:
    """A part's file name: ``part-00000.parquet`` for shard 0 (five digits: up to 100,000
    shards sort in shard order by name)."""
    if not 0 <= shard < 100_000:
        raise ValueError(f"shard number: expected 0 to 99999, got {shard}")
    return f"part-{shard:05d}.parquet"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out

