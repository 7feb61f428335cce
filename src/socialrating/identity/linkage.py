"""Identity linkage: attach a citizen_id to each source record, or quarantine it with a reason.

Agencies key people differently (see :mod:`socialrating.sources.schemas`). A record is
linked, in this order:

1. **Required values.** A record missing a value the source schema requires
   (``required_keys``) is quarantined: ``missing required key``.
2. **Strong identifiers, deterministically.** The identifiers the source carries are
   tried in the order SNILS, INN, passport, phone. SNILS and INN are validated with
   their check digits (``invalid check digits``); passport and phone structurally
   (``invalid identifier format``). A valid identifier is joined exactly to the
   register; found -> linked, ``match_method`` = the key's name. Passports and phones
   have no check digit: a typo that lands on another person's number links the record
   to that person. That is what such systems do, and the report measures it.
3. **Name and birth date, probabilistically.** Records the strong identifiers could not
   link, from sources that also hold surname, given name, patronymic and birth date,
   are scored with Splink against the whole register (fixed parameters, see
   :mod:`.linkage_settings`; with a national :class:`.register_index.RegisterIndex`,
   against the rows the blocking rules select, with the same result);
   ``match_method`` = ``probabilistic``. Quarantined as
   ``ambiguous`` (namesakes: several people fit about equally well), ``below match
   threshold`` or ``no candidate in register``.
4. Otherwise the record is quarantined with the first failure of its strong
   identifiers: ``invalid check digits``, ``invalid identifier format`` or
   ``identifier not in register``.

Invariant, asserted on every call: records in = linked + quarantined; each record ends
up in exactly one of the two tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

import numpy as np
import polars as pl

from . import inn as _inn
from . import passport as _passport
from . import phone as _phone
from . import snils as _snils
from .linkage_settings import resolve_settings
from .probabilistic import decide, score_pairs
from .register import normalise_name
from .register_index import RegisterIndex

__all__ = [
    "LinkResult",
    "link_records",
    "link_sources",
    "linkage_report",
    "parse_identifier",
    "REASONS",
    "MISSING_REQUIRED",
    "INVALID_CHECK",
    "INVALID_FORMAT",
    "NOT_IN_REGISTER",
    "AMBIGUOUS",
    "BELOW_THRESHOLD",
    "NO_CANDIDATE",
]

MISSING_REQUIRED = "missing required key"
INVALID_CHECK = "invalid check digits"
INVALID_FORMAT = "invalid identifier format"
NOT_IN_REGISTER = "identifier not in register"
AMBIGUOUS = "ambiguous"
BELOW_THRESHOLD = "below match threshold"
NO_CANDIDATE = "no candidate in register"
REASONS = (MISSING_REQUIRED, INVALID_CHECK, INVALID_FORMAT, NOT_IN_REGISTER, AMBIGUOUS, BELOW_THRESHOLD, NO_CANDIDATE)

PROBABILISTIC = "probabilistic"
_NAME_FIELDS = ("surname", "given_name", "patronymic", "birth_date")
_RESERVED = ("citizen_id", "match_method", "match_probability", "reason", "__row")
_DIGITS = {"snils": 11, "inn": 12, "passport": 10, "phone": 11}
# keys with a check number: a wrong one is "invalid check digits", not a format error
_CHECKED = {"snils", "inn"}
_DECISION = {"__row": pl.UInt32, "citizen_id": pl.Int64, "match_method": pl.String,
             "match_probability": pl.Float64, "reason": pl.String}


@dataclass(frozen=True)
class LinkResult:
    """``linked``: the source records + citizen_id, match_method, match_probability.
    ``quarantine``: the records that could not be linked + reason."""

    source: str
    linked: pl.DataFrame
    quarantine: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    #: where ``linked``'s and ``quarantine``'s rows were in the records given to linkage
    #: (int64 positions; None for a result made otherwise): a caller holding a table aligned
    #: with those records (the generator's truth) takes its rows by position, not by a join
    linked_rows: np.ndarray | None = None
    quarantine_rows: np.ndarray | None = None

    @property
    def n_records(self) -> int:
        return self.linked.height + self.quarantine.height


def parse_identifier(values: pl.Series, key: str) -> tuple[pl.Series, np.ndarray]:
    """Identifier column as Int64 (null where absent or malformed) and a malformed mask.

    Accepts Int64 digits or strings with the usual separators (``112-233-445 95``,
    ``+7 912 345-67-89``, ``8 912 ...``, ``45 08 123456``); digit strings missing up to two
    leading zeros (a spreadsheet's doing) are zero-padded."""
    n = len(values)
    if values.dtype == pl.Null:
        return pl.Series(values.name, [None] * n, dtype=pl.Int64), np.zeros(n, dtype=bool)
    if values.dtype.is_integer():
        x = values.cast(pl.Int64)
        bad = (x.is_not_null() & ((x < 0) | (x >= 10 ** _DIGITS[key]))).to_numpy()
        return x.set(pl.Series(bad), None) if bad.any() else x, bad
    s = values.cast(pl.String).str.replace_all(r"[\s\-()]", "")
    if key == "phone":
        s = s.str.replace(r"^\+7", "7").str.replace(r"^8(\d{10})$", "7$1")
    s = pl.Series(values.name, s).replace("", None)
    if key != "phone":  # spreadsheets drop leading zeros of numbers stored as numbers: restore up to two
        short = s.str.contains(rf"^\d{{{_DIGITS[key] - 2},{_DIGITS[key] - 1}}}$").fill_null(False)
        s = pl.select(pl.when(pl.lit(short)).then(pl.lit(s).str.zfill(_DIGITS[key])).otherwise(pl.lit(s))).to_series().alias(values.name)
    well = s.str.contains(rf"^\d{{{_DIGITS[key]}}}$").fill_null(False)
    bad = (s.is_not_null() & ~well).to_numpy()
    x = pl.select(pl.when(pl.lit(well)).then(pl.lit(s)).otherwise(None).str.to_integer(strict=False).cast(pl.Int64)).to_series()
    return x.alias(values.name), bad


def _validity(key: str, x: pl.Series) -> np.ndarray:
    """Bool array: the (non-null) identifier passes its check (check digits or structure)."""
    vals = x.fill_null(0)
    if key == "snils":
        ok = _snils.validate_snils(vals)
    elif key == "inn":
        ok = _inn.validate_inn(vals)
    elif key == "passport":
        ok = _passport.validate_passport(vals)
    elif key == "phone":
        ok = _phone.validate_phone(vals)
    else:  # pragma: no cover - settings validated against _DIGITS
        raise ValueError(key)
    return np.asarray(ok, dtype=bool) & x.is_not_null().to_numpy()


def _decisions(rows, citizen_id=None, method=None, prob=None, reason=None) -> pl.DataFrame:
    rows = pl.Series("__row", rows, dtype=pl.UInt32)
    n = len(rows)

    def col(name, v, dtype):
        if isinstance(v, pl.Series):
            return v.cast(dtype).alias(name)
        if isinstance(v, np.ndarray):
            return pl.Series(name, v, dtype=dtype)
        return pl.Series(name, [v], dtype=dtype).extend_constant(v, n - 1) if n else pl.Series(name, [], dtype=dtype)

    return pl.DataFrame([rows, col("citizen_id", citizen_id, pl.Int64), col("match_method", method, pl.String),
                         col("match_probability", prob, pl.Float64), col("reason", reason, pl.String)])


def _key_hits(register: "pl.DataFrame | RegisterIndex", key: str, probe: pl.DataFrame,
              key_tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Probe rows (__row, key value) found in the register: + citizen_id (the smallest
    holder of the value) and n (how many people hold it), from the whole register frame or
    from a :class:`RegisterIndex` (the same rows)."""
    if isinstance(register, RegisterIndex):
        found, cid, n = register.lookup(key, probe[key].to_numpy())
        return probe.filter(pl.Series(found)).with_columns(
            citizen_id=pl.Series(cid[found], dtype=pl.Int64), n=pl.Series(n[found], dtype=pl.UInt32))
    if key not in key_tables:
        key_tables[key] = _register_key(register, key)
    return probe.join(key_tables[key], on=key, how="inner")


def _register_key(register: pl.DataFrame, key: str) -> pl.DataFrame:
    """key -> citizen_id, with n (people holding that value; >1 only in a broken register)."""
    r = register.select(key, "citizen_id").filter(pl.col(key).is_not_null())
    if r[key].is_duplicated().any():
        return r.group_by(key).agg(pl.col("citizen_id").min(), n=pl.len())
    return r.with_columns(n=pl.lit(1, pl.UInt32))


# why a record failed deterministic linkage, as int8 codes over the records (0: no failure yet)
_FAILURES = (None, INVALID_CHECK, INVALID_FORMAT, NOT_IN_REGISTER)


@dataclass
class _Pending:
    source: str
    records: pl.DataFrame
    parts: list[pl.DataFrame]
    done: np.ndarray
    first_failure: np.ndarray  # int8 index into _FAILURES
    names: pl.DataFrame | None  # __row + normalised fields of records going to name linkage


def _deterministic(source: str, schema: "KeySpec", records: pl.DataFrame, register: "pl.DataFrame | RegisterIndex",
                   st: dict[str, Any], key_tables: dict[str, pl.DataFrame]) -> _Pending:
    """Steps 1-2 (required values, strong identifiers) and the selection for step 3."""
    clash = [c for c in _RESERVED if c in records.columns]
    if clash:
        raise ValueError(f"{source} records already have column(s) {clash}; linkage adds them")
    missing_cols = [c for c in schema.required_keys if c not in records.columns]
    if missing_cols:
        raise ValueError(f"{source} records lack required column(s) {missing_cols}")
    n = records.height
    parts: list[pl.DataFrame] = []
    done = np.zeros(n, dtype=bool)

    # 1. required values
    miss = np.zeros(n, dtype=bool)
    for c in schema.required_keys:
        miss |= records[c].is_null().to_numpy()
    if miss.any():
        parts.append(_decisions(np.flatnonzero(miss), reason=MISSING_REQUIRED))
        done |= miss

    # 2. strong identifiers
    first_failure = np.zeros(n, dtype=np.int8)
    keys = [k for k in st["strong_keys"] if k in schema.keys and k in records.columns]
    for key in keys:
        x, malformed = parse_identifier(records[key], key)
        present = x.is_not_null().to_numpy() | malformed
        valid = _validity(key, x)
        fail = np.where(present & ~valid, _FAILURES.index(INVALID_CHECK if key in _CHECKED else INVALID_FORMAT),
                        0).astype(np.int8)
        todo = ~done & valid
        if todo.any():
            rows = np.flatnonzero(todo)
            probe = pl.DataFrame({"__row": pl.Series(rows, dtype=pl.UInt32), key: x.gather(rows)})
            hit = _key_hits(register, key, probe, key_tables)
            ok = hit.filter(pl.col("n") == 1)
            if ok.height:
                parts.append(_decisions(ok["__row"], ok["citizen_id"], key, st["deterministic_probability"]))
                done[ok["__row"].to_numpy()] = True
            amb = hit.filter(pl.col("n") > 1)
            if amb.height:
                parts.append(_decisions(amb["__row"], reason=AMBIGUOUS))
                done[amb["__row"].to_numpy()] = True
            not_found = np.zeros(n, dtype=bool)
            not_found[rows] = True
            not_found[hit["__row"].to_numpy()] = False
            fail = np.where(not_found, np.int8(_FAILURES.index(NOT_IN_REGISTER)), fail)
        first_failure = np.where((first_failure == 0) & (fail != 0), fail, first_failure)

    # 3. selection for name + birth date linkage
    names = None
    can_name = st["fallback_to_names"] and all(
        c in schema.keys and c in records.columns for c in ("surname", "given_name", "birth_date"))
    if can_name and not done.all():
        has = (records["surname"].is_not_null() & records["given_name"].is_not_null()
               & records["birth_date"].is_not_null()).to_numpy()
        rows = np.flatnonzero(~done & has)
        if rows.size:
            sel = records[rows]
            pat = (_normalised(sel["patronymic"]) if "patronymic" in sel.columns
                   else pl.Series([None], dtype=pl.String).extend_constant(None, rows.size - 1))
            names = pl.DataFrame([
                pl.Series("__row", rows, dtype=pl.UInt32),
                _normalised(sel["surname"]).alias("surname"),
                _normalised(sel["given_name"]).alias("given_name"),
                pat.alias("patronymic"),
                sel["birth_date"].cast(pl.Date),
            ])
            done[rows] = True
    return _Pending(source, records, parts, done, first_failure, names)


def _normalised(values: pl.Series) -> pl.Series:
    """normalise_name over a column, computed once per distinct value: names repeat a lot
    (thousands of distinct surnames over millions of records), and the Unicode upper-casing
    and the whitespace regex dominate linkage time when run on every record."""
    v = values.cast(pl.String)
    distinct = v.drop_nulls().unique()
    norm = pl.DataFrame({"v": distinct}).select(normalise_name("v")).to_series()
    return v.replace_strict(distinct, norm, default=None, return_dtype=pl.String)


def _finish(p: _Pending, n_pairs: int) -> LinkResult:
    n = p.records.height
    parts = list(p.parts)
    left_rows = np.flatnonzero(~p.done)
    if left_rows.size:
        words = pl.Series([MISSING_REQUIRED, *_FAILURES[1:]], dtype=pl.String)  # no failure: a key was missing
        parts.append(_decisions(left_rows, reason=words.gather(p.first_failure[left_rows].astype(np.int64))))
    parts = [x for x in parts if x.height]
    decided = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=_DECISION)
    assert decided.height == n and decided["__row"].n_unique() == n, "linkage decided a record twice or not at all"
    decided = decided.sort("__row")
    out = pl.concat([p.records, decided], how="horizontal")
    is_linked = pl.col("citizen_id").is_not_null()
    linked = out.filter(is_linked).drop("__row", "reason")
    quarantine = out.filter(~is_linked).drop("__row", "citizen_id", "match_method", "match_probability")
    assert linked.height + quarantine.height == n, "records in != linked + quarantined"
    # candidate_pairs: scored (name tuple, person) pairs of this source's distinct name tuples
    stats = {"records": n, "linked": linked.height, "quarantined": quarantine.height, "candidate_pairs": n_pairs}
    mask = decided["citizen_id"].is_not_null().to_numpy()
    return LinkResult(p.source, linked, quarantine, stats, np.flatnonzero(mask), np.flatnonzero(~mask))


class KeySpec(Protocol):
    """How a source keys people: the identifying columns it holds and those every record must
    have. The caller passes it (``sources.schemas.SourceSchema`` is one), so identity knows no
    source: linkage sits on the ground floor, below the sources that use it."""

    keys: Mapping[str, Any]
    required_keys: tuple[str, ...]


def link_sources(records: Mapping[str, pl.DataFrame], register: "pl.DataFrame | RegisterIndex", *,
                 schemas: Mapping[str, KeySpec], settings: Mapping[str, Any] | None = None) -> dict[str, LinkResult]:
    """Link several sources (a ``SourceBatch.records``-style mapping) in one pass.

    Same result as ``link_records`` per source, but the name + birth-date records of all
    sources are scored in a single Splink run (one register load, one blocking pass).
    ``schemas``: each source's :class:`KeySpec`. ``register``: the whole register frame
    (:func:`.register.build_register`) or a national :class:`RegisterIndex`, which gives the
    same result: the name step then scores only the register rows the blocking rules select,
    with the prior from the national register size.
    """
    st = resolve_settings(dict(settings) if settings else None)
    if isinstance(register, RegisterIndex):
        register.check_settings(st["splink"])
    key_tables: dict[str, pl.DataFrame] = {}
    pending = [_deterministic(src, schemas[src], df, register, st, key_tables) for src, df in records.items()]
    named = [(i, p.names) for i, p in enumerate(pending) if p.names is not None and p.names.height]
    n_pairs: dict[int, int] = {}
    if named:
        allnames = pl.concat([nm.with_columns(pl.lit(i, pl.UInt32).alias("__src")) for i, nm in named], how="vertical")
        tuples = allnames.select(_NAME_FIELDS).unique(maintain_order=True).with_row_index("unique_id").with_columns(
            pl.col("unique_id").cast(pl.Int64))
        pairs = _score(tuples, register, st)
        dec = decide(pairs, st["threshold"])
        per_row = allnames.join(tuples, on=list(_NAME_FIELDS), how="left", nulls_equal=True).join(
            dec, on="unique_id", how="left")
        counts = pairs.group_by("unique_id").len()
        per_row = per_row.join(counts, on="unique_id", how="left")
        for i, _ in named:
            sub = per_row.filter(pl.col("__src") == i)
            linked = sub.filter(pl.col("decision") == "linked")
            pending[i].parts.append(
                _decisions(linked["__row"], linked["citizen_id"], PROBABILISTIC, linked["match_probability"]))
            rest = sub.filter((pl.col("decision") != "linked") | pl.col("decision").is_null())
            pending[i].parts.append(_decisions(rest["__row"], reason=rest["decision"].fill_null(NO_CANDIDATE)))
            n_pairs[i] = int(sub.unique("unique_id")["len"].fill_null(0).sum())
    return {p.source: _finish(p, n_pairs.get(i, 0)) for i, p in enumerate(pending)}


def _score(tuples: pl.DataFrame, register: "pl.DataFrame | RegisterIndex", st: dict[str, Any]) -> pl.DataFrame:
    """Splink pairs of the name tuples against the register, or against the candidate rows
    of an index (a semi-join on the blocking keys) with the national prior."""
    if isinstance(register, RegisterIndex):
        # a tuple's pairs do not depend on the other tuples: Splink runs over slices of them
        # keep its memory bounded (at 146M people a tuple has ~50 candidates)
        parts = [score_pairs(c, register.candidates(c), st, n_register=register.n_scoreable)
                 for c in tuples.iter_slices(max(1, register.tuples_per_run))]
        return pl.concat(parts, how="vertical")
    return score_pairs(tuples, register, st)


def link_records(source: str, records: pl.DataFrame, register: "pl.DataFrame | RegisterIndex", *, schema: KeySpec,
                 settings: Mapping[str, Any] | None = None) -> LinkResult:
    """Link one source's records to the register (see the module docstring for the rules)."""
    return link_sources({source: records}, register, schemas={source: schema}, settings=settings)[source]


def _ratio(a: int, b: int) -> float | None:
    return None if b == 0 else round(a / b, 6)


def linkage_report(results: Mapping[str, LinkResult] | Iterable[LinkResult], truth: pl.DataFrame, *,
                   truth_rows: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Precision and recall of linkage per source against ground truth (JSON-serialisable).

    ``truth``: source, record_id, true_citizen_id (null when the record belongs to
    nobody in the register), optionally error_kind. A linked record is correct when its
    citizen_id equals true_citizen_id. Precision = correct / linked; recall = correct /
    records whose true citizen exists (non-null true_citizen_id). Records absent from
    ``truth`` are counted (``records_without_truth``) and left out of both ratios.
    ``wrongly_linked`` is the number of records attached to the wrong person (or to
    somebody when they belong to nobody): the people a scheme would judge on someone
    else's record.

    ``truth_rows`` (optional): per source, the truth row of each record given to linkage, in
    their order (the generator's truth is aligned with its records). With it, and results
    that know their rows' positions, each record's truth is taken by position instead of by
    a join on record_id: the same report, without hashing every record id twice.
    """
    res = list(results.values()) if isinstance(results, Mapping) else list(results)
    tcols = ["source", "record_id", "true_citizen_id"] + (["error_kind"] if "error_kind" in truth.columns else [])
    t = truth.select(tcols).with_columns(pl.col("source").cast(pl.String), pl.col("record_id").cast(pl.String),
                                         pl.col("true_citizen_id").cast(pl.Int64))
    per_source: dict[str, Any] = {}
    totals = {"records": 0, "linked": 0, "quarantined": 0, "correct": 0, "wrongly_linked": 0, "with_true_citizen": 0,
              "records_without_truth": 0}
    by_method: dict[str, dict[str, int]] = {}
    by_reason_all: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    t = t.with_columns(__in_truth=pl.lit(True))
    by_position = [truth_rows is not None and r.linked_rows is not None and r.source in truth_rows for r in res]
    if not all(by_position):
        by_src = {k[0] if isinstance(k, tuple) else k: v.drop("source")
                  for k, v in t.partition_by("source", as_dict=True).items()}
        empty = t.clear().drop("source")
    for r, positional in zip(res, by_position):
        linked = r.linked.select(pl.col("record_id").cast(pl.String), "citizen_id", "match_method")
        quarantined = r.quarantine.select(pl.col("record_id").cast(pl.String), "reason")
        if positional:
            rows, ts = truth_rows[r.source], t.drop("source")
            lk = beside_truth(linked, ts.gather(rows[r.linked_rows]), r.source)
            qk = beside_truth(quarantined, ts.gather(rows[r.quarantine_rows]), r.source)
        else:
            ts = by_src.get(r.source, empty)
            lk, qk = linked.join(ts, on="record_id", how="left"), quarantined.join(ts, on="record_id", how="left")
        rep, kinds = _source_report(r, lk, qk)
        per_source[r.source] = rep
        for key in totals:
            totals[key] += rep[key]
        for method, m in rep["linked_by_method"].items():
            agg = by_method.setdefault(method, {"linked": 0, "correct": 0})
            agg["linked"] += m["linked"]
            agg["correct"] += m["correct"]
        for k, v in rep["quarantined_by_reason"].items():
            by_reason_all[k] = by_reason_all.get(k, 0) + v
        for kind, outcome, cnt in kinds:
            d = by_kind.setdefault(kind, {"linked_correct": 0, "linked_wrong": 0, "quarantined": 0})
            d[outcome] += int(cnt)
    for agg in by_method.values():
        agg["precision"] = _ratio(agg["correct"], agg["linked"])
    overall = {**totals, "precision": _ratio(totals["correct"], totals["correct"] + totals["wrongly_linked"]),
               "recall": _ratio(totals["correct"], totals["with_true_citizen"]),
               "quarantined_by_reason": dict(sorted(by_reason_all.items())),
               "linked_by_method": dict(sorted(by_method.items()))}
    out: dict[str, Any] = {"overall": overall, "sources": per_source}
    if by_kind:
        out["by_error_kind"] = dict(sorted(by_kind.items()))
    return out


def beside_truth(part: pl.DataFrame, truth: pl.DataFrame, source: str) -> pl.DataFrame:
    """``part`` beside its truth rows taken by position (``LinkResult.linked_rows`` into
    ``merge_batches``' ``truth_rows``): what the left join on record_id gives when every
    record has its truth row. The record ids must agree, or it stops (AssertionError)."""
    if not part["record_id"].cast(pl.String).equals(truth["record_id"].cast(pl.String), check_names=False):
        raise AssertionError(f"{source}: the truth rows given by position are not the records' rows")
    return pl.concat([part, truth.drop("record_id")], how="horizontal")


def _source_report(r: LinkResult, lk: pl.DataFrame, qk: pl.DataFrame) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    """One source's counts and (error kind, outcome, count) rows, from its linked records
    ``lk`` (record_id, citizen_id, match_method) and quarantined ones ``qk`` (record_id,
    reason), each beside its truth row (true_citizen_id, optionally error_kind, and
    __in_truth: null where the record has none)."""
    in_truth_l = lk.filter(pl.col("__in_truth").fill_null(False))
    in_truth_q = qk.filter(pl.col("__in_truth").fill_null(False))
    no_truth = (lk.height - in_truth_l.height) + (qk.height - in_truth_q.height)
    correct_l = in_truth_l.with_columns(correct=(pl.col("citizen_id") == pl.col("true_citizen_id")).fill_null(False))
    n_correct = int(correct_l["correct"].sum())
    n_linked = in_truth_l.height
    n_true = int(in_truth_l["true_citizen_id"].is_not_null().sum() + in_truth_q["true_citizen_id"].is_not_null().sum())
    methods = correct_l.group_by("match_method").agg(linked=pl.len(), correct=pl.col("correct").sum()).sort("match_method")
    m_out = {row["match_method"]: {"linked": int(row["linked"]), "correct": int(row["correct"]),
                                   "precision": _ratio(int(row["correct"]), int(row["linked"]))}
             for row in methods.iter_rows(named=True)}
    reasons = {k: int(v) for k, v in r.quarantine.group_by("reason").len().sort("reason").iter_rows()}
    rep = {
        "records": r.n_records,
        "linked": r.linked.height,
        "quarantined": r.quarantine.height,
        "quarantined_by_reason": reasons,
        "linked_by_method": m_out,
        "correct": n_correct,
        "wrongly_linked": n_linked - n_correct,
        "with_true_citizen": n_true,
        "records_without_truth": no_truth,
        "precision": _ratio(n_correct, n_linked),
        "recall": _ratio(n_correct, n_true),
    }
    kinds: list[tuple[str, str, int]] = []
    if "error_kind" in lk.columns:
        allk = pl.concat([
            correct_l.select(pl.col("error_kind").cast(pl.String).fill_null("none"),
                             outcome=pl.when(pl.col("correct")).then(pl.lit("linked_correct")).otherwise(pl.lit("linked_wrong"))),
            in_truth_q.select(pl.col("error_kind").cast(pl.String).fill_null("none"), outcome=pl.lit("quarantined")),
        ])
        kinds = list(allk.group_by("error_kind", "outcome").len().iter_rows())
    return rep, kinds
