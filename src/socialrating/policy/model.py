"""A rating policy as data: pydantic models for the YAML files.

Modelled on OpenFisca's dated parameters: every rule and consequence carries a
`reference` to where it comes from, rules can be dated (`valid_from`/`valid_until`),
and the whole policy has effective dates. Nothing here is executed; the engine reads it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .conditions import Condition, event_types_used, uses_band
from .refused import refusal_reason

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
ID_RE = r"^[a-z0-9][a-z0-9_\-]*$"

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
    year: int | None = None
    url: str | None = None
    note: str | None = None


class Cap(_Strict):
    """At most `points` from this rule per citizen per period of `period_months` months.

    Periods are calendar-aligned (12 months = calendar years). For a negative rule the
    cap is negative too: no more than that many points lost per period.
    """

    points: int = Field(description="maximum total points per period (same sign as the rule)")
    period_months: int = Field(12, ge=1, le=120)


class Rule(_Strict):
    """How one event type scores."""

    id: str = Field(pattern=ID_RE)
    event_type: str = Field(description="dotted event type, e.g. fine.traffic")
    category: Category
    description: str = ""
    points: int | None = Field(None, ge=-10_000, le=10_000, description="fixed points per event")
    points_per_unit: float | None = Field(
        None, description="points per unit of the event's amount (truncated toward zero)"
    )
    unit: str | None = Field(None, description="unit of `amount` for per-unit rules, e.g. hours")
    cap: Cap | None = None
    expires_after_months: int | None = Field(None, ge=1, le=1200)
    valid_from: dt.date | None = Field(None, description="only events on or after this date score")
    valid_until: dt.date | None = Field(None, description="only events before this date score")
    reference: str = Field(min_length=1, description="key into the policy's references")

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, v: str) -> str:
        if not EVENT_TYPE_RE.match(v):
            raise ValueError("expected a dotted lower-case event type such as 'fine.traffic'")
        reason = refusal_reason(v)
        if reason:
            raise ValueError(f"event type '{v}' is refused: {reason}")
        return v

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
    within_days: int = Field(0, ge=0, le=365, description="the entry ends this many days after")
    description: str = ""
    reference: str = Field(min_length=1)

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, v: str) -> str:
        return Rule._event_type(v)


class Breakpoint(_Strict):
    balance: int
    score: int = Field(ge=0, le=99)


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
    min_balance: int | None = Field(None, description="lowest balance in this band; null for the last")


class BandCap(_Strict):
    """Whatever the balance, the band is no better than `band` while `when` holds."""

    when: Condition
    band: str
    reference: str = Field(min_length=1)


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

    base_status: int = 0
    base_level: int = 0
    level_window_months: int = Field(12, ge=1, le=120)
    negative_expiry_bound_months: int | None = Field(
        84, ge=1, le=1200,
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
        None, ge=1, le=120,
        description="imposed for renewable terms of this many months (e.g. 6-month rulings)",
    )
    human_review: bool = Field(False, description="a person reviews before it takes effect")
    applies_to_household: bool = Field(
        False, description="also imposed on the citizen's household ('joint punishment')"
    )
    reference: str = Field(min_length=1)


class AppealsModel(_Strict):
    """How the simulation plays contests out under this policy (assumptions, not rules).

    People who know a record is wrong contest more often than people with a correct one;
    reviewers overturn most erroneous entries and a few correct ones.
    """

    share_contesting_erroneous: float = Field(0.25, ge=0, le=1, description="of negative entries that are erroneous")
    share_contesting_correct: float = Field(0.02, ge=0, le=1, description="of correct negative entries")
    reviewer_accuracy: float = Field(0.9, ge=0, le=1, description="chance an erroneous entry is overturned")
    wrong_overturn: float = Field(0.05, ge=0, le=1, description="chance a correct entry is overturned")


class ContestSpec(_Strict):
    """How a citizen may contest an entry (used by store and simulate)."""

    allowed: bool = True
    suspend_while_contested: bool = Field(False, description="points stop counting at once")
    review_deadline_days: int = Field(30, ge=1, le=365)
    overdue_resolves_for_citizen: bool = True
    simulation: AppealsModel = AppealsModel()


class Policy(_Strict):
    """A complete, versioned rating policy."""

    schema_version: Literal[1] = 1
    name: str = Field(pattern=ID_RE)
    version: str
    title: str
    description: str
    effective_from: dt.date
    effective_to: dt.date | None = None
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
    from .conditions import BandCond, walk

    return [b for c in walk(cond) if isinstance(c, BandCond) for b in c.band.in_]
