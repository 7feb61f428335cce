"""A compact national register index: link records against everybody without the whole register.

The register of :mod:`.register` holds names as strings for every citizen: at 146M people it
does not fit in memory, yet a shard of people must still be linked against the whole nation
(two namesakes in different regions are candidates, as in life). Linkage needs only three
things from the register, and this index keeps each in its narrowest form:

* **Strong identifiers** (SNILS, INN, passport, phone): per key, the register's values as
  sorted int64 with the citizen id of each (int32 while ids fit). An exact join becomes two
  binary searches; a value held by several people is seen as such (``n`` > 1), as the
  whole-register join sees it.
* **Blocking keys** of the probabilistic step: for each distinct register-side key of the
  Splink blocking rules (for example birth date + surname), a 32-bit hash of the key's
  values (computed by DuckDB, with the rule's own SQL expressions) and the citizen id, sorted.
  A record's candidates are the people whose hash equals the record's: a superset of the
  pairs the rule makes (a hash collision only adds a row that Splink then rejects), so the
  Splink run over these rows gives exactly the pairs of a run over the whole register.
  Rules are read in both orientations (a rule ``l.surname = r.given_name`` also reads as
  ``l.given_name = r.surname``), so the result does not depend on which side Splink puts
  the records.
* **The rows to score**: citizen id, sex, birth date and the name *codes* of the population
  (a code is 2-4 bytes where the string is tens), decoded into normalised strings by
  :func:`.register.build_register` only for the candidates of one call.

It also keeps the number of register rows Splink would score (surname and birth date
filled): the prior ``probability_two_random_records_match`` is 1 / that number, the national
one, whatever the candidates. The model has no term-frequency adjustments (those would
depend on the register's content); an index refuses settings that ask for them.

Build it incrementally from population parts (``RegisterIndexBuilder.add`` per part, in
citizen order, then ``finish``): the index is the same whatever the part sizes.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb
import numba as nb
import numpy as np
import polars as pl

from .linkage_settings import resolve_settings
from .register import IDENTIFIER_COLUMNS, NAME_COLUMNS, build_register

__all__ = ["RegisterIndex", "RegisterIndexBuilder", "build_register_index", "blocking_keys"]

_ROW_COLUMNS = ("citizen_id", "female", "birth_date", *NAME_COLUMNS)
_HASH_MASK = np.uint64(0xFFFFFFFF)
_LOW_HALF, _HIGH_HALF = (0, 1) if sys.byteorder == "little" else (1, 0)  # of a uint64 seen as two uint32


# ---------------------------------------------------------------------------------------------
# blocking rules as equi-join keys


@dataclass(frozen=True)
class BlockingKey:
    """One orientation of one blocking rule: the record side's SQL expressions and the
    register side's, pairwise equal (``record[i] = register[i]``)."""

    record: tuple[str, ...]
    register: tuple[str, ...]


_SIDE = re.compile(r"\b([lr])\.")


def _rule_text(rule: Any) -> str:
    return rule["blocking_rule"] if isinstance(rule, Mapping) else str(rule)


def _conjuncts(rule: str) -> list[tuple[str, str]]:
    """``l.a = r.b AND ...`` -> [(l-side expression, r-side expression)] with the l./r.
    prefixes dropped; a clear error for anything that is not such a conjunction."""
    out = []
    if re.search(r"\bOR\b", rule, flags=re.IGNORECASE):
        raise ValueError(f"blocking rule {rule!r} has OR; the register index needs equalities joined by AND")
    for part in re.split(r"\s+AND\s+", rule.strip(), flags=re.IGNORECASE):
        sides = re.split(r"(?<![<>!=])=(?!=)", part)
        if len(sides) != 2:
            raise ValueError(f"blocking rule {rule!r}: {part!r} is not one equality")
        found = [set(_SIDE.findall(s)) for s in sides]
        if found == [{"r"}, {"l"}]:
            sides, found = sides[::-1], found[::-1]
        if found != [{"l"}, {"r"}]:
            raise ValueError(f"blocking rule {rule!r}: {part!r} does not compare an l. expression with an r. one")
        out.append((_SIDE.sub("", sides[0]).strip(), _SIDE.sub("", sides[1]).strip()))
    return out


def blocking_keys(splink_model: Mapping[str, Any]) -> tuple[BlockingKey, ...]:
    """Both orientations of every blocking rule of ``splink_model``, without repeats."""
    keys: list[BlockingKey] = []
    for rule in splink_model.get("blocking_rules_to_generate_predictions", []):
        pairs = _conjuncts(_rule_text(rule))
        for k in (BlockingKey(tuple(a for a, _ in pairs), tuple(b for _, b in pairs)),
                  BlockingKey(tuple(b for _, b in pairs), tuple(a for a, _ in pairs))):
            if k not in keys:
                keys.append(k)
    return tuple(keys)


def _uses_term_frequencies(splink_model: Mapping[str, Any]) -> bool:
    return any(lv.get("tf_adjustment_column") or lv.get("term_frequency_adjustments")
               for c in splink_model.get("comparisons", []) for lv in c.get("comparison_levels", []))


def _key_hashes(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, exprs: tuple[str, ...],
                id_col: str) -> tuple[np.ndarray, np.ndarray]:
    """(low 32 bits of DuckDB's hash of the expressions, ids) over the rows where every
    expression is non-null (SQL equality never holds on a null, so such rows block nowhere)."""
    con.register("__frame", frame.to_arrow())
    try:
        nonnull = " AND ".join(f"({e}) IS NOT NULL" for e in exprs)
        got = con.sql(f"SELECT hash({', '.join(exprs)}) AS h, {id_col} AS id FROM __frame WHERE {nonnull}").fetchnumpy()
    finally:
        con.unregister("__frame")
    return (np.asarray(got["h"], dtype=np.uint64) & _HASH_MASK).astype(np.uint32), np.asarray(got["id"], dtype=np.int64)


def _narrowest_uint(bits: int) -> type:
    return next(t for t, b in ((np.uint8, 8), (np.uint16, 16), (np.uint32, 32), (np.uint64, 64)) if bits <= b)


def _bound(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, right: bool) -> np.ndarray:
    """Binary search of each ``x[i]`` in the sorted segment ``arr[lo[i]:hi[i]]``: the first
    position with a value > x if ``right``, else >= x (``lo[i]`` for an empty segment)."""
    out = np.empty(len(lo), np.int64)
    _bound_kernel(arr, lo.astype(np.int64), hi.astype(np.int64), x, right, out)
    return out


@nb.njit(nogil=True, cache=True)
def _bound_kernel(arr, lo, hi, x, right, out):
    """One search per probe, compiled: a bucket holds about four keys, so the searches are
    short and were dominated by numpy's per-pass fancy indexing (a tenth of the linkage)."""
    for i in range(lo.shape[0]):
        a, b, xi = lo[i], hi[i], x[i]
        while a < b:
            mid = (a + b) >> 1
            v = arr[mid]
            if v < xi or (right and v == xi):
                a = mid + 1
            else:
                b = mid
        out[i] = a


@dataclass
class SortedKeys:
    """Sorted integer keys, each with a citizen id, the keys' high bits kept implicitly.

    Keys (minus the smallest, ``base``) are cut into a bucket (high bits) and a remainder
    (low ``shift`` bits). Only the remainder is stored, in the narrowest unsigned type,
    with ``offsets[b]`` the position of bucket ``b``'s first key; about four keys a bucket.
    A 40-bit INN in a register of 146M people is then stored in 2 bytes (+ 4 for the id
    and under 1 for the offsets) instead of 8. ``drop``: low bits cut off every key and
    probe first (for hashes only, where a coarser key merely adds candidates).
    """

    base: int
    shift: int
    offsets: np.ndarray
    low: np.ndarray
    ids: np.ndarray
    drop: int = 0

    @classmethod
    def build(cls, keys: np.ndarray, ids: np.ndarray, *, drop: int = 0) -> "SortedKeys":
        """From keys sorted ascending (int64 or uint) and their ids."""
        if drop:
            keys = keys >> keys.dtype.type(drop)
        n = keys.size
        base = int(keys[0]) if n else 0
        # step by step, freeing as it goes: at 146M people each temporary is a gigabyte
        rel = keys.astype(np.int64) if keys.dtype.kind == "i" else keys.astype(np.uint64)
        del keys
        rel -= rel.dtype.type(base)
        rel = rel.view(np.uint64) if rel.dtype.kind == "i" else rel
        bits = max(int(rel[-1]).bit_length() if n else 0, 1)
        bucket_bits = min(bits, max(0, (n // 4).bit_length() - 1))
        shift = bits - bucket_bits
        # bucket b starts at the first key >= b << shift: searched in the keys themselves, not
        # in an array of their buckets (a gigabyte more at the build's peak); the end is n, as
        # every key lies below 1 << bits (which would not fit in 64 bits when bits is 64)
        starts = np.arange(1 << bucket_bits, dtype=np.uint64) << np.uint64(shift)
        offsets = np.append(np.searchsorted(rel, starts), n)
        del starts
        offsets = offsets.astype(np.uint32 if n < 2**32 else np.int64)
        np.bitwise_and(rel, np.uint64((1 << shift) - 1), out=rel)
        low = rel.astype(_narrowest_uint(shift))
        del rel
        return cls(base, shift, offsets, low, _narrow_ids(ids), drop)

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + self.low.nbytes + self.ids.nbytes

    def ranges(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): positions of the keys equal to each probe (lo == hi: absent)."""
        lo = np.zeros(probes.size, dtype=np.int64)
        hi = np.zeros(probes.size, dtype=np.int64)
        if not self.ids.size:
            return lo, hi
        p = probes.astype(np.int64) if probes.dtype.kind == "i" else probes.astype(np.uint64)
        if self.drop:
            p = p >> p.dtype.type(self.drop)
        inside = p >= self.base
        rel = np.zeros(p.size, dtype=np.uint64)
        rel[inside] = (p[inside] - p.dtype.type(self.base)).astype(np.uint64)
        bucket = rel >> np.uint64(self.shift)
        inside &= bucket < self.offsets.size - 1
        i = np.flatnonzero(inside)
        b = bucket[i].astype(np.int64)
        x = rel[i] & np.uint64((1 << self.shift) - 1)
        lo[i] = _bound(self.low, self.offsets[b], self.offsets[b + 1], x, right=False)
        hi[i] = _bound(self.low, lo[i], self.offsets[b + 1], x, right=True)
        return lo, hi


def _expand(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of arange(lo[i], hi[i]) for all i, without a Python loop."""
    n = hi - lo
    keep = n > 0
    lo, n = lo[keep], n[keep]
    if not n.size:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n)
    return starts + np.arange(int(n.sum()), dtype=np.int64)


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is several times slower on these)."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _narrow_ids(ids: np.ndarray) -> np.ndarray:
    if ids.size == 0 or (ids.min() >= np.iinfo(np.int32).min and ids.max() <= np.iinfo(np.int32).max):
        return ids.astype(np.int32)
    return ids.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the index


@dataclass
class RegisterIndex:
    """What linkage needs of the national register (see the module docstring).

    ``identifiers[key]``: the register's values of ``key``, sorted by (value, id).
    ``blocks[i]``: the uint32 hashes of the i-th register-side blocking key, sorted by
    (hash, id).
    ``rows``: one row per person: citizen_id, female, birth_date and the name columns as
    the population holds them (codes, or strings). ``n_people``: register rows;
    ``n_scoreable``: rows with surname and birth date (the prior's denominator).
    ``tuples_per_run``: how many distinct name tuples one Splink run scores.
    """

    keys: tuple[BlockingKey, ...]
    identifiers: dict[str, SortedKeys]
    blocks: list[SortedKeys]
    rows: pl.DataFrame
    n_people: int
    n_scoreable: int
    _register_side: list[tuple[str, ...]] = field(default_factory=list)
    #: name tuples scored per Splink run (the result does not depend on it; memory does)
    tuples_per_run: int = 50_000
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- sizes --------------------------------------------------------------------------------
    def nbytes(self) -> dict[str, int]:
        """Bytes held, by part."""
        ident = sum(k.nbytes for k in self.identifiers.values())
        blocks = sum(k.nbytes for k in self.blocks)
        return {"identifiers": ident, "blocking": blocks, "rows": int(self.rows.estimated_size()),
                "total": ident + blocks + int(self.rows.estimated_size())}

    def bytes_per_person(self) -> float:
        return self.nbytes()["total"] / max(self.n_people, 1)

    # -- deterministic step ---------------------------------------------------------------------
    def lookup(self, key: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For int64 ``values``: (found mask, smallest citizen id holding the value, number
        of people holding it) — what a join on the register's ``key`` column gives."""
        keys = self.identifiers[key]
        lo, hi = keys.ranges(values)
        found = hi > lo
        cid = np.zeros(values.size, dtype=np.int64)
        cid[found] = keys.ids[lo[found]]  # ids are sorted within a value: the first is the smallest
        return found, cid, (hi - lo).astype(np.uint32)

    # -- probabilistic step ---------------------------------------------------------------------
    def check_settings(self, splink_model: Mapping[str, Any]) -> None:
        """A clear error when the Splink model blocks on other keys than the index was built
        for, or weighs by term frequencies (which the index does not hold)."""
        if blocking_keys(splink_model) != self.keys:
            raise ValueError("the register index was built for other blocking rules than these settings use; "
                             "build it with the same settings")
        if _uses_term_frequencies(splink_model):
            raise ValueError("term-frequency adjustments depend on the whole register; the register index does "
                             "not support them")

    def candidate_ids(self, names: pl.DataFrame) -> np.ndarray:
        """Sorted distinct citizen ids sharing at least one blocking key with a row of
        ``names`` (normalised surname, given_name, patronymic, birth_date)."""
        if names.height == 0:
            return np.zeros(0, dtype=np.int64)
        con = duckdb.connect()
        try:
            found = []
            frame = names.select(*NAME_COLUMNS, "birth_date").with_row_index("__i")
            for key in self.keys:
                h, _ = _key_hashes(con, frame, key.record, "__i")
                slot = self._register_side.index(key.register)
                keys = self.blocks[slot]
                lo, hi = keys.ranges(_unique(h))
                found.append(keys.ids[_expand(lo, hi)])
        finally:
            con.close()
        return _unique(np.concatenate(found).astype(np.int64))

    def register_rows(self, citizen_ids: np.ndarray) -> pl.DataFrame:
        """The register (as :func:`.register.build_register` makes it) of these people only,
        in the register's order. The rows are in citizen order (the builder takes the parts
        in order), so they are found by binary search and gathered: a filter of every row
        scanned the whole nation for each batch of candidates (2 s a shard at 146M people)."""
        at = self._positions(np.asarray(citizen_ids, dtype=np.int64))
        if at is None:  # rows not in strictly ascending citizen order: the filter
            ids = pl.Series("citizen_id", citizen_ids, dtype=pl.Int64)
            part = self.rows.filter(pl.col("citizen_id").cast(pl.Int64).is_in(ids.implode()))
        else:
            part = self.rows[at]
        return build_register(_population_view(part))

    def _positions(self, ids: np.ndarray) -> np.ndarray | None:
        """Sorted distinct row positions of the register's people among ``ids`` (the others
        are not in the register), or None when the rows are not in ascending citizen order."""
        col = self._row_ids()
        if col is None:
            return None
        info = np.iinfo(col.dtype)
        ids = ids[(ids >= info.min) & (ids <= info.max)].astype(col.dtype)  # searched in the rows' own type: no copy of them
        pos = np.searchsorted(col, ids)
        hit = pos < col.size
        hit[hit] = col[pos[hit]] == ids[hit]
        return _unique(pos[hit])

    def _row_ids(self) -> np.ndarray | None:
        """The rows' citizen ids if strictly ascending (checked once for these rows: a copy of
        the index given other rows checks them anew), else None."""
        if self._cache.get("rows") is not self.rows:
            col = self.rows["citizen_id"].to_numpy()  # int32 or int64, a view of the rows' column
            ascending = col.size < 2 or bool(np.all(col[1:] > col[:-1]))
            self._cache.update(rows=self.rows, ids=col if ascending else None)
        return self._cache["ids"]

    def candidates(self, names: pl.DataFrame) -> pl.DataFrame:
        """Register rows of every candidate of ``names`` under the blocking rules."""
        return self.register_rows(self.candidate_ids(names))


def _population_view(rows: pl.DataFrame) -> pl.DataFrame:
    """Stored rows back into the population columns build_register reads."""
    sex = pl.when(pl.col("female")).then(pl.lit("F")).when(pl.col("female").not_()).then(pl.lit("M"))
    return rows.select(pl.col("citizen_id").cast(pl.Int64), sex.cast(pl.String).alias("sex"), "birth_date",
                       *NAME_COLUMNS)


class _Chunks:
    """Arrays of one kind, one per part, kept in memory or spilled to .npy files, gathered
    into one array at the end (preallocated: no second copy of the parts)."""

    def __init__(self, spill: Path | None, name: str):
        self._spill, self._name = spill, name
        self._items: list[np.ndarray | Path] = []
        self._sizes: list[int] = []
        self.dtype: np.dtype | None = None

    def append(self, a: np.ndarray) -> None:
        self.dtype = a.dtype if self.dtype is None else np.promote_types(self.dtype, a.dtype)
        self._sizes.append(a.size)
        if self._spill is None:
            self._items.append(a)
        else:
            path = self._spill / f"{self._name}-{len(self._items):06d}.npy"
            np.save(path, a)
            self._items.append(path)

    def gather(self, empty: type) -> np.ndarray:
        out = np.empty(sum(self._sizes), dtype=self.dtype or empty)
        at = 0
        for item, size in zip(self._items, self._sizes):
            out[at:at + size] = np.load(item) if isinstance(item, Path) else item
            at += size
            if isinstance(item, Path):
                item.unlink()
        self._items, self._sizes = [], []
        return out


class RegisterIndexBuilder:
    """Accumulates population parts (frames with the population columns, in citizen order)
    into a :class:`RegisterIndex`; only sorted narrow arrays are kept between parts.

    ``spill_dir``: keep those arrays in files there until ``finish`` instead of in memory
    (about 80 bytes a person: at 146M people the difference between fitting or not)."""

    def __init__(self, settings: Mapping[str, Any] | None = None, *, spill_dir: str | Path | None = None):
        model = resolve_settings(dict(settings) if settings else None)["splink"]
        self.keys = blocking_keys(model)
        self._register_side: list[tuple[str, ...]] = []
        for k in self.keys:
            if k.register not in self._register_side:
                self._register_side.append(k.register)
        if spill_dir:
            Path(spill_dir).mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(dir=spill_dir, prefix="register-index-") if spill_dir else None
        spill = Path(self._tmp.name) if self._tmp else None
        self._ident = {k: (_Chunks(spill, f"{k}-values"), _Chunks(spill, f"{k}-ids")) for k in IDENTIFIER_COLUMNS}
        self._blocks = [_Chunks(spill, f"block{i}") for i in range(len(self._register_side))]
        self._rows: list[pl.DataFrame] = []
        self._last_id: int | None = None
        self._con = duckdb.connect()
        self.n_people = 0
        self.n_scoreable = 0

    def add(self, part: pl.DataFrame) -> None:
        """Index one population part."""
        reg = build_register(part)
        if reg.height:
            first, last = reg["citizen_id"].min(), reg["citizen_id"].max()
            if self._last_id is not None and first <= self._last_id:
                raise ValueError("population parts must come in citizen order: a part starts at citizen "
                                 f"{first}, at or before the previous part's last ({self._last_id})")
            self._last_id = last
        self.n_people += reg.height
        for key in IDENTIFIER_COLUMNS:
            r = reg.select(key, "citizen_id").filter(pl.col(key).is_not_null())
            vals, ids = r[key].to_numpy(), r["citizen_id"].to_numpy()
            order = np.lexsort((ids, vals))
            self._ident[key][0].append(vals[order])
            self._ident[key][1].append(_narrow_ids(ids[order]))
        scoreable = reg.filter(pl.col("surname").is_not_null() & pl.col("birth_date").is_not_null())
        self.n_scoreable += scoreable.height
        for slot, exprs in enumerate(self._register_side):
            h, ids = _key_hashes(self._con, scoreable.select("citizen_id", *NAME_COLUMNS, "birth_date"), exprs,
                                 "citizen_id")
            if ids.size and (ids.min() < 0 or ids.max() > 0xFFFFFFFF):
                raise ValueError("citizen ids must lie in [0, 2**32) for the register index")
            packed = (h.astype(np.uint64) << np.uint64(32)) | ids.astype(np.uint64)
            packed.sort()
            self._blocks[slot].append(packed)
        female = (pl.col("sex").cast(pl.String) == "F") if "sex" in part.columns else pl.lit(None, pl.Boolean)
        rows = part.select(pl.col("citizen_id").cast(pl.Int64), female.alias("female"),
                           pl.col("birth_date").cast(pl.Date), *NAME_COLUMNS)
        if rows.height and rows["citizen_id"].min() >= 0 and rows["citizen_id"].max() <= np.iinfo(np.int32).max:
            rows = rows.with_columns(pl.col("citizen_id").cast(pl.Int32))
        self._rows.append(rows)

    def finish(self) -> RegisterIndex:
        """The index; the builder is spent afterwards.

        The rows are put together first, while nothing else is held: concatenating them
        copies them (146M people: about 2.6 GB held twice), and done last, beside the
        finished keys, that copy was the build's peak, 16.5 GB at 146M people when the
        build ran on the main thread (``--threads 1``), against 14.3 GB on a pool thread."""
        self._con.close()
        rows = pl.concat(self._rows, how="vertical_relaxed", rechunk=True) if self._rows else pl.DataFrame(
            schema={"citizen_id": pl.Int64, "female": pl.Boolean, "birth_date": pl.Date,
                    **{c: pl.String for c in NAME_COLUMNS}})
        self._rows = []
        ident = {}
        for key, (val_chunks, id_chunks) in self._ident.items():
            vals = val_chunks.gather(np.int64)
            # each part is sorted by (value, id) and ids grow from part to part: a stable sort
            # by value (a merge of the parts' runs) gives the (value, id) order
            order = np.argsort(vals, kind="stable")
            vals = vals[order]
            ids = _narrow_ids(id_chunks.gather(np.int64)[order])
            del order
            ident[key] = SortedKeys.build(vals, ids)
            del vals, ids
        blocks = []
        for chunks in self._blocks:
            packed = chunks.gather(np.uint64)
            packed.sort()
            # hashes keep about 16 bits below the bucket: collisions stay rare (1 in ~16,000
            # probes meets a foreign key, which only adds a candidate Splink then rejects)
            drop = max(0, 32 - (max(packed.size // 4, 1).bit_length() - 1 + 16))
            halves = packed.view(np.uint32).reshape(-1, 2)  # (hash << 32 | id) as its two halves
            ids = _narrow_ids(halves[:, _LOW_HALF].astype(np.int64)) if packed.size else np.zeros(0, np.int32)
            hashes = halves[:, _HIGH_HALF].copy()
            del packed, halves
            blocks.append(SortedKeys.build(hashes, ids, drop=drop))
            del hashes, ids
        if self._tmp is not None:
            self._tmp.cleanup()
        return RegisterIndex(self.keys, ident, blocks, rows, self.n_people, self.n_scoreable,
                             list(self._register_side))


def build_register_index(parts: Iterable[pl.DataFrame] | pl.DataFrame, *,
                         settings: Mapping[str, Any] | None = None, spill_dir: str | Path | None = None) -> RegisterIndex:
    """The index of a population given as one frame or as parts (e.g.
    ``population.generate.iter_population_shards``); ``settings`` as for linkage (their
    blocking rules decide the blocking keys); ``spill_dir`` see :class:`RegisterIndexBuilder`."""
    builder = RegisterIndexBuilder(settings, spill_dir=spill_dir)
    for part in ([parts] if isinstance(parts, pl.DataFrame) else parts):
        builder.add(part)
    return builder.finish()
