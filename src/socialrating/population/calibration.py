"""Typed access to ``calibration.yaml`` (every rate with its source or assumption).

``load_calibration()`` returns a :class:`Calibration`; a malformed file raises
:class:`CalibrationError` whose message names the offending key path, e.g.
``population.urban_share.value: Input should be a valid number``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

T = TypeVar("T")

DEFAULT_PATH = Path(__file__).with_name("calibration.yaml")

DISTRICTS: tuple[str, ...] = ("Central", "North-West", "South", "North Caucasus", "Volga", "Urals", "Siberia", "Far East")


class CalibrationError(ValueError):
    """The calibration file is missing, unreadable or malformed."""


class Sourced(BaseModel, Generic[T]):
    """A value with its provenance: a published ``source`` or a stated ``assumption``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: T
    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _has_provenance(self):
        if not (self.source or self.assumption):
            raise ValueError("needs a 'source' (publisher, year) or an 'assumption' (why)")
        return self


Share = Field(ge=0.0, le=1.0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingAge(_Strict):
    lower: int
    upper_men: int
    upper_women: int


class Region(_Strict):
    code: int = Field(ge=1, le=99)
    okato: int = Field(ge=1, le=99)
    district: str
    name: str
    weight: float = Field(gt=0)

    @field_validator("district")
    @classmethod
    def _known_district(cls, v: str) -> str:
        if v not in DISTRICTS:
            raise ValueError(f"unknown federal district {v!r}; expected one of {DISTRICTS}")
        return v


class Population(_Strict):
    total_2024: Sourced[int]
    total_2025: Sourced[int]
    urban_2024: Sourced[int]
    rural_2024: Sourced[int]
    urban_share: Sourced[float]
    by_district: Sourced[dict[str, int]]
    women_per_1000_men: Sourced[float]
    women_per_1000_men_70_plus: Sourced[float]
    below_working_age_share: Sourced[float]
    working_age_share: Sourced[float]
    above_working_age_share: Sourced[float]
    aged_65_plus_share: Sourced[float]
    aged_65_plus_count: Sourced[int]
    working_age_bounds: Sourced[WorkingAge]
    age_profile: Sourced[dict[int, float]]
    sex_ratio_profile: Sourced[dict[int, float]]

    @field_validator("by_district")
    @classmethod
    def _all_districts(cls, v: Sourced[dict[str, int]]):
        if set(v.value) != set(DISTRICTS):
            raise ValueError(f"districts must be exactly {DISTRICTS}, got {sorted(v.value)}")
        return v

    @field_validator("urban_share", "below_working_age_share", "working_age_share", "above_working_age_share", "aged_65_plus_share")
    @classmethod
    def _share(cls, v: Sourced[float]):
        if not 0.0 <= v.value <= 1.0:
            raise ValueError(f"share must be within [0, 1], got {v.value}")
        return v


class GtoBadges(_Strict):
    total: int
    gold: int
    silver: int
    bronze: int


class DriverShare(_Strict):
    men: float = Share
    women: float = Share
    max_age: int


class BaseRates(_Strict):
    credit_history_people: Sourced[int]
    active_borrowers: Sourced[int]
    bank_borrowers: Sourced[int]
    overdue_90_people_bank: Sourced[int]
    overdue_90_share_unsecured_loans: Sourced[float]
    enforcement_proceedings_9m: Sourced[int]
    enforcement_new_bank_debt_per_year: Sourced[int]
    enforcement_new_per_year_2017: Sourced[int]
    enforcement_debtors: Sourced[int]
    enforcement_share_by_kind: Sourced[dict[str, float]]
    exit_bans_stock: Sourced[int]
    exit_bans_stock_2023: Sourced[int]
    exit_ban_threshold_rub: Sourced[int]
    exit_ban_threshold_alimony_rub: Sourced[int]
    exit_ban_duration_months: Sourced[int]
    alimony_proceedings_open: Sourced[int]
    traffic_fines_per_year: Sourced[int]
    traffic_fines_camera_per_year: Sourced[int]
    traffic_fines_camera_share: Sourced[float]
    traffic_fines_camera_amount_rub: Sourced[float]
    convictions_per_year: Sourced[int]
    acquittal_share: Sourced[float]
    criminal_record_people: Sourced[int]
    volunteering_share_adults: Sourced[float]
    gto_badges_per_year: Sourced[GtoBadges]
    medical_checkups_per_year: Sourced[int]
    utility_unpaid_share_of_billed: Sourced[float]
    utility_households_in_arrears_share: Sourced[float]
    driver_share_adults: Sourced[DriverShare]
    licence_holders_share_adults: Sourced[float]
    drivers_who_drive_share_adults: Sourced[float]
    drunk_driving_per_year: Sourced[int]
    households: Sourced[int]
    single_person_household_share: Sourced[float]


class ErrorRates(_Strict):
    credit_report_material_error: Sourced[float]
    credit_report_score_change: Sourced[float]
    credit_report_worse_tier: Sourced[float]
    name_check_false_negative: Sourced[float]
    name_check_false_positive: Sourced[float]
    background_check_any_false_positive: Sourced[float]
    linkage_strong_precision: Sourced[float]
    linkage_strong_recall: Sourced[float]
    linkage_weak_precision: Sourced[float]
    linkage_weak_recall: Sourced[float]
    traffic_camera_unusable: Sourced[float]

    @model_validator(mode="after")
    def _shares(self):
        for name in type(self).model_fields:
            v = getattr(self, name).value
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: rate must be within [0, 1], got {v}")
        return self


class MotherAge(_Strict):
    mean: float
    sd: float
    min: int
    max: int


class AgeProbability(_Strict):
    probability: float = Share
    max_age: int | None = None
    min_age: int | None = None


class EmploymentBySex(_Strict):
    men: dict[int, float]
    women: dict[int, float]


class IncomeModel(_Strict):
    earnings_sd: float
    moscow_premium: float
    urban_premium: float
    pension_level: float
    child_weight: float


class SnilsCoverage(_Strict):
    child: float = Share
    adult: float = Share


class InnCoverage(_Strict):
    under_14: float = Share
    age_14_17: float = Share
    adult: float = Share


class PhoneCoverage(_Strict):
    under_10: float = Share
    age_10_13: float = Share
    age_14_17: float = Share
    adult_18_74: float = Share
    age_75_plus: float = Share


class IdentifierCoverage(_Strict):
    snils: SnilsCoverage
    inn: InnCoverage
    passport_14_plus: float = Share
    phone: PhoneCoverage


class NameParams(_Strict):
    surname_zipf_s: float
    surname_zipf_q: float
    given_zipf_s: float
    given_zipf_q: float
    wife_takes_surname: float = Share


class Model(_Strict):
    block_size: Sourced[int]
    urban_regions: Sourced[list[int]]
    couple_probability_men: Sourced[dict[int, float]]
    mother_age_at_birth: Sourced[MotherAge]
    children_with_single_parent_weight: Sourced[float]
    household_size_mean: Sourced[float]
    young_adults_with_parents: Sourced[AgeProbability]
    elderly_with_children: Sourced[AgeProbability]
    adults_with_relatives: Sourced[AgeProbability]
    employment_by_age: Sourced[EmploymentBySex]
    borrower_age_weight: Sourced[dict[int, float]]
    income_model: Sourced[IncomeModel]
    identifier_coverage: Sourced[IdentifierCoverage]
    identifier_region_moved_share: Sourced[float]
    inn_capacity_population: Sourced[int]
    names: Sourced[NameParams]


class Calibration(_Strict):
    population: Population
    regions: Sourced[list[Region]]
    base_rates: BaseRates
    error_rates: ErrorRates
    model: Model
    # Data-source models (socialrating.sources.agencies) and their error model
    # (socialrating.sources.errors): per agency, named entries each with a source or an
    # assumption. Optional so that older calibration files still load; the source
    # generator then falls back to the packaged defaults.
    sources: dict[str, dict[str, Sourced[Any]]] | None = None
    source_errors: dict[str, Sourced[Any]] | None = None

    @model_validator(mode="after")
    def _regions_cover_districts(self):
        codes = [r.code for r in self.regions.value]
        if len(set(codes)) != len(codes):
            raise ValueError("regions: duplicate region codes")
        missing = set(DISTRICTS) - {r.district for r in self.regions.value}
        if missing:
            raise ValueError(f"regions: no region for districts {sorted(missing)}")
        return self

    def district_shares(self) -> dict[str, float]:
        pop = self.population.by_district.value
        total = sum(pop.values())
        return {d: pop[d] / total for d in DISTRICTS}


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        lines.append(f"{loc or '<root>'}: {e['msg']}")
    return "; ".join(lines)


def parse_calibration(data: object, origin: str = "<data>") -> Calibration:
    """Validate an already-parsed mapping; raises CalibrationError naming the bad key(s)."""
    if not isinstance(data, dict):
        raise CalibrationError(f"{origin}: top level must be a mapping, got {type(data).__name__}")
    try:
        return Calibration.model_validate(data)
    except ValidationError as err:
        raise CalibrationError(f"{origin}: invalid calibration: {_format_errors(err)}") from None


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Load and validate the calibration file (default: the packaged ``calibration.yaml``)."""
    if path is None:
        return _default()
    return _load(Path(path))


def _load(path: Path) -> Calibration:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CalibrationError(f"{path}: cannot read calibration file ({err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CalibrationError(f"{path}: not valid YAML ({err})") from None
    return parse_calibration(data, str(path))


@lru_cache(maxsize=1)
def _default() -> Calibration:
    return _load(DEFAULT_PATH)
