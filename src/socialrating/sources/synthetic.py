"""Synthetic Russia, part 2: the agencies' records about a population, with their errors.

``generate_records(people, start, years, seed)`` runs every agency model
(:mod:`.agencies`) over the population, corrupts the records with the error model
(:mod:`.errors`) and returns a :class:`SourceBatch`:

* ``records[source]``: one polars frame per source with exactly the columns and dtypes of
  ``schemas.SCHEMAS[source].columns``; identifiers are those the agency holds (names as
  strings), never a citizen_id. Rows are in the order the agency reported them.
* ``truth``: one row per record (kept apart; the engine never reads it): ``source``,
  ``record_id``, ``true_citizen_id`` (null for records about nobody), ``event_type``,
  ``occurred_on``, ``erroneous``, ``error_kind``, ``duplicate_of``, ``subtype`` (the
  generator's detail: debt kind, camera/officer, badge level).

Randomness: branch 0 of the seed drives behaviour (per source and stream), branch 1 the
errors, branch 2 the latent propensities, branch 3 the record-id keys. With
``ErrorModel.none()`` the records are the true events; with errors, every record not
touched by an error is identical (same record_id, same values) to its error-free twin.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import polars as pl
import pyarrow as pa

from ..identity import names as _names
from ..identity._permute import derive_keys, permute
from ..population.calibration import Calibration, load_calibration
from .agencies import AGENCIES
from .agencies._base import Context, Events, geometric_lag, source_index
from .record_numbers import NUMBERS, OFFICES, TrueOrder, numbers_of, office, true_order, view_numbers
from .errors import ERROR_KIND, ERROR_KINDS, ID_COLUMNS, NOT_ERRONEOUS, TRANSLIT_FROM, TRANSLIT_TO, ErrorModel, Records, ctx_ids
from .schemas import COMMON, SCHEMAS

__all__ = ["SourceBatch", "TrueRecords", "generate_records", "max_blocks", "records_view", "true_records", "TRUTH_SCHEMA", "RECORD_PREFIX"]

RECORD_PREFIX: dict[str, str] = {name: s.prefix for name, s in SCHEMAS.items()}
TRUTH_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String,
    "record_id": pl.String,
    "true_citizen_id": pl.Int64,
    "event_type": pl.String,
    "occurred_on": pl.Date,
    "erroneous": pl.Boolean,
    "error_kind": ERROR_KIND,
    "duplicate_of": pl.String,
    "subtype": pl.String,
}
#: record counters per source and generation block: block b counts its records from
#: b * RECORDS_PER_BLOCK (internal; the ids carry running numbers, see .record_numbers)
RECORDS_PER_BLOCK = 1 << 28
_PLATE_LETTERS = list("АВЕКМНОРСТУХ")
_ERRONEOUS = np.array([k not in NOT_ERRONEOUS for k in ERROR_KINDS])


def max_blocks() -> int:
    """The most generation blocks a population can have: identifiers numbered per block have
    room for so many (the bailiffs' proceeding numbers, the record ids' offices)."""
    from .agencies.bailiffs import MAX_BLOCKS
    return min(MAX_BLOCKS, OFFICES)


@dataclass
class SourceBatch:
    """Records per source (the agencies' view) and the truth about each record."""

    records: dict[str, pl.DataFrame]
    truth: pl.DataFrame
    error_model: ErrorModel
    start: dt.date
    years: float
    special_category: tuple[str, ...] = field(default=())
    not_loaded: int = 0  # records dropped by ``keep`` (never reach the operator)

    def counts(self) -> pl.DataFrame:
        """Records per source and error kind."""
        return self.truth.group_by("source", "error_kind").len().sort("source", "error_kind")


def generate_records(
    people: pl.DataFrame,
    start: dt.date,
    years: float,
    seed: np.random.SeedSequence | int,
    *,
    calibration: Calibration | None = None,
    error_model: ErrorModel | None = None,
    identities: bool = True,
    keep: Callable[[pl.Series, np.ndarray, np.ndarray], np.ndarray] | None = None,
    block: int = 0,
    blocks: int = 1,
    keys: np.random.SeedSequence | int | None = None,
) -> SourceBatch:
    """Every source's records about ``people`` over ``[start, start + years)``.

    ``error_model`` defaults to ``ErrorModel.default()`` (the calibrated rates); pass
    ``ErrorModel.none()`` for perfect data. Deterministic in ``(people, start, years,
    seed, calibration, error_model)``. With ``identities=False`` the records carry only
    the common columns (no names, identifiers, plates, accounts): enough for a
    perfect-data twin, whose citizen comes from the truth table, at a fraction of the cost.
    ``keep(event_type, occurred_days, reported_days) -> mask`` drops records (after the
    errors, before anything is materialised; not in the truth either): the simulation uses
    it for history that no rule can count any more. Their number is ``not_loaded``.

    ``people`` may be one generation block of a larger population (``block``: its number,
    of ``blocks``):
    record numbers (hence record ids) and proceeding numbers are then offset by the block,
    and the identifier keys come from ``keys`` (default ``seed``), the same seed for every
    block, so ids stay unique across blocks generated apart. Errors that pick another person
    (namesake merges, false name matches, camera owners) pick within ``people``.

    It is ``records_view(true_records(...), ...)``: a caller that wants the agencies' view
    and its error-free twin runs the agency models once and takes both views of them."""
    true = true_records(people, start, years, seed, calibration=calibration, block=block, blocks=blocks, keys=keys)
    return records_view(true, error_model, identities=identities, keep=keep)


@dataclass
class TrueRecords:
    """Every source's error-free records (numpy columns, before any string is made) and the
    context they were drawn in: what the agencies' view and its perfect-data twin share."""

    ctx: Context
    records: dict[str, Records]
    _orders: dict[str, TrueOrder] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def order(self, source: str) -> TrueOrder:
        """The source's true records in filing order, numbered (computed once, for every view)."""
        # the block's two views run side by side: the first to ask computes it (a lock of
        # this block's own, so other shards' blocks never wait for it)
        with self._lock:
            if source not in self._orders:
                sidx = source_index(source)
                self._orders[source] = true_order(self.records[source].reported, self.ctx.block * RECORDS_PER_BLOCK,
                                                  _key(self.ctx, 0, sidx), _key(self.ctx, 6, sidx))
            return self._orders[source]


def true_records(people: pl.DataFrame, start: dt.date, years: float, seed: np.random.SeedSequence | int, *,
                 calibration: Calibration | None = None, block: int = 0, blocks: int = 1,
                 keys: np.random.SeedSequence | int | None = None) -> TrueRecords:
    """The agency models run over ``people`` (arguments as for ``generate_records``): each
    source's true records. Errors are applied to a copy (``ErrorModel.apply``), so one
    ``TrueRecords`` serves any number of ``records_view`` calls, side by side too."""
    cal = calibration or load_calibration()
    ctx = Context(people, start, years, seed, cal, defaults=load_calibration(), block=block,
                  blocks=blocks, keys=keys)
    events: dict[str, Events] = {}
    for agency in AGENCIES:
        ev = agency.generate(ctx)
        ctx.outputs[agency.SOURCE] = ev
        events[agency.SOURCE] = ev
    return TrueRecords(ctx, {name: _true_records(name, events[name], ctx) for name in SCHEMAS})


def records_view(true: TrueRecords, error_model: ErrorModel | None = None, *, identities: bool = True,
                 keep: Callable[[pl.Series, np.ndarray, np.ndarray], np.ndarray] | None = None) -> SourceBatch:
    """One view of the true records: corrupted by ``error_model`` (default: the calibrated
    rates; ``ErrorModel.none()``: perfect data), ``keep`` applied, then materialised (see
    ``generate_records``)."""
    ctx = true.ctx
    em = error_model if error_model is not None else ErrorModel.default(ctx.cal)
    records: dict[str, pl.DataFrame] = {}
    truths = []
    dropped = 0
    for name in SCHEMAS:
        rec = em.apply(name, true.records[name], ctx)
        # numbered before ``keep``: a record's number never depends on which others are kept
        number, dup_number = _numbers(true, name, rec)
        if keep is not None and len(rec):
            types = SCHEMAS[name].event_types
            mask = keep(pl.Series(types, dtype=pl.Enum(types)).gather(rec.etype.astype(np.int64)), rec.occurred,
                        rec.reported)
            dropped += int(len(rec) - mask.sum())
            kept = np.flatnonzero(mask)
            rec, number, dup_number = rec.take(kept), number[kept], dup_number[kept]
        else:
            mask = None
        # perfect data: the records are the true ones, already in filing order (no sort)
        order = _kept_in_order(true.order(name).order, mask) if em.is_none else None
        frame, truth = _materialise(name, rec, ctx, identities, number, dup_number, order)
        records[name] = frame
        truths.append(truth)
    truth = pl.concat(truths, how="vertical") if truths else pl.DataFrame(schema=TRUTH_SCHEMA)
    special = tuple(n for n, s in SCHEMAS.items() if s.special_category)
    return SourceBatch(records, truth, em, ctx.start, float(ctx.years), special, dropped)


# ---------------------------------------------------------------------------------------------


def _true_records(source: str, ev: Events, ctx: Context) -> Records:
    """The agency's error-free records: drop events about people lacking a required
    identifier (the agency cannot hold them), draw optional-identifier coverage and the
    routine reporting lag (behaviour streams)."""
    schema = SCHEMAS[source]
    keep = np.ones(len(ev), bool)
    for col in schema.required_keys:
        if col in ID_COLUMNS:
            keep &= ctx_ids(ctx, col)[1][ev.person]
    ev = ev.take(np.flatnonzero(keep))
    m = len(ev)
    rng = ctx.rng(source, 99)
    lag = geometric_lag(rng, float(ctx.param("common", "reporting_lag_days")[source]), m)
    known = np.ones(m, bool)
    cov = ctx.param("common", "optional_key_coverage")
    for col in schema.keys:
        if col in ID_COLUMNS and col not in schema.required_keys:
            known = rng.random(m) < float(cov.get(f"{source}.{col}", 1.0))
    person = ev.person.astype(np.int64)
    return Records(
        counter=ctx.block * RECORDS_PER_BLOCK + np.arange(m, dtype=np.int64), subject=person.copy(), true=person.copy(), etype=ev.etype,
        occurred=ev.occurred, reported=(ev.occurred + lag).astype(np.int32), amount=ev.amount, subtype=ev.subtype,
        key_known=known, extra=dict(ev.extra), subtype_labels=ev.subtype_labels,
    )


def person_names(ctx: Context) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Surname, given name and patronymic strings per person (cached on the context)."""
    cache = ctx.__dict__.setdefault("_names", {})
    if "n" not in cache:
        p = ctx.people
        fem = pl.Series(ctx.female)
        masc_s, fem_s = _names.surname_table()
        sur = p["surname"].cast(pl.Int64)
        surname = pl.select(pl.when(fem).then(pl.Series(fem_s.tolist()).gather(sur)).otherwise(pl.Series(masc_s.tolist()).gather(sur))).to_series()
        giv = p["given_name"].cast(pl.Int64)
        fl = pl.Series(list(_names.FEMALE_GIVEN_NAMES)).gather(giv.clip(0, len(_names.FEMALE_GIVEN_NAMES) - 1))
        ml = pl.Series(list(_names.MALE_GIVEN_NAMES)).gather(giv.clip(0, len(_names.MALE_GIVEN_NAMES) - 1))
        given = pl.select(pl.when(fem).then(fl).otherwise(ml)).to_series()
        pat = p["patronymic"].cast(pl.Int64)
        patronymic = pl.select(pl.when(fem).then(pl.Series(list(_names.PATRONYMICS_FEMALE)).gather(pat))
                               .otherwise(pl.Series(list(_names.PATRONYMICS_MALE)).gather(pat))).to_series()
        cache["n"] = (surname, given, patronymic)
    return cache["n"]


def _key(ctx: Context, *path: int) -> int:
    return int(ctx.key_sequence(3, *path).generate_state(1, np.uint64)[0])


def _digits(values: np.ndarray, width: int) -> pl.Series:
    return pl.Series(values.astype(np.int64)).cast(pl.String).str.zfill(width)


def _plates(ctx: Context, person: np.ndarray) -> pl.Series:
    """A registration plate per person (their vehicle), e.g. 'А123ВС77'."""
    h = derive_keys(_key(ctx, 1), ctx.citizen_id[person].astype(np.uint64))
    letters = pl.Series(_PLATE_LETTERS)
    a = (h % np.uint64(12)).astype(np.int64)
    b = ((h >> np.uint64(8)) % np.uint64(12)).astype(np.int64)
    c = ((h >> np.uint64(16)) % np.uint64(12)).astype(np.int64)
    num = ((h >> np.uint64(24)) % np.uint64(999)).astype(np.int64) + 1
    reg = ctx.region[person].astype(np.int64)
    return pl.select(pl.concat_str([letters.gather(a), _digits(num, 3), letters.gather(b), letters.gather(c), _digits(reg, 2)])).to_series()


def _nullable_ids(values: np.ndarray, valid: np.ndarray) -> pl.Series:
    return pl.Series(pa.array(values.astype(np.int64), type=pa.int64(), mask=~valid))


def _numbers(true: TrueRecords, source: str, rec: Records) -> tuple[np.ndarray, np.ndarray]:
    """The running number of each record of a view, and of the record each duplicates (-1:
    none), as written in their ids (``.record_numbers``)."""
    ctx, sidx = true.ctx, source_index(source)
    if len(rec) and int(rec.counter.max()) >= (ctx.block + 1) * RECORDS_PER_BLOCK:
        raise ValueError(f"{source}: more than {RECORDS_PER_BLOCK} records in one generation block; use smaller blocks")
    order = true.order(source)
    number = view_numbers(rec.counter, rec.reported, order, _key(ctx, 0, sidx), _key(ctx, 6, sidx))
    if len(number) and int(number.max()) >= NUMBERS:
        raise ValueError(f"{source}: more records in one generation block than its ids can number "
                         f"({NUMBERS:,} numbers); use smaller blocks")
    dup_number = np.full(len(rec), -1, np.int64)
    dups = np.flatnonzero(rec.dup_of >= 0)
    if dups.size:
        dup_number[dups] = numbers_of(rec.dup_of[dups], rec.counter, number, order)
    return number, dup_number


def _kept_in_order(true_order: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The positions, among the kept true records, of the kept ones in filing order
    (``true_order``: the true records' indices in filing order; ``mask``: kept, or None)."""
    if mask is None:
        return true_order
    position = np.cumsum(mask, dtype=np.int64) - 1
    return position[true_order[mask[true_order]]]


def _materialise(source: str, rec: Records, ctx: Context, identities: bool, number: np.ndarray,
                 dup_number: np.ndarray, order: np.ndarray | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The agency's records table (in the order they were reported, each day's in the order
    of their numbers; ``order`` when the caller has it) and their truth rows."""
    schema = SCHEMAS[source]
    sidx = source_index(source)
    if order is None:
        order = _report_order(rec.reported, number)
    rec = rec.take(order)
    prefix = RECORD_PREFIX[source] + "-"
    # record ids: the office (the block, keyed) and its running number, 12 digits
    at_office = office(ctx.block, _key(ctx, 7, sidx)) * NUMBERS
    record_id = pl.select(pl.lit(prefix) + _digits(at_office + number[order], 12)).to_series()
    dup_number = dup_number[order]
    dup_ids = np.where(dup_number >= 0, at_office + dup_number, -1)
    etypes = pl.Series(schema.event_types)
    cols: dict[str, pl.Series] = {
        "record_id": record_id,
        "event_type": etypes.gather(rec.etype.astype(np.int64)),
        "occurred_on": pl.Series(rec.occurred.astype(np.int32)).cast(pl.Date),
        "reported_on": pl.Series(rec.reported.astype(np.int32)).cast(pl.Date),
        "amount": pl.Series(rec.amount, dtype=pl.Float64, nan_to_null=True),
    }
    if identities:
        cols.update(_identity_columns(source, rec, ctx, sidx))
        frame = pl.DataFrame([cols[c].alias(c).cast(dt_) for c, dt_ in schema.columns.items()])
    else:
        frame = pl.DataFrame([cols[c].alias(c).cast(dt_) for c, dt_ in COMMON.items()])
    return frame, _truth(source, rec, ctx, prefix, cols, dup_ids)


def _report_order(reported: np.ndarray, rid_num: np.ndarray) -> np.ndarray:
    """np.lexsort((rid_num, reported)), by one stable argsort of a packed int64 key when
    the days fit in 23 bits above the 40-bit record numbers (always, for real dates):
    the same order, about 2-3x faster."""
    if len(reported) == 0:
        return np.zeros(0, np.int64)
    lo, hi = int(reported.min()), int(reported.max())
    if hi - lo >= 1 << 23 or int(rid_num.min()) < 0 or int(rid_num.max()) >= 1 << 40:
        return np.lexsort((rid_num, reported))
    key = ((reported.astype(np.int64) - lo) << 40) | rid_num.astype(np.int64)
    # record numbers are distinct, so the keys are: an unstable sort gives the same order, and
    # numpy's default sort is 3-4x faster than its stable one on these half-shuffled keys (a
    # tie, were there one, falls back to the stable sort: the order never depends on the sort)
    order = np.argsort(key)
    ranked = key[order]
    if len(ranked) > 1 and not (ranked[1:] != ranked[:-1]).all():
        return np.argsort(key, kind="stable")
    return order


def _identity_columns(source: str, rec: Records, ctx: Context, sidx: int) -> dict[str, pl.Series]:
    """The identifiers, names and source-specific keys an agency writes on its records."""
    schema = SCHEMAS[source]
    subj = rec.subject
    cols: dict[str, pl.Series] = {}
    for col in schema.keys:
        if col in ID_COLUMNS:
            ids, valid = ctx_ids(ctx, col)
            v = np.where(rec.id_override >= 0, rec.id_override, ids[subj])
            cols[col] = _nullable_ids(v, valid[subj] & rec.key_known)
        elif col == "birth_date":
            cols[col] = pl.Series(ctx.birth[subj].astype(np.int32)).cast(pl.Date)
    if "surname" in schema.keys:
        cols["surname"], cols["given_name"], cols["patronymic"] = _name_columns(rec, ctx)
    if source == "traffic_police":
        cols["camera"] = pl.Series(rec.extra["camera"].astype(bool))
        cols["vehicle_plate"] = _plates(ctx, subj)
    if source == "bailiffs":
        num = permute(rec.extra["proceeding"], 10**9, _key(ctx, 2, sidx))
        dept = (derive_keys(_key(ctx, 3, sidx), rec.extra["proceeding"].astype(np.uint64)) % np.uint64(40)).astype(np.int64) + 1
        cols["proceeding_id"] = pl.select(pl.concat_str([_digits(num, 9), pl.lit("/"), _digits(rec.extra["region"], 2),
                                                         _digits(dept, 3), pl.lit("-ИП")])).to_series()
    if source == "marketplace":
        acc = permute(ctx.citizen_id[rec.subject] % (10**10), 10**10, _key(ctx, 5, sidx))
        cols["account"] = pl.select(pl.lit("MP") + _digits(acc, 10)).to_series()
    if source == "housing":
        acc = permute(rec.extra["account"] % (10**10), 10**10, _key(ctx, 4, sidx))
        cols["account"] = pl.select(pl.lit("ЛС") + _digits(acc, 10)).to_series()
    return cols


def _name_columns(rec: Records, ctx: Context) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Surname, given name, patronymic per record, with the record's spelling variant
    (1: ё written е, 2: transliterated surname, 3: given name and patronymic swapped)."""
    sur, giv, pat = (s.gather(rec.subject) for s in person_names(ctx))
    for code, fn in ((1, _yo), (2, _translit), (3, None)):
        idx = np.flatnonzero(rec.variant == code)
        if idx.size == 0:
            continue
        if code == 3:
            g_idx, p_idx = giv.gather(idx), pat.gather(idx)
            giv = giv.scatter(idx, p_idx)
            pat = pat.scatter(idx, g_idx)
        elif code == 1:
            sur, giv, pat = (s.scatter(idx, fn(s.gather(idx))) for s in (sur, giv, pat))
        else:
            sur = sur.scatter(idx, fn(sur.gather(idx)))
    return sur, giv, pat


def _truth(source: str, rec: Records, ctx: Context, prefix: str, cols: dict[str, pl.Series],
           dup_ids: np.ndarray) -> pl.DataFrame:
    """What really happened behind each record: its true citizen, error kind, duplicate of
    (``dup_ids``: the original's id number, -1 for none)."""
    n = len(rec)
    true_ids = _nullable_ids(np.where(rec.true >= 0, ctx.citizen_id[rec.true.clip(0)], 0), rec.true >= 0)
    dup_idx = np.flatnonzero(dup_ids >= 0)
    dup = pl.Series(dtype=pl.String).extend_constant(None, n)  # not a Python list of n Nones
    if dup_idx.size:
        dup = dup.scatter(dup_idx, pl.select(pl.lit(prefix) + _digits(dup_ids[dup_idx], 12)).to_series())
    labels = pl.Series(list(rec.subtype_labels) + [None], dtype=pl.String)
    sub = labels.gather(np.where((rec.subtype >= 0) & (rec.subtype < len(rec.subtype_labels)), rec.subtype, len(rec.subtype_labels)).astype(np.int64)) if n else pl.Series([], dtype=pl.String)
    return pl.DataFrame({
        "source": pl.Series([source], dtype=pl.String).extend_constant(source, n - 1) if n else pl.Series([], dtype=pl.String),
        "record_id": cols["record_id"],
        "true_citizen_id": true_ids,
        "event_type": cols["event_type"],
        "occurred_on": cols["occurred_on"],
        "erroneous": pl.Series(_ERRONEOUS[rec.kind]),
        "error_kind": pl.Series(list(ERROR_KINDS), dtype=ERROR_KIND).gather(rec.kind.astype(np.int64)),
        "duplicate_of": dup,
        "subtype": sub,
    }, schema=TRUTH_SCHEMA)


def _yo(s: pl.Series) -> pl.Series:
    return s.str.replace_all("ё", "е", literal=True).str.replace_all("Ё", "Е", literal=True)


def _translit(s: pl.Series) -> pl.Series:
    return s.str.replace_many(TRANSLIT_FROM, TRANSLIT_TO)
