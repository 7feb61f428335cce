"""A rating policy as data: pydantic models for the YAML files.

Modelled on OpenFisca's dated parameters: every rule and consequence carries a
`reference` to where it comes from, rules can be dated (`valid_from`/`valid_until`),
and the whole policy has effective dates. Nothing here is executed; the engine reads it.

Every number is a strict integer (no `true`, no `2.5`, no `"10"`) or a finite float, and
bounded to what the engine's columns hold: points are int16 (|points| <= 10,000), cap
totals int32 (|cap.points| <= 1,000,000), balances int32 (base, breakpoints, band cutoffs
and compared values within +-1e9), dates 1900-01-01..2199-12-31. So `policy check`
refuses whatever `run` could not compute.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .conditions import (BALANCE_LIMIT, EVENT_TYPE_RE, Condition, check_depth, check_event_type,
                         event_types_used, register_holders, uses_band, walk)

ID_RE = r"^[a-z0-9][a-z0-9_\-]*$"
POINTS_LIMIT = 10_000        # int16 in the engine (32,767), with room for per-unit truncation
CAP_LIMIT = 1_000_000        # cap totals are int32 and saturate at 2**30
RULES_PER_EVENT_TYPE = 8     # entry_id = event_row * 8 + rule slot (engine/ledger.py SLOT_BITS = 3)
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def _iso_date(v):
    """A date written YYYY-MM-DD (YAML leaves it as text), within FIRST_DAY..LAST_DAY."""
    if isinstance(v, dt.datetime) or not isinstance(v, (str, dt.date)):
        raise ValueError("expected a date written YYYY-MM-DD, e.g. 2024-07-01")
    if isinstance(v, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError("expected a date written YYYY-MM-DD, e.g. 2024-07-01")
        try:
            v = dt.date.fromisoformat(v)
        except ValueError as exc:
            raise ValueError(f"no such day: {exc}") from None
    if not FIRST_DAY <= v <= LAST_DAY:
        raise ValueError(f"expected a date from {FIRST_DAY} to {LAST_DAY}")
    return v


Date = Annotated[dt.date, BeforeValidator(_iso_date)]
Points = Annotated[int, Field(strict=True, ge=-POINTS_LIMIT, le=POINTS_LIMIT)]
Balance = Annotated[int, Field(strict=True, ge=-BALANCE_LIMIT, le=BALANCE_LIMIT)]
Flag = Annotated[bool, Field(strict=True)]
Share = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]


Category = Literal[
    "finance", "law", "civic", "health", "education", "family", "mobility",
    "work", "housing", "sport", "awards", "public_office", "other",
]
Context = Literal[
    "travel", "credit", "housing", "employment", "education", "services",
    "social_benefits", "leisure", "public_office", "family", "internet", "finance",
]
Kind = Literal["privilege", "restriction"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Strict):
    """A source a rule or consequence rests on."""

    title: str
    publisher: str | None = None
    year: int | None = Field(None, strict=True, ge=1, le=9999)
    url: str | None = None
    note: str | None = None


class Cap(_Strict):
    """At most `points` from this rule per citizen per period of `period_months` months.

    Periods are calendar-aligned (12 months = calendar years). For a negative rule the
    cap is negative too: no more than that many points lost per period.
    """

    points: int = Field(strict=True, ge=-CAP_LIMIT, le=CAP_LIMIT,
                        description="maximum total points per period (same sign as the rule)")
    period_months: int = Field(12, strict=True, ge=1, le=120)


class Rule(_Strict):
    """How one event type scores."""

    id: str = Field(pattern=ID_RE)
    event_type: str = Field(description="dotted event type, e.g. fine.traffic")
    category: Category
    description: str = ""
    points: Points | None = Field(None, description="fixed points per event")
    points_per_unit: float | None = Field(
        None, strict=True, allow_inf_nan=False, ge=-POINTS_LIMIT, le=POINTS_LIMIT,
        description="points per unit of the event's amount (truncated toward zero)"
    )
    unit: str | None = Field(None, description="unit of `amount` for per-unit rules, e.g. hours")
    cap: Cap | None = None
    expires_after_months: int | None = Field(None, strict=True, ge=1, le=1200)
    valid_from: Date | None = Field(None, description="only events on or after this date score")
    valid_until: Date | None = Field(None, description="only events before this date score")
    reference: str = Field(min_length=1, description="key into the policy's references")

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, v: str) -> str:
        return check_event_type(v)

    @model_validator(mode="after")
    def _points(self) -> "Rule":
        if (self.points is None) == (self.points_per_unit is None):
            raise ValueError("give exactly one of 'points' (fixed) or 'points_per_unit'")
        if self.points_per_unit is not None and not self.unit:
            raise ValueError("a per-unit rule needs 'unit' (what the event's amount counts)")
        if self.points == 0 or self.points_per_unit == 0:
            raise ValueError("points must not be zero")
        if self.cap is not None and (self.cap.points > 0) != (self.sign > 0):
            raise ValueError("cap.points must have the same sign as the rule's points")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    @property
    def sign(self) -> int:
        v = self.points if self.points is not None else self.points_per_unit
        return 1 if v > 0 else -1


class Closure(_Strict):
    """An event that ends earlier entries: e.g. paying the debt removes a debtor listing."""

    id: str = Field(pattern=ID_RE)
    event_type: str
    closes: list[str] = Field(min_length=1, description="event types whose open entries this ends")
    within_days: int = Field(0, strict=True, ge=0, le=365, description="the entry ends this many days after")
    description: str = ""
    reference: str = Field(min_length=1)

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, v: str) -> str:
        return check_event_type(v)

    @field_validator("closes")
    @classmethod
    def _closes(cls, v: list[str]) -> list[str]:
        for t in v:
            check_event_type(t)
        return v


class Breakpoint(_Strict):
    balance: Balance
    score: int = Field(strict=True, ge=0, le=99)


class Scale(_Strict):
    """Piecewise-linear map from a point balance to a 00-99 score, clamped at the ends.

    Between two breakpoints the score is s0 + floor((b - b0) * (s1 - s0) / (b1 - b0)),
    in integers, so every score can be recomputed by hand.
    """

    breakpoints: list[Breakpoint] = Field(min_length=2)

    @field_validator("breakpoints")
    @classmethod
    def _increasing(cls, v: list[Breakpoint]) -> list[Breakpoint]:
        for a, b in zip(v, v[1:]):
            if b.balance <= a.balance:
                raise ValueError("breakpoint balances must increase strictly")
            if b.score < a.score:
                raise ValueError("breakpoint scores must not decrease")
        return v


class BandCutoff(_Strict):
    band: str
    min_balance: Balance | None = Field(None, description="lowest balance in this band; null for the last")


class BandCap(_Strict):
    """Whatever the balance, the band is no better than `band` while `when` holds."""

    when: Condition
    band: str
    reference: str = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _depth(cls, v):
        return check_depth(v)


class Bands(_Strict):
    """Named bands (grades) on a balance, best first; the last band has min_balance null."""

    basis: Literal["balance_status", "balance_level"] = "balance_status"
    cutoffs: list[BandCutoff] = Field(min_length=2)
    caps: list[BandCap] = []
    reference: str = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> "Bands":
        mins = [c.min_balance for c in self.cutoffs]
        if mins[-1] is not None or any(m is None for m in mins[:-1]):
            raise ValueError("every band but the last needs min_balance; the last has none")
        if any(b >= a for a, b in zip(mins[:-2], mins[1:-1])):
            raise ValueError("band cutoffs must be listed best first, min_balance decreasing")
        names = [c.band for c in self.cutoffs]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        for cap in self.caps:
            if cap.band not in names:
                raise ValueError(f"cap names unknown band '{cap.band}'; bands are {names}")
            if uses_band(cap.when):
                raise ValueError("a band cap's condition cannot itself depend on the band")
        return self

    @property
    def names(self) -> list[str]:
        return [c.band for c in self.cutoffs]


class RatingSpec(_Strict):
    """How entries become the two numbers.

    status (current merit) = scale of base_status + all entries in force;
    level (prospects) = scale of base_level + entries in force that occurred within
    the last `level_window_months` months. A negative entry stops counting
    `negative_expiry_bound_months` after it occurred at the latest (its rule's own
    expiry if sooner): expires_on = occurred_on + min(rule expiry, bound) months.
    """

    base_status: Balance = 0
    base_level: Balance = 0
    level_window_months: int = Field(12, strict=True, ge=1, le=120)
    negative_expiry_bound_months: int | None = Field(
        84, strict=True, ge=1, le=1200,
        description="no negative entry counts for longer than this many months after it occurred, "
                    "whatever its rule says (a negative rule without expiry gets this); default 84 "
                    "(7 years: 218-FZ Art. 7, FCRA s.605); null removes the bound",
    )
    status_scale: Scale
    level_scale: Scale
    bands: Bands | None = None


class Consequence(_Strict):
    """A privilege or restriction that applies while `when` holds."""

    id: str = Field(pattern=ID_RE)
    kind: Kind
    context: Context
    description: str
    when: Condition
    term_months: int | None = Field(
        None, strict=True, ge=1, le=120,
        description="imposed for renewable terms of this many months (e.g. 6-month rulings)",
    )
    human_review: Flag = Field(False, description="a person reviews before it takes effect")
    applies_to_household: Flag = Field(
        False, description="also imposed on the citizen's household ('joint punishment')"
    )
    reference: str = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _depth(cls, v):
        return check_depth(v)


class AppealsModel(_Strict):
    """How the simulation plays contests out under this policy (assumptions, not rules).

    People who know a record is wrong contest more often than people with a correct one;
    reviewers overturn most erroneous entries and a few correct ones.
    """

    share_contesting_erroneous: Share = Field(0.25, description="of negative entries that are erroneous")
    share_contesting_correct: Share = Field(0.02, description="of correct negative entries")
    reviewer_accuracy: Share = Field(0.9, description="chance an erroneous entry is overturned")
    wrong_overturn: Share = Field(0.05, description="chance a correct entry is overturned")


class ContestSpec(_Strict):
    """How a citizen may contest an entry (used by store and simulate)."""

    allowed: Flag = True
    suspend_while_contested: Flag = Field(False, description="points stop counting at once")
    review_deadline_days: int = Field(30, strict=True, ge=1, le=365)
    overdue_resolves_for_citizen: Flag = True
    simulation: AppealsModel = AppealsModel()


class Policy(_Strict):
    """A complete, versioned rating policy."""

    schema_version: Literal[1] = 1
    name: str = Field(pattern=ID_RE)
    version: str
    title: str
    description: str
    effective_from: Date
    effective_to: Date | None = None
    references: dict[str, Reference] = Field(min_length=1)
    assumptions: list[str] = []
    rating: RatingSpec
    rules: list[Rule] = Field(min_length=1)
    closures: list[Closure] = []
    consequences: list[Consequence] = []
    contest: ContestSpec = ContestSpec()

    @model_validator(mode="after")
    def _cross_checks(self) -> "Policy":
        refs = set(self.references)
        seen: set[str] = set()
        for kind, items in (("rules", self.rules), ("closures", self.closures),
                            ("consequences", self.consequences)):
            for i, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(f"{kind}[{i}].id: '{item.id}' is used twice")
                seen.add(item.id)
                if item.reference not in refs:
                    raise ValueError(
                        f"{kind}[{i}].reference: '{item.reference}' is not a key of references "
                        f"(known: {sorted(refs)})"
                    )
        bands = self.rating.bands
        if bands is not None:
            if bands.reference not in refs:
                raise ValueError(f"rating.bands.reference: '{bands.reference}' is not in references")
            for i, cap in enumerate(bands.caps):
                if cap.reference not in refs:
                    raise ValueError(f"rating.bands.caps[{i}].reference: '{cap.reference}' is not in references")
        for i, c in enumerate(self.consequences):
            if uses_band(c.when) and bands is None:
                raise ValueError(f"consequences[{i}].when: uses 'band' but the policy defines no bands")
            for b in _bands_named(c.when):
                if bands is not None and b not in bands.names:
                    raise ValueError(f"consequences[{i}].when: unknown band '{b}' (bands: {bands.names})")
        if self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        per_type: dict[str, int] = {}
        for r in self.rules:
            per_type[r.event_type] = per_type.get(r.event_type, 0) + 1
            if per_type[r.event_type] > RULES_PER_EVENT_TYPE:
                raise ValueError(f"rules: more than {RULES_PER_EVENT_TYPE} rules score '{r.event_type}'; "
                                 f"the engine allows at most {RULES_PER_EVENT_TYPE} per event type")
        return self

    @property
    def scored_event_types(self) -> list[str]:
        return sorted({r.event_type for r in self.rules})

    @property
    def flag_event_types(self) -> list[str]:
        """Event types that conditions test with has_active, in a stable order."""
        out: set[str] = set()
        for c in self.consequences:
            out |= event_types_used(c.when)
        if self.rating.bands:
            for cap in self.rating.bands.caps:
                out |= event_types_used(cap.when)
        return sorted(out)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def expiry_months(self, rule: Rule) -> int | None:
        """Months an entry of `rule` counts: its own expiry, bounded for negative rules by
        rating.negative_expiry_bound_months (None: it never expires)."""
        own, bound = rule.expires_after_months, self.rating.negative_expiry_bound_months
        if rule.sign > 0 or bound is None:
            return own
        return bound if own is None else min(own, bound)

    def consequence(self, cid: str) -> Consequence:
        for c in self.consequences:
            if c.id == cid:
                return c
        raise KeyError(cid)


def _bands_named(cond) -> list[str]:
    return [b for c in walk(cond) for b in c.bands_named()]


# a condition kind registered later must parse inside these too
register_holders(BandCap, Bands, RatingSpec, Consequence, Policy)
