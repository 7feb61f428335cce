"""A run folder: the Parquet tables of one run plus its manifest.

Written deterministically (fixed compression, no wall-clock time in any file but
timings.json) so that the same seed, policy and software give byte-identical files.
Tables are streamed shard by shard, so memory stays bounded by the shard size.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..engine.ledger import STATES as ENGINE_STATES
from ..engine.score import CONSEQUENCE_KIND

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
PACKAGES = ("socialrating", "numpy", "polars", "pyarrow", "duckdb", "pydantic")


class TableWriter:
    """Appends shards of one table to a single Parquet file."""

    def __init__(self, path: Path):
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
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

    def scan(self, table: str) -> pl.LazyFrame:
        return pl.scan_parquet(self.path / f"{table}.parquet")

    def read(self, table: str) -> pl.DataFrame:
        return pl.read_parquet(self.path / f"{table}.parquet")

    def policy_text(self) -> str:
        return (self.path / "policy.yaml").read_text(encoding="utf-8")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out
