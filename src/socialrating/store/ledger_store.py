"""Append-only, hash-chained store for the engine's ledger (DuckDB or PostgreSQL).

Tables
------
``ledger_entries``  the engine's ledger rows, never updated in place, plus ``block_no``
                    and ``row_tag`` (the row hash's first 32 bits, to name an altered entry);
``ledger_blocks``   one row per appended block: block_no, first/last entry_id, n_rows,
                    prev_digest, digest;
``ledger_changes``  state changes (contested / overturned / upheld), append-only, each
                    carrying prev_hash and hash;
``ledger_meta``     the hash scheme's name.
An entry's current state is derived: the latest change's state, or the state the engine
wrote ("upheld" ends a contest and returns the entry to that original state).

Hash scheme ``socialrating-ledger-v1``
--------------------------------------
1. Row hash: sha256 (lower-case hex) of the entry's canonical text: the 13 ledger columns
   in `COLUMNS` order joined by ``|``, each written as ``<bytes>:<text>`` (byte length of
   the UTF-8 text, so the encoding is injective) or ``~`` for NULL; integers in decimal,
   dates as YYYY-MM-DD. The database computes it in SQL (DuckDB ``sha256``, PostgreSQL
   ``sha256(convert_to(...))``), so millions of rows need no Python loop.
2. Block digest: an append is split into blocks of up to `BLOCK_SIZE` rows in entry_id
   order; digest = sha256(prev_digest || row hashes of the block concatenated in
   entry_id order), prev_digest of block 0 being 64 zeros. The last digest is `head()`;
   record it elsewhere (e.g. the run manifest) to anchor the chain.
3. Change hash: sha256(prev_hash || "|" || canonical text of change_id, entry_id,
   new_state, actor, reason, at), chained from 64 zeros in change_id order.

`verify()` recomputes all three from the stored content and names the first thing that
no longer matches, walking blocks in order and entries in entry_id order, then changes:
``entry:<entry_id>`` (content differs from its row tag), ``block:<n>`` (the row hashes
recomputed from the content, the row count or the links of that block no longer give its
digest: rows edited, deleted or inserted), or ``change:<change_id>``.

What is stored per row (layout ``row-tag-32``). The full row hash is not stored: a block's
digest is always computed from the hashes of its rows' content, so a stored copy added
nothing to what is checked, and it cost 64 characters an entry (about a third of the store;
47 GB for a national ledger of 730M entries). A 32-bit tag (the first 8 hex digits of the
row hash, as an integer) stays, so that `verify` can still name the entry an edit touched;
an edit that keeps the tag (one in 4 billion) is still caught, as its block. The DuckDB
table has no index on entry_id either: entries are appended in entry_id order, so DuckDB's
per-row-group min/max finds an id without one, where the primary-key index took about 22
bytes an entry on disk and had to be held in memory at every append. A store written with
the earlier layout (a ``row_hash`` column) is upgraded in place when opened for writing,
and read as it is when opened read-only.

Where entries are kept (layout ``parquet-segments-v1``, DuckDB). A DuckDB store keeps its
entries not in a table but in Parquet files beside the database, one per append, each
written once and never changed: ``ledger.duckdb`` -> ``ledger.entries/000000.parquet``, ...
(the entry's 13 columns, block_no and row_tag). The database holds the chain (blocks,
changes) and ``ledger_segments`` (segment_no, file, first/last entry_id, n_rows); the
connection reads the registered segments as the view ``ledger_entries``, so every query
and `verify` are the same SQL as for a table. Why: DuckDB's table took 25.7 bytes an entry
on disk (131 MB of a 1M-people run's 508 MB), the segments 15.5 with their row tags (the
store 89 MB with its database); appending and verifying take the time they took (5.09M
entries: 10.6 s and 4.8 s, against 10.3 s and 5.1 s): hashing is the appending's cost,
not inserting. A segment is written to a temporary name, synced and renamed before it is
registered in the append's transaction: a process killed in between leaves a file that is
not registered, which nothing reads and the next append replaces. A registered segment that
is missing, unreadable or edited fails `verify` (``segment:<n>``, or the entry or block it
touched). Stores made before, with a ``ledger_entries`` table, keep it; PostgreSQL keeps a
table (its server holds the data).

Idempotence: appending an entry_id that is already stored with identical content is a
no-op (the row is skipped); the same entry_id with different content raises
`LedgerConflict` and nothing is written. Duplicate entry_ids inside one batch raise too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from ..engine.ledger import STATES as ENGINE_STATES

SCHEME = "socialrating-ledger-v1"
BLOCK_SIZE = 65_536
# DuckDB's buffer pool for the store. Its default (80% of RAM) let a national run's appends
# keep the store's pages cached: 10M people's 51M entries held about 3.3 GB more than the
# rest of the run. Bounded, appends and verify take the same memory at any size (measured
# on those 51M entries: 1.7 GB peak for the whole process, verify included).
MEMORY_LIMIT = "1GB"
CHANGE_BATCH = 100_000  # state changes hashed and inserted at a time by record_changes
VERIFY_BLOCKS = 16  # blocks whose rows verify reads at once: their ordered hashes fit in the bounded memory
#: state changes verify holds as Python rows at once: all of them at once were most of the
#: 50M run's verify (4.88M changes, 4.70 GB), and they grow with the nation
VERIFY_CHANGES = 100_000
ZERO = "0" * 64
DEFAULT_FILE = "ledger.duckdb"
LAYOUT = "row-tag-32"  # what ledger_entries stores per row besides the entry (see the module docstring)
#: a DuckDB store's entries as Parquet segments beside the database (see "Where entries are kept")
SEGMENTS_LAYOUT = "parquet-segments-v1"
SEGMENTS_SUFFIX = ".entries"  # ledger.duckdb -> ledger.entries/

#: The engine's ledger columns, in canonical (hashing) order.
SCHEMA: dict[str, pl.DataType] = {
    "entry_id": pl.Int64,
    "citizen_id": pl.Int64,
    "rule_id": pl.String,
    "event_type": pl.String,
    "category": pl.String,
    "occurred_on": pl.Date,
    "points": pl.Int16,
    "points_raw": pl.Int16,
    "expires_on": pl.Date,
    "closed_on": pl.Date,
    "source": pl.String,
    "record_id": pl.String,
    "state": pl.String,
}
COLUMNS = list(SCHEMA)
STATES = tuple(ENGINE_STATES)  # the engine's entry states
CHANGE_STATES = ("contested", "overturned", "upheld")
CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "change_id": pl.Int64,
    "entry_id": pl.Int64,
    "new_state": pl.String,
    "actor": pl.String,
    "reason": pl.String,
    "at": pl.Date,
    "prev_hash": pl.String,
    "hash": pl.String,
}

_SQL_TYPES = {pl.Int64: "BIGINT", pl.Int16: "SMALLINT", pl.String: "TEXT", pl.Date: "DATE"}


def _staged_schema(df: pl.DataFrame) -> dict[str, pl.DataType]:
    """The columns a batch is staged with: the entry's, and its block_no when it has one."""
    return {**SCHEMA, **({"block_no": pl.Int64} if "block_no" in df.columns else {})}


def _q(name: str) -> str:
    return f'"{name}"'


def _redact(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class StoreUnavailable(RuntimeError):
    """The ledger store cannot be opened or reached (server down, file locked or missing)."""


class LedgerConflict(ValueError):
    """An append would change an entry already stored, or repeats an entry_id."""


class TransitionError(ValueError):
    """A state change that the contest procedure does not allow."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    first_bad: str | None
    checked: int
    detail: str = ""


# ---------------------------------------------------------------- canonical text


def canonical_change(change_id: int, entry_id: int, new_state: str, actor: str, reason: str,
                     at: dt.date) -> str:
    def f(v: Any) -> str:
        t = v.isoformat() if isinstance(v, dt.date) else str(v)
        return f"{len(t.encode())}:{t}"

    return "|".join(f(v) for v in (change_id, entry_id, new_state, actor, reason, at))


def change_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def block_digest(prev_digest: str, row_hashes: str) -> str:
    return hashlib.sha256((prev_digest + row_hashes).encode()).hexdigest()


def block_digests(hashed: pl.DataFrame, first_block: int, prev: str) -> list[tuple[int, int, int, int, str]]:
    """(block_no, first id, last id, count, digest) of each block of BLOCK_SIZE rows of
    ``hashed`` (entry_id, row_hash: appended rows, block by block from ``first_block``),
    chained from ``prev``. The row hashes are joined once into one string and each block's
    digest is taken over its slice of it (64 hex digits a row): the same digest as
    block_digest over the block's hashes in entry order, without an aggregate per block."""
    if not hashed["entry_id"].is_sorted():
        hashed = hashed.sort("entry_id")
    hashes = hashed["row_hash"]
    if hashes.null_count() or (hashes.str.len_bytes() != 64).any():
        raise ValueError("row hashes must be 64 hex digits")
    joined = hashes.str.join("").item()  # "" for no rows
    ids = hashed["entry_id"].to_numpy()
    out = []
    for b, k in enumerate(range(0, len(ids), BLOCK_SIZE)):
        e = min(k + BLOCK_SIZE, len(ids))
        digest = block_digest(prev, joined[64 * k:64 * e])
        out.append((first_block + b, int(ids[k]), int(ids[e - 1]), e - k, digest))
        prev = digest
    return out


# ---------------------------------------------------------------- backends


class _Backend:
    """The few things that differ between DuckDB and PostgreSQL."""

    param = "?"

    def text(self, col: str, dtype: pl.DataType) -> str:
        raise NotImplementedError

    def octets(self, expr: str) -> str:
        raise NotImplementedError

    def sha_hex(self, expr: str) -> str:
        raise NotImplementedError

    def canonical_sql(self, prefix: str = "") -> str:
        """An entry's canonical text as SQL: one concat() of every field (a chain of || built each
        intermediate string: DuckDB made the 1M run's 5.1M texts in 6.6 s that way, 4.2 s so)."""
        parts = []
        for c, t in SCHEMA.items():
            txt = self.text(prefix + c, t)
            parts.append(f"CASE WHEN {prefix}{c} IS NULL THEN '~' ELSE "
                         f"concat(CAST({self.octets(txt)} AS {self.varchar}), ':', {txt}) END")
        return "concat(" + ", '|', ".join(parts) + ")"

    def row_hash_sql(self, prefix: str = "") -> str:
        return self.sha_hex(self.canonical_sql(prefix))

    def tag_sql(self, hex_hash: str) -> str:
        """The row tag of a lower-case hex row hash: its first 8 hex digits as an integer."""
        raise NotImplementedError


class _DuckDB(_Backend):
    varchar = "VARCHAR"
    entry_key = ""  # no index on entry_id: ids ascend as appended, and row groups' min/max find them

    def __init__(self, path: Path, read_only: bool = False):
        import duckdb

        self.path = path
        self.read_only = read_only
        self.depth = 0
        try:
            self.con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
        except duckdb.IOException as exc:
            raise StoreUnavailable(f"{path}: cannot open the ledger store ({str(exc).splitlines()[0]})") from None

    def text(self, col, dtype):
        if dtype == pl.Date:
            return f"strftime({col}, '%Y-%m-%d')"
        return f"CAST({col} AS VARCHAR)"

    def octets(self, expr):
        return f"strlen({expr})"

    def sha_hex(self, expr):
        return f"sha256({expr})"

    def tag_sql(self, hex_hash):
        return f"CAST(('0x' || left({hex_hash}, 8)) AS BIGINT)"

    def execute(self, sql: str, params: list | None = None) -> None:
        self.con.execute(sql, params or [])

    def fetchall(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def batches(self, sql: str, size: int) -> Iterator[list[tuple]]:
        """The query's rows, `size` at a time (the result stays in DuckDB between batches)."""
        cur = self.con.execute(sql)
        while rows := cur.fetchmany(size):
            yield rows

    def frame(self, sql: str, params: list | None, schema: dict) -> pl.DataFrame:
        rel = self.con.sql(sql, params=params or None)
        # duckdb >= 1.4 names it to_arrow_table; older versions arrow()
        tbl = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        return pl.DataFrame(pl.from_arrow(tbl)).cast(schema) if tbl.num_rows else pl.DataFrame(schema=schema)

    def load_stage(self, df: pl.DataFrame) -> None:
        self.con.register("_ledger_arrow", df.to_arrow())
        try:
            cols = ", ".join(f"CAST({c} AS {_duck_type(t)}) AS {c}" for c, t in _staged_schema(df).items())
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS SELECT {cols} FROM _ledger_arrow")
        finally:
            self.con.unregister("_ledger_arrow")

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[None]:
        if self.depth:  # inside a command's outer transaction: part of it
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self.depth = 1
        try:
            yield
        except BaseException:
            self.depth = 0
            self.con.execute("ROLLBACK")
            raise
        self.depth = 0
        self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


def _duck_type(t: pl.DataType) -> str:
    return {"TEXT": "VARCHAR"}.get(_SQL_TYPES[t], _SQL_TYPES[t])


class _Postgres(_Backend):
    varchar = "TEXT"
    entry_key = " PRIMARY KEY"  # PostgreSQL's heap keeps no min/max per page: it needs the index
    param = "%s"

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "a postgresql:// ledger needs psycopg 3: pip install 'psycopg[binary]'") from exc
        self.url = url
        self.read_only = False
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or ["no detail"])[-1]
            raise StoreUnavailable(f"cannot reach the ledger store at {_redact(url)}: {first}") from None

    def text(self, col, dtype):
        if dtype == pl.Date:
            return f"to_char({col}, 'YYYY-MM-DD')"
        return f"CAST({col} AS TEXT)"

    def octets(self, expr):
        return f"octet_length({expr})"

    def sha_hex(self, expr):
        return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"

    def tag_sql(self, hex_hash):
        return f"CAST(CAST(('x' || left({hex_hash}, 8)) AS bit(32)) AS BIGINT)"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql, params=None):
        self.con.execute(self._sql(sql), params or None)

    def fetchall(self, sql, params=None):
        return self.con.execute(self._sql(sql), params or None).fetchall()

    def batches(self, sql, size):
        """The query's rows, `size` at a time, from a server-side cursor."""
        with self.con.transaction(), self.con.cursor(name="socialrating_batches") as cur:
            cur.execute(self._sql(sql))
            while rows := cur.fetchmany(size):
                yield rows

    def frame(self, sql, params, schema):
        rows = self.fetchall(sql, params)
        return pl.DataFrame(rows, schema=schema, orient="row")

    def load_stage(self, df: pl.DataFrame) -> None:
        schema = _staged_schema(df)
        cols = ", ".join(f"{c} {_SQL_TYPES[t]}" for c, t in schema.items())
        self.con.execute("DROP TABLE IF EXISTS _stage")
        self.con.execute(f"CREATE TEMP TABLE _stage ({cols})")
        # strings always quoted, NULL as unquoted \N: empty strings and NULLs stay distinct
        buf = df.select(list(schema)).write_csv(include_header=False, null_value="\\N", quote_style="non_numeric",
                                                date_format="%Y-%m-%d")
        with self.con.cursor().copy(
            f"COPY _stage ({', '.join(schema)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        ) as cp:
            data = buf.encode()
            for i in range(0, len(data), 1 << 20):
                cp.write(data[i:i + (1 << 20)])

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[None]:
        with self.con.transaction():
            if lock:  # one writer at a time per chain, so concurrent appends cannot fork it
                self.con.execute(f"LOCK TABLE {lock} IN EXCLUSIVE MODE")
            yield

    def close(self) -> None:
        self.con.close()


# ---------------------------------------------------------------- the store


def segments_dir(db_file: str | Path) -> Path:
    """Where a DuckDB store file keeps its entry segments: ledger.duckdb -> ledger.entries/."""
    return Path(db_file).with_suffix(SEGMENTS_SUFFIX)


def remove_duckdb_store(db_file: str | Path) -> None:
    """A DuckDB store's files gone: the database, its write-ahead log and its segments."""
    import shutil

    db_file = Path(db_file)
    db_file.unlink(missing_ok=True)
    Path(f"{db_file}.wal").unlink(missing_ok=True)
    shutil.rmtree(segments_dir(db_file), ignore_errors=True)


class LedgerStore:
    """Append-only ledger with a hash chain; see the module docstring for the scheme."""

    def __init__(self, backend: _Backend, where: str, segments: bool = True):
        self._db = backend
        self.where = where
        self._tag = "row_tag"  # the stored row tag, or how to read it from an earlier layout
        #: the entries' Parquet segments (layout parquet-segments-v1), or None: a table
        self._segments: Path | None = None
        self._unreadable: str | None = None  # why the segments view could not be made
        self._create(segments and isinstance(backend, _DuckDB))

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(cls, target: str | Path, read_only: bool = False, segments: bool = True) -> "LedgerStore":
        """A run folder (-> <dir>/ledger.duckdb), a .duckdb file, or a postgresql:// URL.

        read_only (DuckDB): open without the file's write lock, so several readers (e.g.
        `verify`) can share it; nothing is created. segments: a NEW DuckDB store keeps its
        entries as Parquet segments (the default) rather than in a table; an existing
        store keeps the layout it has.
        """
        s = str(target)
        if s.startswith(("postgresql://", "postgres://")):
            return cls(_Postgres(s), s)
        path = Path(target)
        if path.suffix != ".duckdb":
            if not read_only:
                path.mkdir(parents=True, exist_ok=True)
            path = path / DEFAULT_FILE
        elif not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not path.exists():
            raise StoreUnavailable(f"{path}: no such ledger store")
        return cls(_DuckDB(path, read_only=read_only), str(path), segments=segments)

    def transaction(self):
        """One transaction around several calls (they join it): all or nothing."""
        return self._db.transaction()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "LedgerStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self, segments: bool) -> None:
        db = self._db
        if db.read_only:
            try:
                got = db.fetchall("SELECT value FROM ledger_meta WHERE key = 'scheme'")
            except Exception:  # noqa: BLE001 - duckdb raises CatalogException for a missing table
                raise StoreUnavailable(f"{self.where}: not a ledger store (no ledger_meta table)") from None
            if not got or got[0][0] != SCHEME:
                raise StoreUnavailable(f"{self.where}: not a {SCHEME} ledger store")
            if self._has_table("ledger_segments"):
                self._use_segments()
            elif "row_hash" in self._entry_columns():  # the earlier layout, read as it is
                self._tag = db.tag_sql("row_hash")
            return
        db.execute("CREATE TABLE IF NOT EXISTS ledger_blocks (block_no BIGINT PRIMARY KEY, "
                   "first_entry_id BIGINT NOT NULL, last_entry_id BIGINT NOT NULL, "
                   "n_rows BIGINT NOT NULL, prev_digest TEXT NOT NULL, digest TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS ledger_changes (change_id BIGINT PRIMARY KEY, "
                   "entry_id BIGINT NOT NULL, new_state TEXT NOT NULL, actor TEXT NOT NULL, "
                   "reason TEXT NOT NULL, \"at\" DATE NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        got = db.fetchall("SELECT value FROM ledger_meta WHERE key = 'scheme'")
        if not got:
            db.execute("INSERT INTO ledger_meta VALUES ('scheme', ?)", [SCHEME])
        elif got[0][0] != SCHEME:
            raise ValueError(f"{self.where}: ledger uses hash scheme {got[0][0]}, this code {SCHEME}")
        if self._has_table("ledger_segments") or (segments and not self._has_table("ledger_entries")):
            db.execute("CREATE TABLE IF NOT EXISTS ledger_segments (segment_no BIGINT PRIMARY KEY, "
                       "file TEXT NOT NULL, first_entry_id BIGINT NOT NULL, last_entry_id BIGINT NOT NULL, "
                       "n_rows BIGINT NOT NULL)")
            if not db.fetchall("SELECT value FROM ledger_meta WHERE key = 'layout'"):
                db.execute("INSERT INTO ledger_meta VALUES ('layout', ?)", [SEGMENTS_LAYOUT])
            self._use_segments()
            return
        old = "row_hash" in self._entry_columns()
        db.execute(self._entries_ddl("_ledger_entries_new" if old else "ledger_entries"))
        if old:
            self._upgrade()
        if not db.fetchall("SELECT value FROM ledger_meta WHERE key = 'layout'"):
            db.execute("INSERT INTO ledger_meta VALUES ('layout', ?)", [LAYOUT])

    def _has_table(self, name: str) -> bool:
        return bool(self._db.fetchall(
            "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_type = 'BASE TABLE'", [name]))

    def _use_segments(self) -> None:
        self._segments = segments_dir(Path(self._db.path).resolve())  # the view's paths hold if the cwd changes
        # segments' footers read once per connection, not at every query over them
        self._db.execute("SET enable_object_cache = true")
        self._entries_view()

    def _segment_files(self) -> list[tuple[int, str, int, int, int]]:
        """(segment_no, file, first, last, n_rows) of the registered segments, in order."""
        return self._db.fetchall("SELECT segment_no, file, first_entry_id, last_entry_id, n_rows "
                                 "FROM ledger_segments ORDER BY segment_no")

    def _entries_view(self) -> None:
        """``ledger_entries`` over the registered segments that are there (verify names the
        ones that are not); typed and empty when there are none."""
        db = self._db
        cols = [*SCHEMA.items(), ("block_no", pl.Int64), ("row_tag", pl.Int64)]
        files = [str(self._segments / f) for _, f, *_ in self._segment_files() if (self._segments / f).is_file()]
        empty = "SELECT " + ", ".join(f"CAST(NULL AS {_duck_type(t)}) AS {c}" for c, t in cols) + " WHERE false"
        sql = empty
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            sql = (f"SELECT {', '.join(f'CAST({c} AS {_duck_type(t)}) AS {c}' for c, t in cols)} "
                   f"FROM read_parquet([{listed}])")
        self._unreadable = None
        try:
            db.execute(f"CREATE OR REPLACE TEMP VIEW ledger_entries AS {sql}")
        except Exception as exc:  # noqa: BLE001 - duckdb's IOException / InvalidInputException on a bad file
            self._unreadable = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            db.execute(f"CREATE OR REPLACE TEMP VIEW ledger_entries AS {empty}")

    def _write_segment(self, staged: pl.DataFrame, row_hashes: pl.Series) -> None:
        """The batch (``staged``: the entries and block_no, in entry_id order) as the next
        segment, with each row's tag from its hash (``row_hashes``, the same order; the tag
        is tag_sql's: the hash's first 8 hex digits), registered inside the append's
        transaction. Written whole under a temporary name, synced, then renamed."""
        import os

        import pyarrow.parquet as pq

        from .runfolder import parquet_options

        db = self._db
        table = staged.with_columns(block_no=pl.col("block_no").cast(pl.Int64),
                                    row_tag=row_hashes.str.slice(0, 8).str.to_integer(base=16)).to_arrow()
        tip = db.fetchall("SELECT max(segment_no) FROM ledger_segments")[0][0]
        no = 0 if tip is None else int(tip) + 1
        name = f"{no:06d}.parquet"
        self._segments.mkdir(parents=True, exist_ok=True)
        tmp = self._segments / f".{name}.{os.getpid()}.tmp"
        pq.write_table(table, tmp, row_group_size=BLOCK_SIZE, **parquet_options(table.schema))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self._segments / name)
        dir_fd = os.open(self._segments, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        ids = table.column("entry_id")
        db.execute("INSERT INTO ledger_segments VALUES (?, ?, ?, ?, ?)",
                   [no, name, ids[0].as_py(), ids[-1].as_py(), table.num_rows])
        self._entries_view()

    def _entries_ddl(self, table: str) -> str:
        cols = ", ".join(f"{c} {_SQL_TYPES[t]}" + (self._db.entry_key if c == "entry_id" else "")
                         for c, t in SCHEMA.items())
        return f"CREATE TABLE IF NOT EXISTS {table} ({cols}, block_no BIGINT NOT NULL, row_tag BIGINT NOT NULL)"

    def _entry_columns(self) -> set[str]:
        return {r[0] for r in self._db.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger_entries'")}

    def _upgrade(self) -> None:
        """An earlier layout's entries (full row hashes) rewritten with row tags, in one
        transaction; the hashes and digests are unchanged, as they come from the content."""
        db = self._db
        with db.transaction(lock="ledger_blocks"):
            db.execute(f"INSERT INTO _ledger_entries_new SELECT {', '.join(COLUMNS)}, block_no, "
                       f"{db.tag_sql('row_hash')} FROM ledger_entries ORDER BY entry_id")
            db.execute("DROP TABLE ledger_entries")
            db.execute("ALTER TABLE _ledger_entries_new RENAME TO ledger_entries")

    # -- writing -----------------------------------------------------------

    def append_entries(self, ledger: pl.DataFrame) -> int:
        """Append the engine's ledger in bulk; returns the number of rows newly stored.

        Rows whose entry_id is already stored with the same content are skipped; a stored
        entry_id with different content raises LedgerConflict and nothing is written.
        """
        missing = [c for c in COLUMNS if c not in ledger.columns]
        if missing:
            raise ValueError(f"ledger lacks column(s) {missing}; expected {COLUMNS}")
        df = ledger.select(COLUMNS).cast(SCHEMA, strict=True)
        if df.is_empty():
            return 0
        if df["entry_id"].null_count():
            raise ValueError("entry_id must not be null")
        dup = df.filter(pl.col("entry_id").is_duplicated())["entry_id"].unique().sort()
        if len(dup):
            raise LedgerConflict(f"entry_id repeated within the batch: {dup.head(5).to_list()}")
        bad = df.filter(~pl.col("state").is_in(STATES) | pl.col("state").is_null())
        if len(bad):
            raise ValueError(f"unknown state {bad['state'][0]!r} for entry {bad['entry_id'][0]}; "
                             f"expected one of {STATES}")
        db = self._db
        df = df.sort("entry_id")
        with db.transaction(lock="ledger_blocks"):
            df = self._not_stored(df)
            if df.is_empty():
                return 0
            last = db.fetchall("SELECT block_no, digest FROM ledger_blocks ORDER BY block_no DESC LIMIT 1")
            next_block, prev = (last[0][0] + 1, last[0][1]) if last else (0, ZERO)
            # block numbers by position in the sorted batch (a window in SQL sorted it again:
            # a quarter of the 1M run's appending); each row hashed once, in the stage
            staged = df.with_columns(block_no=next_block + pl.int_range(pl.len()) // BLOCK_SIZE)
            db.load_stage(staged)
            db.execute("DROP TABLE IF EXISTS _staged")
            db.execute(f"CREATE TEMP TABLE _staged AS SELECT *, {db.row_hash_sql()} AS row_hash FROM _stage")
            db.execute("DROP TABLE _stage")
            hashed = db.frame("SELECT entry_id, row_hash FROM _staged", None,
                              {"entry_id": pl.Int64, "row_hash": pl.String}).sort("entry_id")
            if self._segments is not None:  # the batch is here already: written from it, not read back
                self._write_segment(staged, hashed["row_hash"])
            else:
                db.execute(f"INSERT INTO ledger_entries SELECT {', '.join(COLUMNS)}, block_no, "
                           f"{db.tag_sql('row_hash')} FROM _staged ORDER BY entry_id")
            db.execute("DROP TABLE _staged")
            for block_no, first, last_id, count, digest in block_digests(hashed, next_block, prev):
                db.execute("INSERT INTO ledger_blocks VALUES (?, ?, ?, ?, ?, ?)",
                           [block_no, first, last_id, count, prev, digest])
                prev = digest
        return df.height

    def _not_stored(self, df: pl.DataFrame) -> pl.DataFrame:
        """The batch's rows whose entry_id is not stored yet; LedgerConflict if a stored one
        has other content. Stored ids are looked for in the batch's range only: without an
        index, the row groups' min/max skip the rest of the ledger (appends ascend)."""
        db = self._db
        lo, hi = (int(v) for v in (df["entry_id"].min(), df["entry_id"].max()))
        if self._segments is not None and not db.fetchall(
                f"SELECT 1 FROM ledger_segments WHERE last_entry_id >= {lo} AND first_entry_id <= {hi} LIMIT 1"):
            return df  # no segment's range meets the batch's: nothing of it is stored
        stored = db.frame(f"SELECT entry_id FROM ledger_entries WHERE entry_id BETWEEN {lo} AND {hi}", None,
                          {"entry_id": pl.Int64})["entry_id"]
        if stored.is_empty():
            return df
        again = pl.col("entry_id").is_in(stored.implode())
        db.load_stage(df.filter(again))
        try:
            clash = db.fetchall(
                f"SELECT s.entry_id FROM _stage s JOIN ledger_entries e ON e.entry_id = s.entry_id "
                f"WHERE {db.row_hash_sql('e.')} <> {db.row_hash_sql('s.')} ORDER BY s.entry_id LIMIT 5")
        finally:
            db.execute("DROP TABLE _stage")
        if clash:
            raise LedgerConflict(
                f"entry_id(s) {[r[0] for r in clash]} are already stored with different content; "
                "the ledger is append-only (record a change instead)")
        return df.filter(~again)

    def record_change(self, entry_id: int, new_state: str, actor: str, reason: str,
                      at: dt.date) -> int:
        """Append a state change; returns its change_id.

        Allowed: contested (from a state other than contested/overturned), then
        overturned or upheld (only while contested). Overturned is final.
        """
        if new_state not in CHANGE_STATES:
            raise TransitionError(f"new_state must be one of {CHANGE_STATES}, got {new_state!r}")
        if not actor or not reason:
            raise ValueError("a change needs an actor and a reason")
        db = self._db
        with db.transaction(lock="ledger_changes"):
            row = db.fetchall("SELECT state FROM ledger_entries WHERE entry_id = ?", [entry_id])
            if not row:
                raise KeyError(f"no entry {entry_id} in the ledger")
            last = db.fetchall("SELECT new_state, \"at\" FROM ledger_changes WHERE entry_id = ? "
                               "ORDER BY change_id DESC LIMIT 1", [entry_id])
            current = row[0][0] if not last or last[0][0] == "upheld" else last[0][0]
            if last and at < last[0][1]:
                raise TransitionError(f"entry {entry_id}: change dated {at} precedes the last one ({last[0][1]})")
            if new_state == "contested" and current in ("contested", "overturned"):
                raise TransitionError(f"entry {entry_id} is {current}; it cannot be contested again")
            if new_state in ("overturned", "upheld") and current != "contested":
                raise TransitionError(f"entry {entry_id} is {current}; only a contested entry can be {new_state}")
            tip = db.fetchall("SELECT change_id, hash FROM ledger_changes ORDER BY change_id DESC LIMIT 1")
            change_id, prev = (tip[0][0] + 1, tip[0][1]) if tip else (1, ZERO)
            h = change_hash(prev, canonical_change(change_id, entry_id, new_state, actor, reason, at))
            db.execute("INSERT INTO ledger_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [change_id, entry_id, new_state, actor, reason, at, prev, h])
        return int(change_id)

    def record_changes(self, changes: pl.DataFrame) -> int:
        """Append many state changes at once (e.g. a simulation's appeals); returns how many.

        `changes`: entry_id, new_state, actor, reason, at (Date), in the order they
        happened. Each entry must have no earlier change in the store, and its changes in
        the batch must follow the same transitions as `record_change` (contested, then
        overturned or upheld, dates not going backwards); otherwise nothing is written.
        The chain is the same as for single changes: one hash per change, in order.
        """
        if not changes.height:
            return 0
        ch = changes.select("entry_id", "new_state", "actor", "reason", "at").with_row_index("_i")
        bad = ch.filter(~pl.col("new_state").is_in(list(CHANGE_STATES)))
        if bad.height:
            raise TransitionError(f"new_state must be one of {CHANGE_STATES}, got {bad['new_state'][0]!r}")
        seq = ch.sort("entry_id", "_i").with_columns(
            prev=pl.col("new_state").shift(1).over("entry_id"), prev_at=pl.col("at").shift(1).over("entry_id"))
        wrong = seq.filter(
            (pl.col("prev").is_null() & (pl.col("new_state") != "contested"))
            | (pl.col("prev").is_not_null() & ((pl.col("prev") != "contested") | (pl.col("new_state") == "contested")))
            | (pl.col("at") < pl.col("prev_at")))
        if wrong.height:
            raise TransitionError(f"entry {wrong['entry_id'][0]}: invalid transition in the batch")
        del seq, wrong
        db = self._db
        n = 0
        with db.transaction(lock="ledger_changes"):
            missing, prior = self._unknown_and_changed(ch["entry_id"].unique().sort())
            if missing is not None:
                raise KeyError(f"no entry {missing} in the ledger")
            if prior:
                raise TransitionError("some entries already have changes; use record_change for those")
            tip = db.fetchall("SELECT change_id, hash FROM ledger_changes ORDER BY change_id DESC LIMIT 1")
            change_id, prev = (tip[0][0] + 1, tip[0][1]) if tip else (1, ZERO)
            # the chain is one hash after the other, in Python; CHANGE_BATCH changes at a time,
            # so a national run's millions of appeals never sit in memory as Python rows
            for at in range(0, ch.height, CHANGE_BATCH):
                rows = []
                for e, st, actor, reason, day in ch.slice(at, CHANGE_BATCH).select(
                        "entry_id", "new_state", "actor", "reason", "at").iter_rows():
                    h = change_hash(prev, canonical_change(change_id, e, st, actor, reason, day))
                    rows.append((change_id, e, st, actor, reason, day, prev, h))
                    prev = h
                    change_id += 1
                self._insert_changes(rows)
                n += len(rows)
        return n

    def _unknown_and_changed(self, ids: pl.Series) -> tuple[int | None, int]:
        """The smallest of ``ids`` (ascending) not in the ledger, or None; and how many
        changes the store already has for them. DuckDB joins them as a table; PostgreSQL
        takes them CHANGE_BATCH at a time as arrays."""
        db = self._db
        if isinstance(db, _DuckDB):
            db.con.register("_change_ids", ids.to_frame("entry_id").to_arrow())
            try:
                missing = db.fetchall("SELECT min(i.entry_id) FROM _change_ids i LEFT JOIN ledger_entries e "
                                      "ON e.entry_id = i.entry_id WHERE e.entry_id IS NULL")[0][0]
                prior = db.fetchall("SELECT count(*) FROM ledger_changes WHERE entry_id IN "
                                    "(SELECT entry_id FROM _change_ids)")[0][0]
            finally:
                db.con.unregister("_change_ids")
            return (None if missing is None else int(missing)), int(prior)
        missing, prior = None, 0
        for at in range(0, len(ids), CHANGE_BATCH):
            part = ids.slice(at, CHANGE_BATCH).to_list()
            known = {r[0] for r in db.fetchall("SELECT entry_id FROM ledger_entries WHERE entry_id = ANY(?)", [part])}
            if missing is None and len(known) < len(part):
                missing = min(set(part) - known)
            prior += db.fetchall("SELECT count(*) FROM ledger_changes WHERE entry_id = ANY(?)", [part])[0][0]
        return missing, int(prior)

    def _insert_changes(self, rows: list[tuple]) -> None:
        db = self._db
        if isinstance(db, _DuckDB):
            db.con.register("_changes_arrow", pl.DataFrame(rows, schema=CHANGE_SCHEMA, orient="row").to_arrow())
            try:
                db.con.execute("INSERT INTO ledger_changes SELECT * FROM _changes_arrow")
            finally:
                db.con.unregister("_changes_arrow")
        else:
            with db.con.cursor() as cur:
                cur.executemany("INSERT INTO ledger_changes VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)

    # -- reading -----------------------------------------------------------

    def entries(self, citizen_id: int | None = None) -> pl.DataFrame:
        """Stored entries as the engine wrote them (original state), in entry_id order."""
        where, params = ("WHERE citizen_id = ?", [citizen_id]) if citizen_id is not None else ("", [])
        return self._db.frame(f"SELECT {', '.join(COLUMNS)} FROM ledger_entries {where} ORDER BY entry_id",
                              params, SCHEMA)

    def changes(self, entry_id: int | None = None) -> pl.DataFrame:
        where, params = ("WHERE entry_id = ?", [entry_id]) if entry_id is not None else ("", [])
        return self._db.frame(f"SELECT {', '.join(_q(c) for c in CHANGE_SCHEMA)} FROM ledger_changes {where} "
                              "ORDER BY change_id", params, CHANGE_SCHEMA)

    def current_states(self) -> pl.DataFrame:
        """(entry_id, state) for entries whose derived state differs from the original."""
        sql = (
            "SELECT e.entry_id, CASE WHEN c.new_state = 'upheld' THEN e.state ELSE c.new_state END AS state "
            "FROM ledger_entries e JOIN (SELECT entry_id, new_state, row_number() OVER "
            "(PARTITION BY entry_id ORDER BY change_id DESC) AS rn FROM ledger_changes) c "
            "ON c.entry_id = e.entry_id AND c.rn = 1 "
            "WHERE (CASE WHEN c.new_state = 'upheld' THEN e.state ELSE c.new_state END) <> e.state "
            "ORDER BY e.entry_id")
        return self._db.frame(sql, [], {"entry_id": pl.Int64, "state": pl.String})

    def head(self) -> str:
        """The last block digest (64 zeros for an empty ledger): anchor it elsewhere."""
        got = self._db.fetchall("SELECT digest FROM ledger_blocks ORDER BY block_no DESC LIMIT 1")
        return got[0][0] if got else ZERO

    def state(self) -> dict[str, Any]:
        """Where the chain stands: its two heads and sizes (what a command's plan expects)."""
        tip = self._db.fetchall("SELECT change_id, hash FROM ledger_changes ORDER BY change_id DESC LIMIT 1")
        return {"ledger_head": self.head(), "entries": len(self),
                "changes": int(tip[0][0]) if tip else 0, "change_head": tip[0][1] if tip else ZERO}

    def block_digests(self) -> list[str]:
        return [r[0] for r in self._db.fetchall("SELECT digest FROM ledger_blocks ORDER BY block_no")]

    def entry_points(self, entry_ids: list[int]) -> dict[int, int]:
        """points of the given stored entries (ids not stored are left out)."""
        if not entry_ids:
            return {}
        ids = ", ".join(str(int(e)) for e in entry_ids)
        return {int(e): int(p) for e, p in self._db.fetchall(
            f"SELECT entry_id, points FROM ledger_entries WHERE entry_id IN ({ids})")}

    def __len__(self) -> int:
        return int(self._db.fetchall("SELECT count(*) FROM ledger_entries")[0][0])

    # -- verifying ---------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Recompute every row hash, block digest and change hash; name the first mismatch."""
        if self._segments is not None:
            bad = self._segments_missing()
            if bad:
                return bad
            try:
                return self._verify()
            except Exception as exc:  # noqa: BLE001 - a segment DuckDB cannot read (e.g. overwritten)
                import duckdb

                if not isinstance(exc, duckdb.Error):
                    raise
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                return VerifyResult(False, "segments", 0, f"a segment of {self._segments} cannot be read: {first}")
        return self._verify()

    def _segments_missing(self) -> VerifyResult | None:
        """The first registered segment that is gone or unreadable, as a failed result."""
        for no, name, first, last, _n in self._segment_files():
            if not (self._segments / name).is_file():
                return VerifyResult(False, f"segment:{no}", 0,
                                    f"segment {no} ({self._segments / name}, entries {first}-{last}) is missing")
        if self._unreadable:
            return VerifyResult(False, "segments", 0, f"the segments of {self._segments} cannot be read: "
                                f"{self._unreadable}")
        return None

    def _verify(self) -> VerifyResult:
        db = self._db
        blocks = db.fetchall("SELECT block_no, first_entry_id, last_entry_id, n_rows, prev_digest, digest "
                             "FROM ledger_blocks ORDER BY block_no")
        checked = 0
        prev = ZERO
        for i, (block_no, first, last, n_rows, prev_digest, digest) in enumerate(blocks):
            if i % VERIFY_BLOCKS == 0:  # the next blocks' rows, a few at a time: memory does not grow with the ledger
                aggs = {r[0]: r[1:] for r in db.fetchall(
                    "SELECT block_no, min(entry_id), max(entry_id), count(*), string_agg(h, '' ORDER BY entry_id), "
                    f"min(CASE WHEN t <> {db.tag_sql('h')} THEN entry_id END) FROM ("
                    f"SELECT block_no, entry_id, {self._tag} AS t, {db.row_hash_sql()} AS h FROM ledger_entries "
                    "WHERE block_no >= ? AND block_no <= ?) r GROUP BY block_no",
                    [block_no, blocks[min(i + VERIFY_BLOCKS, len(blocks)) - 1][0]])}
            got = aggs.pop(block_no, None)
            if got is not None and got[4] is not None:
                return VerifyResult(False, f"entry:{got[4]}", checked,
                                    f"entry {got[4]} no longer matches its row hash")
            why = None
            if block_no != i:
                why = f"block numbers jump to {block_no} after {i - 1}"
            elif prev_digest != prev:
                why = "its prev_digest does not link to the previous block"
            elif got is None or tuple(got[:3]) != (first, last, n_rows):
                why = "rows were deleted or inserted"
            elif block_digest(prev, got[3]) != digest:
                why = "its rows' hashes no longer give the stored digest"
            if why:
                return VerifyResult(False, f"block:{block_no}", checked,
                                    f"block {block_no} (entries {first}-{last}): {why}")
            checked += n_rows
            prev = digest
        stray = db.fetchall("SELECT min(block_no) FROM ledger_entries "
                            "WHERE block_no NOT IN (SELECT block_no FROM ledger_blocks)")
        if stray and stray[0][0] is not None:
            b = stray[0][0]
            return VerifyResult(False, f"block:{b}", checked, f"entries in block {b}, which is not in the chain")
        prev = ZERO
        for batch in db.batches("SELECT change_id, entry_id, new_state, actor, reason, \"at\", prev_hash, hash "
                                "FROM ledger_changes ORDER BY change_id", VERIFY_CHANGES):
            for change_id, entry_id, new_state, actor, reason, at, prev_hash, h in batch:
                expect = change_hash(prev, canonical_change(change_id, entry_id, new_state, actor, reason, at))
                if prev_hash != prev or h != expect:
                    return VerifyResult(False, f"change:{change_id}", checked,
                                        f"change {change_id} (entry {entry_id}) no longer matches its hash")
                checked += 1
                prev = h
        return VerifyResult(True, None, checked)
