"""The error model of the data sources: what goes wrong between an event and the record.

``ErrorModel`` holds the rates as data (each with its anchor in ``calibration.yaml``,
section ``source_errors``); ``ErrorModel.default()`` loads them, ``ErrorModel.none()`` is
perfect data for counterfactuals. ``apply`` corrupts one source's true records, over
whole arrays, drawing only from the error branch of the seed (branch 1), so the
behaviour (branch 0) is identical whatever the error model: for the same seed, every
record that is not touched by an error is identical with and without errors.

Error kinds (one per record; a record is touched by at most one, in this order):

===================== ============ ===============================================================
kind                  erroneous    what happened
===================== ============ ===============================================================
wrong_status          yes          bank: an on-time loan year reported as 90+ days overdue
misattributed_owner   yes          traffic: a camera fine incurred by a household member sent to
                                   the registered vehicle owner (true_citizen_id = the driver)
camera_error          yes          traffic: a camera fine issued in error to the owner of a
                                   misread plate (true_citizen_id null: the event is about nobody)
stale_unpaid          yes          bailiffs: the debt was paid but ``enforcement.debt_paid`` never
                                   arrived; the proceeding stays open and exit bans keep being
                                   renewed (the renewals after payment are added records)
namesake_merge        yes          name-keyed sources: the record carries a full-name namesake's
                                   identifiers (true_citizen_id = the real person)
mistyped_id           yes          one digit of passport/INN/SNILS/phone mistyped; INN and SNILS
                                   typos usually fail the check digits (left for linkage to
                                   quarantine), passport and phone typos can hit another person
name_variant          no           ё written е, Latin transliteration, or given name and
                                   patronymic swapped: same person, harder name linkage
false_name_match      yes          courts, bailiffs: the record carries the identity of another
                                   person of the same sex and age who has no full-name namesake
                                   (a name search that picked the wrong person; BJS 5.5%)
misreported_detail    yes          bank: the status record's date or overdue amount is wrong
                                   (a material error that does not move the tier; FTC 2012)
duplicate             yes          the same event re-sent with a new record_id (``duplicate_of``)
late_arrival          no           reported_on later than the routine lag (a late debt_paid too)
none                  no
===================== ============ ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from .schemas import SCHEMAS

if TYPE_CHECKING:
    from ..population.calibration import Calibration
    from .agencies._base import Context

ERROR_KINDS: tuple[str, ...] = (
    "none", "late_arrival", "name_variant", "duplicate", "camera_error", "misattributed_owner",
    "namesake_merge", "stale_unpaid", "wrong_status", "mistyped_id", "false_name_match", "misreported_detail",
    "recycled_phone",  # marketplace accounts (sources/agencies/marketplace.py)
)
ERROR_KIND = pl.Enum(list(ERROR_KINDS))
NOT_ERRONEOUS: frozenset[str] = frozenset({"none", "late_arrival", "name_variant"})
K = {k: i for i, k in enumerate(ERROR_KINDS)}
ID_COLUMNS: dict[str, int] = {"passport": 10, "inn": 12, "snils": 11, "phone": 9}  # digits a typo may hit
NAME_KEYED_SOURCES = ("police", "bailiffs", "courts", "housing")
NAME_VARIANTS = ("none", "yo_dropped", "transliterated", "swapped_given_patronymic")
_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}
TRANSLIT_FROM = list(_TRANSLIT) + [c.upper() for c in _TRANSLIT]
TRANSLIT_TO = list(_TRANSLIT.values()) + [v.capitalize() for v in _TRANSLIT.values()]


class ErrorModel(BaseModel):
    """Rates of data errors (all shares per record unless stated). ``anchors`` says, per
    field, which published figure the rate comes from or what is assumed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicate_share: float = Field(0.0, ge=0, le=0.5)
    duplicate_lag_days_mean: float = Field(7.0, ge=0)
    camera_error_share: float = Field(0.0, ge=0, lt=1)
    owner_misattribution: float = Field(0.0, ge=0, le=1)
    bank_false_overdue: float = Field(0.0, ge=0, le=1)
    bank_detail_error: float = Field(0.0, ge=0, le=1)
    name_false_match: dict[str, float] = Field(default_factory=dict)
    stale_paid_missing: float = Field(0.0, ge=0, le=1)
    stale_paid_late: float = Field(0.0, ge=0, le=1)
    stale_paid_late_days_mean: float = Field(90.0, ge=0)
    late_share: float = Field(0.0, ge=0, le=1)
    late_days_mean: float = Field(60.0, ge=0)
    typo: dict[str, float] = Field(default_factory=lambda: {k: 0.0 for k in ID_COLUMNS})
    namesake_merge: float = Field(0.0, ge=0, le=1)
    name_variant: dict[str, float] = Field(default_factory=lambda: {k: 0.0 for k in NAME_VARIANTS[1:]})
    anchors: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def none(cls) -> "ErrorModel":
        """Perfect data: no record is corrupted, duplicated, dropped or late."""
        return cls(anchors={"*": "counterfactual: perfect data"})

    @classmethod
    def default(cls, calibration: "Calibration | None" = None) -> "ErrorModel":
        """The rates of ``calibration.yaml`` (``source_errors``) with their anchors."""
        from ..population.calibration import CalibrationError, load_calibration

        cal = calibration if calibration is not None and calibration.source_errors is not None else load_calibration()
        entries = cal.source_errors
        if entries is None:
            raise CalibrationError("calibration has no 'source_errors' section")
        anchors = {k: (v.source or "") + ("; " if v.source and v.assumption else "") + (v.assumption or "") for k, v in entries.items()}
        values = {k: v.value for k, v in entries.items() if k in cls.model_fields}
        derived, derived_anchors = derived_rates(cal)
        anchors.update(derived_anchors)
        return cls(**values, **derived, anchors=anchors)

    @property
    def is_none(self) -> bool:
        rates = [self.duplicate_share, self.camera_error_share, self.owner_misattribution, self.bank_false_overdue,
                 self.bank_detail_error, *self.name_false_match.values(),
                 self.stale_paid_missing, self.stale_paid_late, self.late_share, self.namesake_merge,
                 *self.typo.values(), *self.name_variant.values()]
        return all(r == 0 for r in rates)

    def rates(self) -> dict[str, float]:
        """Flat {name: rate} (dicts expanded as ``typo.passport`` etc.), for reports."""
        out: dict[str, float] = {}
        for k, v in self.model_dump(exclude={"anchors"}).items():
            if isinstance(v, dict):
                out.update({f"{k}.{kk}": float(vv) for kk, vv in v.items()})
            else:
                out[k] = float(v)
        return out

    def apply(self, source: str, rec: "Records", ctx: "Context") -> "Records":
        """Corrupt one source's true records (see the module docstring)."""
        if self.is_none:
            return rec
        return _apply(self, source, rec, ctx)


def derived_rates(cal: "Calibration") -> tuple[dict, dict[str, str]]:
    """The error-model rates computed from the published figures in ``error_rates``, so each
    figure lives in one place (``calibration.yaml``); returns (rates, their anchors).

    The mappings are written down in ``source_errors.credit_error_mapping``,
    ``name_match_mapping`` and ``camera_unusable_fined_share``: a yearly per-record rate p
    gives 1 - (1 - p)^years of people with at least one error among ``years`` records."""
    er = cal.error_rates
    se = cal.source_errors or {}

    def need(key: str):
        if key not in se:
            from ..population.calibration import CalibrationError

            raise CalibrationError(f"calibration: missing source_errors.{key}")
        return se[key].value

    years = float(need("credit_history_years"))
    worse = er.credit_report_worse_tier.value
    material = er.credit_report_material_error.value
    p_worse = 1.0 - (1.0 - worse) ** (1.0 / years)
    p_any = 1.0 - (1.0 - material) ** (1.0 / years)
    fp = er.name_check_false_positive.value
    sources = need("name_match_mapping")["sources"]
    rates = {
        "bank_false_overdue": p_worse,
        "bank_detail_error": max(p_any - p_worse, 0.0),
        "camera_error_share": er.traffic_camera_unusable.value * float(need("camera_unusable_fined_share")),
        "name_false_match": {str(src): fp for src in sources},
    }
    anchors = {
        "bank_false_overdue": f"derived: 1 - (1 - {worse})^(1/{years:g}): {er.credit_report_worse_tier.source} "
                              "(consumers moved to a worse tier) over the credit-history years (218-FZ Art. 7)",
        "bank_detail_error": f"derived: 1 - (1 - {material})^(1/{years:g}) - bank_false_overdue: "
                             f"{er.credit_report_material_error.source} (potentially material error)",
        "camera_error_share": f"derived: {er.traffic_camera_unusable.value} unusable ({er.traffic_camera_unusable.source}) "
                              f"x {need('camera_unusable_fined_share')} still fined (assumption)",
        "name_false_match": f"{fp}: {er.name_check_false_positive.source}, name-based checks' false positives",
    }
    return rates, anchors


@dataclass
class Records:
    """One source's records as numpy columns, before strings are made (internal)."""

    counter: np.ndarray       # int64: record number, mapped to record_id
    subject: np.ndarray       # int64: row of the person whose identifiers the record carries
    true: np.ndarray          # int64: row of the person the event is about, -1 = nobody
    etype: np.ndarray         # int8
    occurred: np.ndarray      # int32 days
    reported: np.ndarray      # int32 days
    amount: np.ndarray        # float64, NaN = null
    subtype: np.ndarray       # int8, -1 = none
    key_known: np.ndarray     # bool: the agency holds its optional numeric identifier
    extra: dict[str, np.ndarray]
    kind: np.ndarray = field(default=None)          # int8 error kind
    dup_of: np.ndarray = field(default=None)        # int64 counter of the original, -1
    id_override: np.ndarray = field(default=None)   # int64 mistyped identifier, -1 = none
    variant: np.ndarray = field(default=None)       # int8 index into NAME_VARIANTS
    subtype_labels: tuple[str, ...] = ()

    def __post_init__(self):
        m = self.counter.size
        if self.kind is None:
            self.kind = np.zeros(m, dtype=np.int8)
        if self.dup_of is None:
            self.dup_of = np.full(m, -1, dtype=np.int64)
        if self.id_override is None:
            self.id_override = np.full(m, -1, dtype=np.int64)
        if self.variant is None:
            self.variant = np.zeros(m, dtype=np.int8)

    def __len__(self) -> int:
        return int(self.counter.size)

    _COLS = ("counter", "subject", "true", "etype", "occurred", "reported", "amount", "subtype", "key_known",
             "kind", "dup_of", "id_override", "variant")

    def copy(self) -> "Records":
        """The same records in fresh arrays (a plain copy: cheaper than take(arange))."""
        return replace(self, **{c: getattr(self, c).copy() for c in self._COLS},
                       extra={k: v.copy() for k, v in self.extra.items()})

    def take(self, idx) -> "Records":
        return replace(self, **{c: getattr(self, c)[idx] for c in self._COLS}, extra={k: v[idx] for k, v in self.extra.items()})

    def append(self, other: "Records") -> "Records":
        return replace(self, **{c: np.concatenate((getattr(self, c), getattr(other, c))) for c in self._COLS},
                       extra={k: np.concatenate((v, other.extra[k])) for k, v in self.extra.items()})


# ---------------------------------------------------------------------------------------------


def id_column(source: str) -> str | None:
    cols = [c for c in SCHEMAS[source].keys if c in ID_COLUMNS]
    return cols[0] if cols else None


def has_names(source: str) -> bool:
    return "surname" in SCHEMAS[source].keys


def mistype(values: np.ndarray, ndigits: int, rng: np.random.Generator) -> np.ndarray:
    """Change one of the lowest ``ndigits`` digits of each value to a different digit."""
    v = np.asarray(values, dtype=np.int64)
    pos = rng.integers(0, ndigits, v.size)
    p10 = (10 ** pos).astype(np.int64)
    d = (v // p10) % 10
    new = (d + rng.integers(1, 10, v.size)) % 10
    return v + (new - d) * p10


def _rng(ctx: "Context", source: str, step: int) -> np.random.Generator:
    from .agencies._base import source_index

    return np.random.default_rng(ctx.seed_sequence(1, source_index(source), step))


def _apply(em: ErrorModel, source: str, rec: Records, ctx: "Context") -> Records:
    """Every error the model gives this source, in a fixed order (each step on a stream of
    its own, so one error's rate never moves another's draws)."""
    rec = rec.copy()
    if source == "bank":
        _bank_errors(em, rec, ctx)
    if source == "traffic_police":
        rec = _camera_errors(em, rec, ctx)
    if source == "bailiffs" and (em.stale_paid_missing > 0 or em.stale_paid_late > 0):
        rec = _stale_payments(em, rec, ctx)
    if em.name_false_match.get(source, 0.0) > 0:
        _false_name_match(rec, em.name_false_match[source], ctx, _rng(ctx, source, 10))
    elif source in NAME_KEYED_SOURCES and em.namesake_merge > 0:
        _namesake_merge(em, rec, ctx, source)
    own = _own_error_model(source)
    if own is not None:  # an agency's own error model (its module documents it)
        rec = own(rec, ctx, _rng(ctx, source, 9), K)
    col = id_column(source)
    if col is not None and em.typo.get(col, 0.0) > 0:
        _typos(em, rec, ctx, source, col)
    if has_names(source) and any(v > 0 for v in em.name_variant.values()):
        _name_variants(em, rec, ctx, source)
    if em.duplicate_share > 0 and len(rec):
        rec = _duplicates(em, rec, ctx, source)
    if em.late_share > 0:
        rng = _rng(ctx, source, 8)
        hit = np.flatnonzero((rec.kind == K["none"]) & (rng.random(len(rec)) < em.late_share))
        rec.reported[hit] += np.ceil(rng.exponential(em.late_days_mean, hit.size)).astype(np.int32)
        rec.kind[hit] = K["late_arrival"]
    return rec


def _own_error_model(source: str):
    """The agency module's ``apply_errors(rec, ctx, rng, kinds)``, if it has one: a new
    agency with errors of its own adds them in its module, not here."""
    from .agencies import AGENCIES

    for agency in AGENCIES:
        if agency.SOURCE == source:
            return getattr(agency, "apply_errors", None)
    return None


def _bank_errors(em: ErrorModel, rec: Records, ctx: "Context") -> None:
    """A timely payment reported as 90 days overdue; a status dated early or a wrong amount."""
    from .agencies import bank

    source = "bank"
    if em.bank_false_overdue > 0:
        rng = _rng(ctx, source, 0)
        hit = np.flatnonzero((rec.kind == K["none"]) & (rec.etype == bank.ON_TIME)
                             & (rng.random(len(rec)) < em.bank_false_overdue))
        rec.etype[hit] = bank.OVERDUE
        rec.amount[hit] = np.round(float(ctx.param("bank", "overdue_amount")["median"]) * np.exp(rng.normal(0, float(ctx.param("bank", "overdue_amount")["sigma"]), hit.size)))
        rec.kind[hit] = K["wrong_status"]
    if em.bank_detail_error > 0:
        rng = _rng(ctx, source, 9)
        hit = np.flatnonzero((rec.kind == K["none"]) & (rng.random(len(rec)) < em.bank_detail_error))
        rec.occurred[hit] -= rng.integers(1, 91, hit.size).astype(np.int32)  # status dated up to 3 months early
        over = hit[rec.etype[hit] == bank.OVERDUE]
        rec.amount[over] = np.round(rec.amount[over] * rng.uniform(0.5, 2.0, over.size))
        rec.kind[hit] = K["misreported_detail"]


def _camera_errors(em: ErrorModel, rec: Records, ctx: "Context") -> Records:
    """Camera fines sent to the vehicle's owner instead of the driver, and fines for
    offences that did not happen (camera errors), drawn like real camera fines."""
    from .agencies import traffic_police

    source = "traffic_police"
    camera = rec.extra["camera"] & (rec.etype == traffic_police.FINE)
    if em.owner_misattribution > 0:
        rng = _rng(ctx, source, 1)
        owner = ctx.vehicle_owner[rec.subject]
        hit = np.flatnonzero((rec.kind == K["none"]) & camera & (owner >= 0) & (owner != rec.subject)
                             & (rng.random(len(rec)) < em.owner_misattribution))
        rec.subject[hit] = owner[hit]
        rec.kind[hit] = K["misattributed_owner"]
    if em.camera_error_share > 0:
        rng = _rng(ctx, source, 2)
        cam = np.flatnonzero(camera)
        drivers = np.flatnonzero(ctx.driver)
        k = int(rng.poisson(cam.size * em.camera_error_share / (1.0 - em.camera_error_share))) if cam.size and drivers.size else 0
        if k:
            like = cam[rng.integers(0, cam.size, k)]  # amounts, lags, key coverage like real camera fines
            new = rec.take(like)
            new.counter = rec.counter.max() + 1 + np.arange(k, dtype=np.int64)
            new.subject = drivers[rng.integers(0, drivers.size, k)]
            new.true = np.full(k, -1, dtype=np.int64)
            new.occurred = ctx.uniform_days(rng, k)
            new.reported = new.occurred + (rec.reported[like] - rec.occurred[like])
            new.kind = np.full(k, K["camera_error"], dtype=np.int8)
            new.amount = rec.amount[cam[rng.integers(0, cam.size, k)]]
            rec = rec.append(new)
    return rec


def _stale_payments(em: ErrorModel, rec: Records, ctx: "Context") -> Records:
    """Debt payments the bailiffs never record (the proceeding stays open, exit bans renew)
    or record late."""
    from .agencies import bailiffs

    rng = _rng(ctx, "bailiffs", 3)
    paid = np.flatnonzero((rec.kind == K["none"]) & (rec.etype == bailiffs.PAID))
    u = rng.random(paid.size)
    missing = paid[u < em.stale_paid_missing]
    late = paid[(u >= em.stale_paid_missing) & (u < em.stale_paid_missing + em.stale_paid_late)]
    rec.reported[late] += np.ceil(rng.exponential(em.stale_paid_late_days_mean, late.size)).astype(np.int32)
    rec.kind[late] = K["late_arrival"]
    if missing.size:
        stale_no = rec.extra["proceeding"][missing]
        keep = np.ones(len(rec), bool)
        keep[missing] = False
        # exit-ban renewals that would have continued because the payment is unknown
        bans = np.flatnonzero(keep & (rec.etype == bailiffs.EXIT_BAN) & np.isin(rec.extra["proceeding"], stale_no))
        extra = _stale_renewals(rec, bans, ctx)
        opened = keep & np.isin(rec.extra["proceeding"], stale_no) & (rec.etype != bailiffs.EXIT_BAN) & (rec.kind == K["none"])
        rec.kind[opened] = K["stale_unpaid"]
        rec = rec.take(np.flatnonzero(keep))
        if extra is not None:
            rec = rec.append(extra)
    return rec


def _namesake_merge(em: ErrorModel, rec: Records, ctx: "Context", source: str) -> None:
    """A record about someone filed under a namesake (same full name and birth date)."""
    rng = _rng(ctx, source, 4)
    start, size, rank = namesake_groups(ctx)
    s = size[rec.true.clip(0)]
    cand = np.flatnonzero((rec.kind == K["none"]) & (rec.true >= 0) & (s > 1) & (rng.random(len(rec)) < em.namesake_merge))
    t = rec.true[cand]
    other_rank = (rank[t] + 1 + rng.integers(0, s[cand] - 1)) % s[cand]
    rec.subject[cand] = namesake_order(ctx)[start[t] + other_rank]
    rec.kind[cand] = K["namesake_merge"]


def _typos(em: ErrorModel, rec: Records, ctx: "Context", source: str, col: str) -> None:
    """One digit of the source's identifier mistyped."""
    rng = _rng(ctx, source, 5)
    ids, valid = ctx_ids(ctx, col)
    has = rec.key_known & valid[rec.subject]
    hit = np.flatnonzero((rec.kind == K["none"]) & has & (rng.random(len(rec)) < em.typo[col]))
    rec.id_override[hit] = mistype(ids[rec.subject[hit]], ID_COLUMNS[col], rng)
    rec.kind[hit] = K["mistyped_id"]


def _name_variants(em: ErrorModel, rec: Records, ctx: "Context", source: str) -> None:
    """Names written another way: ё as е, transliterated, given name and patronymic swapped."""
    rng = _rng(ctx, source, 6)
    u = rng.random(len(rec))
    yo = name_has_yo(ctx)[rec.subject]
    nv = em.name_variant
    p_yo = np.where(yo, nv.get("yo_dropped", 0.0), 0.0)
    p_tr = nv.get("transliterated", 0.0)
    p_sw = nv.get("swapped_given_patronymic", 0.0)
    variant = np.select([u < p_yo, u < p_yo + p_tr, u < p_yo + p_tr + p_sw], [1, 2, 3], 0).astype(np.int8)
    hit = np.flatnonzero((rec.kind == K["none"]) & (variant > 0))
    rec.variant[hit] = variant[hit]
    rec.kind[hit] = K["name_variant"]


def _duplicates(em: ErrorModel, rec: Records, ctx: "Context", source: str) -> Records:
    """The same record sent again a little later, under a new record number."""
    rng = _rng(ctx, source, 7)
    src = np.flatnonzero(rng.random(len(rec)) < em.duplicate_share)
    if src.size:
        dup = rec.take(src)
        dup.counter = rec.counter.max() + 1 + np.arange(src.size, dtype=np.int64)
        dup.dup_of = rec.counter[src]
        dup.kind = np.full(src.size, K["duplicate"], dtype=np.int8)
        dup.reported = rec.reported[src] + 1 + (rng.geometric(1.0 / (1.0 + em.duplicate_lag_days_mean), src.size) - 1).astype(np.int32)
        rec = rec.append(dup)
    return rec


def _false_name_match(rec: Records, rate: float, ctx: "Context", rng: np.random.Generator) -> None:
    """A share ``rate`` of the records about someone carry another person's identity: a
    full-name namesake where there is one, else a person of the same sex and age. Records of
    one enforcement proceeding share the draw (the debtor is matched once, when it opens)."""
    u, v = _draws(rec, rng)
    cand = np.flatnonzero((rec.kind == K["none"]) & (rec.true >= 0) & (u < rate))
    if cand.size == 0:
        return
    t = rec.true[cand]
    start, size, rank = namesake_groups(ctx)
    a_start, a_size, a_rank = _group_index(ctx, "agesex", lambda: ctx.age.astype(np.int64) * 2 + ctx.female)
    named = size[t] > 1
    s = np.where(named, size[t], a_size[t])
    r = np.where(named, rank[t], a_rank[t])
    other = (r + 1 + (v[cand] * np.maximum(s - 1, 1)).astype(np.int64)) % np.maximum(s, 1)
    pick = np.where(named, namesake_order(ctx)[np.minimum(start[t] + other, ctx.n - 1)],
                    _cached(ctx, "agesex", lambda: None)[0][np.minimum(a_start[t] + other, ctx.n - 1)])
    ok = pick != t  # a person alone in their age-sex cell (tiny samples) keeps the record
    rec.subject[cand[ok]] = pick[ok]
    rec.kind[cand[ok]] = np.where(named[ok], K["namesake_merge"], K["false_name_match"]).astype(np.int8)


def _draws(rec: Records, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two uniforms per record; per proceeding when the records carry one."""
    if "proceeding" not in rec.extra:
        return rng.random(len(rec)), rng.random(len(rec))
    from ..identity._permute import derive_keys

    key = rng.integers(0, 2**63, 2)
    ids = rec.extra["proceeding"].astype(np.uint64)
    to_unit = lambda h: (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)  # noqa: E731
    return to_unit(derive_keys(int(key[0]), ids)), to_unit(derive_keys(int(key[1]), ids))


def _group_index(ctx: "Context", name: str, key_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: (start of their group in the cached order, group size, rank in group)."""

    def build():
        key = np.asarray(key_fn())
        order = np.argsort(key, kind="stable")
        ks = key[order]
        first = np.concatenate(([True], ks[1:] != ks[:-1])) if ks.size else np.zeros(0, bool)
        gstart = np.flatnonzero(first)
        gid = np.cumsum(first) - 1
        gsize = np.diff(np.append(gstart, ks.size))
        start, size, rank = (np.empty(ks.size, np.int64) for _ in range(3))
        start[order] = gstart[gid]
        size[order] = gsize[gid]
        rank[order] = np.arange(ks.size) - gstart[gid]
        return order, (start, size, rank)

    return _cached(ctx, name, build)[1]


def _stale_renewals(rec: Records, bans: np.ndarray, ctx: "Context") -> Records | None:
    """For each stale proceeding with exit bans, renewals every 6 months after its last ruling
    until the end of the window (the bailiffs never learnt of the payment)."""
    from .agencies import bailiffs

    if bans.size == 0:
        return None
    no = rec.extra["proceeding"][bans]
    order = np.lexsort((rec.occurred[bans], no))
    b = bans[order]
    last = np.flatnonzero(np.concatenate((no[order][1:] != no[order][:-1], [True])))
    lastb = b[last]
    end = ctx.d0 + ctx.span
    start = rec.occurred[lastb].astype(np.int64) + bailiffs.RENEWAL_DAYS
    reps = np.where(start < end, (end - start - 1) // bailiffs.RENEWAL_DAYS + 1, 0)
    if reps.sum() == 0:
        return None
    src = np.repeat(lastb, reps)
    j = np.arange(src.size) - np.repeat(np.cumsum(reps) - reps, reps)
    new = rec.take(src)
    new.occurred = (start[np.repeat(np.arange(lastb.size), reps)] + j * bailiffs.RENEWAL_DAYS).astype(np.int32)
    new.reported = new.occurred + (rec.reported[src] - rec.occurred[src])
    new.counter = rec.counter.max() + 1 + np.arange(src.size, dtype=np.int64)
    new.kind = np.full(src.size, K["stale_unpaid"], dtype=np.int8)
    return new


# ---------------------------------------------------------------------------------------------
# person-level helpers (cached on the context)


def _cached(ctx, name, fn):
    cache = ctx.__dict__.setdefault("_error_cache", {})
    if name not in cache:
        cache[name] = fn()
    return cache[name]


def namesake_groups(ctx: "Context") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: (start of their full-name group in ``namesake_order``, group size, rank)."""

    def key():
        p = ctx.people
        return ((p["surname"].to_numpy().astype(np.int64) * 128 + p["given_name"].to_numpy()) * 128
                + p["patronymic"].to_numpy()) * 2 + ctx.female

    return _group_index(ctx, "namesake", key)


def namesake_order(ctx: "Context") -> np.ndarray:
    namesake_groups(ctx)
    return ctx.__dict__["_error_cache"]["namesake"][0]


def ctx_ids(ctx: "Context", col: str) -> tuple[np.ndarray, np.ndarray]:
    def build():
        s = ctx.people.get_column(col)
        return s.fill_null(0).to_numpy().astype(np.int64), s.is_not_null().to_numpy()

    return _cached(ctx, "id:" + col, build)


def name_has_yo(ctx: "Context") -> np.ndarray:
    from .synthetic import person_names

    def build():
        sur, giv, pat = person_names(ctx)
        return (sur.str.contains("ё") | giv.str.contains("ё") | pat.str.contains("ё")).to_numpy()

    return _cached(ctx, "yo", build)
