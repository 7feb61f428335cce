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
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import duckdb
import numpy as np
import polars as pl

from .linkage_settings import resolve_settings
from .register import IDENTIFIER_COLUMNS, NAME_COLUMNS, build_register

__all__ = ["RegisterIndex", "RegisterIndexBuilder", "build_register_index", "blocking_keys"]

_ROW_COLUMNS = ("citizen_id", "female", "birth_date", *NAME_COLUMNS)
_HASH_MASK = np.uint64(0xFFFFFFFF)


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


def _ranges(sorted_values: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.searchsorted(sorted_values, probes, "left"), np.searchsorted(sorted_values, probes, "right")


def _expand(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of arange(lo[i], hi[i]) for all i, without a Python loop."""
    n = hi - lo
    keep = n > 0
    lo, n = lo[keep], n[keep]
    if not n.size:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n)
    return starts + np.arange(int(n.sum()), dtype=np.int64)


def _narrow_ids(ids: np.ndarray) -> np.ndarray:
    if ids.size == 0 or (ids.min() >= np.iinfo(np.int32).min and ids.max() <= np.iinfo(np.int32).max):
        return ids.astype(np.int32)
    return ids.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the index


@dataclass
class RegisterIndex:
    """What linkage needs of the national register (see the module docstring).

    ``identifiers[key]``: (sorted int64 values, citizen ids) sorted by (value, id).
    ``blocks[i]``: (sorted uint32 hashes, citizen ids) of ``keys[i]``'s register side.
    ``rows``: one row per person: citizen_id, female, birth_date and the name columns as
    the population holds them (codes, or strings). ``n_people``: register rows;
    ``n_scoreable``: rows with surname and birth date (the prior's denominator).
    """

    keys: tuple[BlockingKey, ...]
    identifiers: dict[str, tuple[np.ndarray, np.ndarray]]
    blocks: list[tuple[np.ndarray, np.ndarray]]
    rows: pl.DataFrame
    n_people: int
    n_scoreable: int
    _register_side: list[tuple[str, ...]] = field(default_factory=list)

    # -- sizes --------------------------------------------------------------------------------
    def nbytes(self) -> dict[str, int]:
        """Bytes held, by part."""
        ident = sum(v.nbytes + c.nbytes for v, c in self.identifiers.values())
        blocks = sum(h.nbytes + c.nbytes for h, c in self.blocks)
        return {"identifiers": ident, "blocking": blocks, "rows": int(self.rows.estimated_size()),
                "total": ident + blocks + int(self.rows.estimated_size())}

    def bytes_per_person(self) -> float:
        return self.nbytes()["total"] / max(self.n_people, 1)

    # -- deterministic step ---------------------------------------------------------------------
    def lookup(self, key: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For int64 ``values``: (found mask, smallest citizen id holding the value, number
        of people holding it) — what a join on the register's ``key`` column gives."""
        vals, ids = self.identifiers[key]
        lo, hi = _ranges(vals, values)
        found = hi > lo
        cid = np.zeros(values.size, dtype=np.int64)
        cid[found] = ids[lo[found]]  # ids are sorted within a value: the first is the smallest
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
                hashes, ids = self.blocks[slot]
                lo, hi = _ranges(hashes, np.unique(h))
                found.append(ids[_expand(lo, hi)])
        finally:
            con.close()
        return np.unique(np.concatenate(found).astype(np.int64))

    def register_rows(self, citizen_ids: np.ndarray) -> pl.DataFrame:
        """The register (as :func:`.register.build_register` makes it) of these people only."""
        ids = pl.Series("citizen_id", citizen_ids, dtype=pl.Int64)
        part = self.rows.filter(pl.col("citizen_id").cast(pl.Int64).is_in(ids.implode()))
        return build_register(_population_view(part))

    def candidates(self, names: pl.DataFrame) -> pl.DataFrame:
        """Register rows of every candidate of ``names`` under the blocking rules."""
        return self.register_rows(self.candidate_ids(names))


def _population_view(rows: pl.DataFrame) -> pl.DataFrame:
    """Stored rows back into the population columns build_register reads."""
    sex = pl.when(pl.col("female")).then(pl.lit("F")).when(pl.col("female").not_()).then(pl.lit("M"))
    return rows.select(pl.col("citizen_id").cast(pl.Int64), sex.cast(pl.String).alias("sex"), "birth_date",
                       *NAME_COLUMNS)


class RegisterIndexBuilder:
    """Accumulates population parts (frames with the population columns, in citizen order)
    into a :class:`RegisterIndex`; only sorted narrow arrays are kept between parts."""

    def __init__(self, settings: Mapping[str, Any] | None = None):
        model = resolve_settings(dict(settings) if settings else None)["splink"]
        self.keys = blocking_keys(model)
        self._register_side: list[tuple[str, ...]] = []
        for k in self.keys:
            if k.register not in self._register_side:
                self._register_side.append(k.register)
        self._ident: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in IDENTIFIER_COLUMNS}
        self._blocks: list[list[np.ndarray]] = [[] for _ in self._register_side]
        self._rows: list[pl.DataFrame] = []
        self._con = duckdb.connect()
        self.n_people = 0
        self.n_scoreable = 0

    def add(self, part: pl.DataFrame) -> None:
        """Index one population part."""
        reg = build_register(part)
        self.n_people += reg.height
        for key in IDENTIFIER_COLUMNS:
            r = reg.select(key, "citizen_id").filter(pl.col(key).is_not_null())
            vals, ids = r[key].to_numpy(), r["citizen_id"].to_numpy()
            order = np.lexsort((ids, vals))
            self._ident[key].append((vals[order], ids[order]))
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
        self._rows.append(part.select(pl.col("citizen_id").cast(pl.Int64), female.alias("female"),
                                      pl.col("birth_date").cast(pl.Date), *NAME_COLUMNS))

    def finish(self) -> RegisterIndex:
        """The index; the builder is spent afterwards."""
        self._con.close()
        ident = {}
        for key, parts in self._ident.items():
            vals = np.concatenate([v for v, _ in parts]) if parts else np.zeros(0, np.int64)
            ids = np.concatenate([c for _, c in parts]) if parts else np.zeros(0, np.int64)
            self._ident[key] = []
            order = np.lexsort((ids, vals))
            ident[key] = (vals[order], _narrow_ids(ids[order]))
        blocks = []
        for slot, parts in enumerate(self._blocks):
            packed = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            self._blocks[slot] = []
            packed.sort()
            blocks.append(((packed >> np.uint64(32)).astype(np.uint32), _narrow_ids((packed & _HASH_MASK).astype(np.int64))))
        rows = pl.concat(self._rows, how="vertical_relaxed", rechunk=True) if self._rows else pl.DataFrame(
            schema={"citizen_id": pl.Int64, "female": pl.Boolean, "birth_date": pl.Date,
                    **{c: pl.String for c in NAME_COLUMNS}})
        self._rows = []
        if rows.height and rows["citizen_id"].min() >= 0 and rows["citizen_id"].max() <= np.iinfo(np.int32).max:
            rows = rows.with_columns(pl.col("citizen_id").cast(pl.Int32))
        return RegisterIndex(self.keys, ident, blocks, rows, self.n_people, self.n_scoreable,
                             list(self._register_side))


def build_register_index(parts: Iterable[pl.DataFrame] | pl.DataFrame, *,
                         settings: Mapping[str, Any] | None = None) -> RegisterIndex:
    """The index of a population given as one frame or as parts (e.g.
    ``population.generate.iter_population_shards``); ``settings`` as for linkage (their
    blocking rules decide the blocking keys)."""
    builder = RegisterIndexBuilder(settings)
    for part in ([parts] if isinstance(parts, pl.DataFrame) else parts):
        builder.add(part)
    return builder.finish()
