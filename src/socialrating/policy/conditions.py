"""The condition language of consequences and band caps: structured data, never eval.

A condition is a mapping with exactly one key:

    {status: {lt: 20}}                     current-merit score 00-99
    {level: {gte: 70}}                     prospects score 00-99
    {balance_status: {lte: 900}}           raw point balance behind status
    {balance_level: {gt: 0}}               raw point balance behind level
    {band: {in: [C, D]}}                   named band (grade), if the policy has bands
    {has_active: court.dishonest_debtor}   at least one entry of this type in force
    {has_active: {event_type: fine.traffic, at_least: 3}}
    {all: [cond, ...]}   {any: [cond, ...]}   {not: cond}

The engine evaluates these over whole columns; `describe` renders them in words for
the `because` column and for the citizen's record.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from .refused import refusal_reason

METRICS = ("status", "level", "balance_status", "balance_level")

#: Balances are int32 in the engine's ratings (base + entries must fit), so every number a
#: policy compares with a balance or places on a scale stays well inside that range.
BALANCE_LIMIT = 1_000_000_000
#: all/any/not may nest this deep; deeper is a mistake (or an attack), not a policy.
MAX_CONDITION_DEPTH = 32
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")

Bound = Annotated[int, Field(strict=True, ge=-BALANCE_LIMIT, le=BALANCE_LIMIT)]


def check_event_type(v: str) -> str:
    """A dotted lower-case type that is not a refused category (speech, location, ...)."""
    if not EVENT_TYPE_RE.fullmatch(v):
        raise ValueError("expected a dotted lower-case event type such as 'fine.traffic'")
    reason = refusal_reason(v)
    if reason:
        raise ValueError(f"event type '{v}' is refused: {reason}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Strict):
    """Bounds on a number; every bound given must hold."""

    lt: Bound | None = None
    lte: Bound | None = None
    gt: Bound | None = None
    gte: Bound | None = None
    eq: Bound | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> "Compare":
        if all(v is None for v in (self.lt, self.lte, self.gt, self.gte, self.eq)):
            raise ValueError("give at least one of lt, lte, gt, gte, eq")
        return self

    def holds(self, x):
        """Where the bounds hold, over a NumPy array (or a scalar)."""
        import numpy as np

        x = np.asarray(x)
        ok = np.ones(x.shape, dtype=bool)
        for bound, op in (("lt", np.less), ("lte", np.less_equal), ("gt", np.greater),
                          ("gte", np.greater_equal), ("eq", np.equal)):
            v = getattr(self, bound)
            if v is not None:
                ok &= op(x, v)
        return ok

    def words(self, what: str) -> str:
        ops = {"lt": "below", "lte": "at most", "gt": "above", "gte": "at least", "eq": "equal to"}
        parts = [f"{what} {ops[k]} {v}" for k, v in self.model_dump().items() if v is not None]
        return " and ".join(parts)


class StatusCond(_Strict):
    status: Compare


class LevelCond(_Strict):
    level: Compare


class BalanceStatusCond(_Strict):
    balance_status: Compare


class BalanceLevelCond(_Strict):
    balance_level: Compare


class BandSet(_Strict):
    in_: list[str] = Field(alias="in", min_length=1)


class BandCond(_Strict):
    band: BandSet


class HasActiveSpec(_Strict):
    event_type: str
    at_least: int = Field(1, ge=1, le=1_000_000, strict=True)

    @field_validator("event_type")
    @classmethod
    def _type(cls, v: str) -> str:
        return check_event_type(v)


class HasActiveCond(_Strict):
    has_active: str | HasActiveSpec

    @field_validator("has_active")
    @classmethod
    def _type(cls, v):
        if isinstance(v, str):
            check_event_type(v)
        return v

    @property
    def spec(self) -> HasActiveSpec:
        if isinstance(self.has_active, str):
            return HasActiveSpec(event_type=self.has_active)
        return self.has_active


class AllCond(_Strict):
    all: list["Condition"] = Field(min_length=1)


class AnyCond(_Strict):
    any: list["Condition"] = Field(min_length=1)


class NotCond(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: "Condition" = Field(alias="not")


_TAGS = ("status", "level", "balance_status", "balance_level", "band", "has_active", "all", "any", "not")


def _tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = list(value)
        if len(keys) == 1 and keys[0] in _TAGS:
            return keys[0]
        return None
    if isinstance(value, BaseModel):
        for name, cls in _MODELS.items():
            if isinstance(value, cls):
                return name
    return None


Condition = Annotated[
    Union[
        Annotated[StatusCond, Tag("status")],
        Annotated[LevelCond, Tag("level")],
        Annotated[BalanceStatusCond, Tag("balance_status")],
        Annotated[BalanceLevelCond, Tag("balance_level")],
        Annotated[BandCond, Tag("band")],
        Annotated[HasActiveCond, Tag("has_active")],
        Annotated[AllCond, Tag("all")],
        Annotated[AnyCond, Tag("any")],
        Annotated[NotCond, Tag("not")],
    ],
    Discriminator(
        _tag,
        custom_error_type="condition",
        custom_error_message="a condition is a mapping with exactly one key, one of: " + ", ".join(_TAGS),
    ),
]

_MODELS: dict[str, type[BaseModel]] = {
    "status": StatusCond,
    "level": LevelCond,
    "balance_status": BalanceStatusCond,
    "balance_level": BalanceLevelCond,
    "band": BandCond,
    "has_active": HasActiveCond,
    "all": AllCond,
    "any": AnyCond,
    "not": NotCond,
}

for _m in (AllCond, AnyCond, NotCond):
    _m.model_rebuild()


def describe(cond: Any) -> str:
    """Render a condition in words, e.g. 'status below 20 and an active court.dishonest_debtor entry'."""
    if isinstance(cond, StatusCond):
        return cond.status.words("status")
    if isinstance(cond, LevelCond):
        return cond.level.words("level")
    if isinstance(cond, BalanceStatusCond):
        return cond.balance_status.words("status balance")
    if isinstance(cond, BalanceLevelCond):
        return cond.balance_level.words("level balance")
    if isinstance(cond, BandCond):
        bands = cond.band.in_
        return f"band {bands[0]}" if len(bands) == 1 else "band in " + ", ".join(bands)
    if isinstance(cond, HasActiveCond):
        s = cond.spec
        if s.at_least == 1:
            return f"an active '{s.event_type}' entry"
        return f"at least {s.at_least} active '{s.event_type}' entries"
    if isinstance(cond, AllCond):
        return " and ".join(_paren(c) for c in cond.all)
    if isinstance(cond, AnyCond):
        return " or ".join(_paren(c) for c in cond.any)
    if isinstance(cond, NotCond):
        return "not " + _paren(cond.not_)
    raise TypeError(f"not a condition: {cond!r}")


def _paren(cond: Any) -> str:
    text = describe(cond)
    return f"({text})" if isinstance(cond, (AllCond, AnyCond)) else text


def walk(cond: Any):
    """Yield every leaf and branch of a condition tree."""
    yield cond
    if isinstance(cond, AllCond):
        for c in cond.all:
            yield from walk(c)
    elif isinstance(cond, AnyCond):
        for c in cond.any:
            yield from walk(c)
    elif isinstance(cond, NotCond):
        yield from walk(cond.not_)


def depth(cond: Any) -> int:
    """Levels of all/any/not above the deepest leaf (a leaf alone is 1)."""
    if isinstance(cond, (AllCond, AnyCond)):
        return 1 + max(depth(c) for c in (cond.all if isinstance(cond, AllCond) else cond.any))
    if isinstance(cond, NotCond):
        return 1 + depth(cond.not_)
    return 1


def check_depth(cond: Any) -> Any:
    """Refuse conditions nested beyond MAX_CONDITION_DEPTH (the engine evaluates them recursively)."""
    d = depth(cond)
    if d > MAX_CONDITION_DEPTH:
        raise ValueError(f"condition nested {d} levels deep; at most {MAX_CONDITION_DEPTH}")
    return cond


def event_types_used(cond: Any) -> set[str]:
    return {c.spec.event_type for c in walk(cond) if isinstance(c, HasActiveCond)}


def uses_band(cond: Any) -> bool:
    return any(isinstance(c, BandCond) for c in walk(cond))


Metric = Literal["status", "level", "balance_status", "balance_level"]
