"""The condition language of consequences and band caps: structured data, never eval.

A condition is a mapping with exactly one key, its *kind*:

    {status: {lt: 20}}                     current-merit score 00-99
    {level: {gte: 70}}                     prospects score 00-99
    {balance_status: {lte: 900}}           raw point balance behind status
    {balance_level: {gt: 0}}               raw point balance behind level
    {band: {in: [C, D]}}                   named band (grade), if the policy has bands
    {has_active: court.dishonest_debtor}   at least one entry of this type in force
    {has_active: {event_type: fine.traffic, at_least: 3}}
    {all: [cond, ...]}   {any: [cond, ...]}   {not: cond}

One home per kind
-----------------
Each kind is one class below (a `ConditionKind`, registered under its key with
`register_kind`). The class is everything the project knows about the kind:

* parsing: its pydantic fields (the key is the field), so the YAML, the error messages
  and `socialrating policy schema` all come from it;
* `describe`: the words for the `because` column and the citizen's record;
* `parts`: the conditions inside it (all/any/not), for `walk` and `depth`;
* `holds`: where it holds, vectorised over whole columns (the engine, the timeline, the
  linter's exhaustive search and recourse all evaluate through it);
* `holds_one`: whether it holds for one citizen, in plain Python (the reference
  implementation the tests compare the engine against);
* `with_numbers`: the condition with one citizen's values, marked (holds)/(fails);
* facts the linter and recourse reason with, instead of asking "which class is this":
  `reads` (the columns it reads), `event_counts` (event types it counts, and the count
  that matters), `balance_bounds` (raw balances it compares with), `bands_named`.

Columns
-------
`holds` reads a mapping of NumPy columns, one row per citizen (or per state being
searched): `status`, `level`, `balance_status`, `balance_level` (integers), `band`
(int codes, 0 = best, named by `band_names`) and `flag_column(t)` (entries of event type
`t` in force). `holds_one` reads the same keys with one citizen's values, except that
`band` is the band's name and a missing flag counts 0.

A new kind is one more class here with `@register_kind`; it may also be registered
from elsewhere at run time (`register_kind` rebuilds every model holding a condition).
"""

from __future__ import annotations

import builtins
import re
from functools import reduce
from typing import Annotated, Any, ClassVar, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import core_schema

from .refused import refusal_reason

METRICS = ("status", "level", "balance_status", "balance_level")
#: Columns derived from the score's balances: a condition reading any of them is fed by
#: every rule of the policy (the linter's relatedness check relies on this).
SCORE_COLUMNS = frozenset(METRICS + ("band",))

#: Balances are int32 in the engine's ratings (base + entries must fit), so every number a
#: policy compares with a balance or places on a scale stays well inside that range.
BALANCE_LIMIT = 1_000_000_000
#: all/any/not may nest this deep; deeper is a mistake (or an attack), not a policy.
MAX_CONDITION_DEPTH = 32
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")

Bound = Annotated[int, Field(strict=True, ge=-BALANCE_LIMIT, le=BALANCE_LIMIT)]
Columns = Mapping[str, np.ndarray]

_WORDS = {"lt": "below", "lte": "at most", "gt": "above", "gte": "at least", "eq": "equal to"}
_SYMBOLS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=="}


def check_event_type(v: str) -> str:
    """A dotted lower-case type that is not a refused category (speech, location, ...)."""
    if not EVENT_TYPE_RE.fullmatch(v):
        raise ValueError("expected a dotted lower-case event type such as 'fine.traffic'")
    reason = refusal_reason(v)
    if reason:
        raise ValueError(f"event type '{v}' is refused: {reason}")
    return v


def flag_column(event_type: str) -> str:
    """The column counting entries of `event_type` in force."""
    return "flag:" + event_type


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

    def bounds(self) -> list[tuple[str, int]]:
        """The bounds given, as (lt|lte|gt|gte|eq, value), in that order."""
        return [(k, v) for k, v in self.model_dump().items() if v is not None]

    def holds(self, x):
        """Where the bounds hold, over a NumPy array (or a scalar)."""
        x = np.asarray(x)
        ok = np.ones(x.shape, dtype=bool)
        for bound, op in (("lt", np.less), ("lte", np.less_equal), ("gt", np.greater),
                          ("gte", np.greater_equal), ("eq", np.equal)):
            v = getattr(self, bound)
            if v is not None:
                ok &= op(x, v)
        return ok

    def holds_one(self, x: int) -> bool:
        """Whether the bounds hold for one number (plain Python, for the reference)."""
        return all((
            self.lt is None or x < self.lt, self.lte is None or x <= self.lte, self.gt is None or x > self.gt,
            self.gte is None or x >= self.gte, self.eq is None or x == self.eq,
        ))

    def words(self, what: str) -> str:
        return " and ".join(f"{what} {_WORDS[k]} {v}" for k, v in self.bounds())

    def with_value(self, what: str, value: int) -> str:
        """e.g. 'status 12 < 25': the bounds with a citizen's value in place of the name."""
        return f"{what} " + " and ".join(f"{value} {_SYMBOLS[k]} {v}" for k, v in self.bounds())


# ---------------------------------------------------------------- the kinds' common ground


class ConditionKind(_Strict):
    # No docstring: pydantic would put it into every kind's JSON Schema.
    # Built only once every kind is registered (a kind's fields may hold conditions).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    #: the kind's key in YAML (and its field's name or alias)
    tag: ClassVar[str]
    #: one condition of this kind as written in YAML (the tests parse and evaluate it)
    example: ClassVar[dict]
    #: its words join parts with and/or, so inside another condition they need brackets
    bracketed: ClassVar[bool] = False

    def parts(self) -> tuple["ConditionKind", ...]:
        """The conditions inside this one (none for a leaf)."""
        return ()

    def describe(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} cannot describe itself")

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        """Boolean array: the rows of `cols` where the condition holds."""
        raise NotImplementedError(f"{type(self).__name__} cannot evaluate columns")

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        """Whether it holds for one citizen's values (plain Python, no NumPy)."""
        raise NotImplementedError(f"{type(self).__name__} cannot evaluate one citizen")

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        """The condition with row i's values, each part marked (holds) or (fails)."""
        raise NotImplementedError(f"{type(self).__name__} cannot show its numbers")

    def reads(self) -> frozenset[str]:
        """The columns this node itself reads (not its parts)."""
        return frozenset()

    def event_counts(self) -> dict[str, int]:
        """Event types this node counts entries of -> the largest count it tells apart."""
        return {}

    def balance_bounds(self) -> list[tuple[str, int]]:
        """(balance column, value) for every raw balance this node compares with."""
        return []

    def bands_named(self) -> list[str]:
        return []

    def mark(self, cols: Columns, band_names: list[str] | None, i: int) -> str:
        return "holds" if bool(self.holds(cols, band_names)[i]) else "fails"


# ---------------------------------------------------------------- the registry


#: tag -> kind, in the order the error message and the JSON Schema list them.
KINDS: dict[str, type[ConditionKind]] = {}
#: models with a condition field (directly or further in), rebuilt when the kinds change
_HOLDERS: list[type[BaseModel]] = []
_READY = False


def register_kind(kind: type[ConditionKind]) -> type[ConditionKind]:
    """Make `kind` a condition under its `tag` (a class decorator)."""
    if kind.tag in KINDS and KINDS[kind.tag] is not kind:
        raise ValueError(f"condition kind '{kind.tag}' is already registered")
    KINDS[kind.tag] = kind
    if _READY:
        _rebuild()
    return kind


def unregister_kind(tag: str) -> None:
    """Forget a kind registered at run time (tests register toy kinds and clean up)."""
    del KINDS[tag]
    _rebuild()


def register_holders(*models: type[BaseModel]) -> None:
    """Models holding conditions, so a kind registered later parses inside them too."""
    _HOLDERS.extend(models)


def _rebuild() -> None:
    """Rebuild the validators of every kind and holder from the current registry.

    pydantic reuses a nested model's compiled schema, so all are dropped before any is
    rebuilt; otherwise `all` would be rebuilt around the old `any`, which lacks the new kind.
    """
    models = [*KINDS.values(), *_HOLDERS]
    for m in models:
        for attr in ("__pydantic_core_schema__", "__pydantic_validator__", "__pydantic_serializer__"):
            if attr in m.__dict__:
                delattr(m, attr)
        m.__pydantic_complete__ = False
    for m in models:
        m.model_rebuild(force=True)


def _tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = list(value)
        if len(keys) == 1 and keys[0] in KINDS:
            return keys[0]
        return None
    if isinstance(value, ConditionKind) and KINDS.get(value.tag) is type(value):
        return value.tag
    return None


class _OneOfTheKinds:
    """pydantic schema of `Condition`: a union tagged by the one key, over KINDS as they are
    when a model is built (so registering a kind and rebuilding extends it)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.tagged_union_schema(
            {tag: handler.generate_schema(kind) for tag, kind in KINDS.items()},
            discriminator=_tag,
            custom_error_type="condition",
            custom_error_message="a condition is a mapping with exactly one key, one of: " + ", ".join(KINDS),
        )


Condition = Annotated[ConditionKind, _OneOfTheKinds]


# ---------------------------------------------------------------- scores and balances


class _Bounded(ConditionKind):
    # A number compared with bounds; the field is named like the column it reads.
    noun: ClassVar[str]
    #: compares a raw balance (its bounds are thresholds for the searches), not a score
    raw_balance: ClassVar[bool] = False

    @property
    def compare(self) -> Compare:
        return getattr(self, self.tag)

    def describe(self) -> str:
        return self.compare.words(self.noun)

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        return self.compare.holds(cols[self.tag])

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        return self.compare.holds_one(values[self.tag])

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        return f"{self.compare.with_value(self.noun, int(cols[self.tag][i]))} ({self.mark(cols, band_names, i)})"

    def reads(self) -> frozenset[str]:
        return frozenset({self.tag})

    def balance_bounds(self) -> list[tuple[str, int]]:
        return [(self.tag, v) for _, v in self.compare.bounds()] if self.raw_balance else []


@register_kind
class StatusCond(_Bounded):
    tag: ClassVar[str] = "status"
    example: ClassVar[dict] = {"status": {"lt": 20}}
    noun: ClassVar[str] = "status"
    status: Compare


@register_kind
class LevelCond(_Bounded):
    tag: ClassVar[str] = "level"
    example: ClassVar[dict] = {"level": {"gte": 40, "lt": 70}}
    noun: ClassVar[str] = "level"
    level: Compare


@register_kind
class BalanceStatusCond(_Bounded):
    tag: ClassVar[str] = "balance_status"
    example: ClassVar[dict] = {"balance_status": {"lte": -100}}
    noun: ClassVar[str] = "status balance"
    raw_balance: ClassVar[bool] = True
    balance_status: Compare


@register_kind
class BalanceLevelCond(_Bounded):
    tag: ClassVar[str] = "balance_level"
    example: ClassVar[dict] = {"balance_level": {"gt": 0}}
    noun: ClassVar[str] = "level balance"
    raw_balance: ClassVar[bool] = True
    balance_level: Compare


# ---------------------------------------------------------------- band


class BandSet(_Strict):
    in_: list[str] = Field(alias="in", min_length=1)


@register_kind
class BandCond(ConditionKind):
    tag: ClassVar[str] = "band"
    example: ClassVar[dict] = {"band": {"in": ["C", "D"]}}
    band: BandSet

    def describe(self) -> str:
        bands = self.band.in_
        return f"band {bands[0]}" if len(bands) == 1 else "band in " + ", ".join(bands)

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        wanted = [band_names.index(b) for b in self.band.in_]
        return np.isin(cols["band"], wanted)

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        return values["band"] in self.band.in_

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        got = band_names[int(cols["band"][i])]
        return f"band {got} in {{{', '.join(self.band.in_)}}} ({self.mark(cols, band_names, i)})"

    def reads(self) -> frozenset[str]:
        return frozenset({"band"})

    def bands_named(self) -> list[str]:
        return list(self.band.in_)


# ---------------------------------------------------------------- entries in force


class HasActiveSpec(_Strict):
    event_type: str
    at_least: int = Field(1, ge=1, le=1_000_000, strict=True)

    @field_validator("event_type")
    @classmethod
    def _type(cls, v: str) -> str:
        return check_event_type(v)


@register_kind
class HasActiveCond(ConditionKind):
    tag: ClassVar[str] = "has_active"
    example: ClassVar[dict] = {"has_active": {"event_type": "fine.traffic", "at_least": 2}}
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

    def describe(self) -> str:
        s = self.spec
        if s.at_least == 1:
            return f"an active '{s.event_type}' entry"
        return f"at least {s.at_least} active '{s.event_type}' entries"

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        s = self.spec
        return cols[flag_column(s.event_type)] >= s.at_least

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        s = self.spec
        return values.get(flag_column(s.event_type), 0) >= s.at_least

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        s = self.spec
        n = int(cols[flag_column(s.event_type)][i])
        return (f"{n} '{s.event_type}' entr{'y' if n == 1 else 'ies'} in force >= {s.at_least} "
                f"({self.mark(cols, band_names, i)})")

    def reads(self) -> frozenset[str]:
        return frozenset({flag_column(self.spec.event_type)})

    def event_counts(self) -> dict[str, int]:
        s = self.spec
        return {s.event_type: s.at_least}


# ---------------------------------------------------------------- all, any, not


class _Joined(ConditionKind):
    # all/any: a list of conditions joined by a word, a NumPy operator and a Python one.
    bracketed: ClassVar[bool] = True
    word: ClassVar[str]
    label: ClassVar[str]
    combine: ClassVar[Any]
    whole: ClassVar[Any]

    def parts(self) -> tuple[ConditionKind, ...]:
        return tuple(getattr(self, self.tag))

    def describe(self) -> str:
        return f" {self.word} ".join(_bracketed(c) for c in self.parts())

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        return reduce(self.combine, (c.holds(cols, band_names) for c in self.parts()))

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        return self.whole(c.holds_one(values) for c in self.parts())

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        inner = "; ".join(c.with_numbers(cols, band_names, i) for c in self.parts())
        return f"{self.label} [{inner}] ({self.mark(cols, band_names, i)})"


@register_kind
class AllCond(_Joined):
    tag: ClassVar[str] = "all"
    example: ClassVar[dict] = {"all": [{"status": {"lt": 50}}, {"has_active": "court.dishonest_debtor"}]}
    word: ClassVar[str] = "and"
    label: ClassVar[str] = "all of"
    combine: ClassVar[Any] = np.logical_and
    whole: ClassVar[Any] = builtins.all
    all: list[Condition] = Field(min_length=1)


@register_kind
class AnyCond(_Joined):
    tag: ClassVar[str] = "any"
    example: ClassVar[dict] = {"any": [{"level": {"gte": 70}}, {"band": {"in": ["A"]}}]}
    word: ClassVar[str] = "or"
    label: ClassVar[str] = "any of"
    combine: ClassVar[Any] = np.logical_or
    whole: ClassVar[Any] = builtins.any
    any: list[Condition] = Field(min_length=1)


@register_kind
class NotCond(ConditionKind):
    model_config = ConfigDict(populate_by_name=True)
    tag: ClassVar[str] = "not"
    example: ClassVar[dict] = {"not": {"balance_status": {"gt": 0}}}
    not_: Condition = Field(alias="not")

    def parts(self) -> tuple[ConditionKind, ...]:
        return (self.not_,)

    def describe(self) -> str:
        return "not " + _bracketed(self.not_)

    def holds(self, cols: Columns, band_names: list[str] | None = None) -> np.ndarray:
        return ~self.not_.holds(cols, band_names)

    def holds_one(self, values: Mapping[str, Any]) -> bool:
        return not self.not_.holds_one(values)

    def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:
        return f"not [{self.not_.with_numbers(cols, band_names, i)}] ({self.mark(cols, band_names, i)})"


_READY = True
_rebuild()


# ---------------------------------------------------------------- whole trees


def _check(cond: Any) -> ConditionKind:
    if not isinstance(cond, ConditionKind):
        raise TypeError(f"not a condition: {cond!r}")
    return cond


def describe(cond: Any) -> str:
    """Render a condition in words, e.g. 'status below 20 and an active court.dishonest_debtor entry'."""
    return _check(cond).describe()


def _bracketed(cond: ConditionKind) -> str:
    text = cond.describe()
    return f"({text})" if cond.bracketed else text


def walk(cond: Any):
    """Yield every leaf and branch of a condition tree."""
    yield cond
    for c in cond.parts():
        yield from walk(c)


def depth(cond: Any) -> int:
    """Levels of all/any/not above the deepest leaf (a leaf alone is 1)."""
    parts = cond.parts()
    return 1 + max(depth(c) for c in parts) if parts else 1


def check_depth(cond: Any) -> Any:
    """Refuse conditions nested beyond MAX_CONDITION_DEPTH (the engine evaluates them recursively)."""
    d = depth(cond)
    if d > MAX_CONDITION_DEPTH:
        raise ValueError(f"condition nested {d} levels deep; at most {MAX_CONDITION_DEPTH}")
    return cond


def event_types_used(cond: Any) -> set[str]:
    return {t for c in walk(cond) for t in c.event_counts()}


def uses_band(cond: Any) -> bool:
    return any("band" in c.reads() for c in walk(cond))


def reads_score(cond: Any) -> bool:
    """The condition reads a score, a balance or the band, which every rule feeds."""
    return any(c.reads() & SCORE_COLUMNS for c in walk(cond))
