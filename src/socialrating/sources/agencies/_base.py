"""Shared machinery of the agency models: the person context, the event container, helpers.

Every agency module exposes ``SOURCE`` (its source name in :mod:`..schemas`) and
``generate(ctx) -> Events``: the *true* events it records about people of the given
population over ``[start, start + years)``, before any data error.  All work is over whole
arrays (one pass per event type); randomness comes from ``ctx.rng(SOURCE, stream)``, a
``SeedSequence`` child that depends only on the seed, the source and the stream number,
so the behaviour of one agency does not change when another agency's model changes.

Rates.  A national yearly total ``T`` becomes a per-person-year rate ``T / 146.2M``; the
per-person weights (age, sex, income, latent propensity...) only decide *who* gets the
events: :func:`poisson_events` rescales the weights so the expected count over the given
population is ``rate * n * years``.  The given population is assumed representative.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from ...population.calibration import Calibration, CalibrationError
from ..schemas import SCHEMAS

EPOCH = dt.date(1970, 1, 1)


def interp_profile(anchors: dict, x: np.ndarray) -> np.ndarray:
    """Piecewise-linear profile over ages given as {age: value} anchors."""
    xs = np.array(sorted(int(k) for k in anchors), dtype=np.float64)
    ys = np.array([float(anchors[k] if k in anchors else anchors[str(int(k))]) for k in sorted(anchors, key=int)])
    return np.interp(np.asarray(x, dtype=np.float64), xs, ys)


@dataclass
class Events:
    """True events of one source, one row per record (numpy columns).

    ``person``: row index in the population frame; ``etype``: index into the source's
    event types; ``occurred``: days since 1970-01-01; ``lag``: routine reporting delay in
    days; ``amount``: NaN for none; ``subtype``: index into ``subtype_labels`` or -1;
    ``extra``: source-specific numeric columns (e.g. ``camera``, ``proceeding``).
    """

    person: np.ndarray
    etype: np.ndarray
    occurred: np.ndarray
    amount: np.ndarray
    subtype: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    lag: np.ndarray | None = None
    subtype_labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.person.size)

    def take(self, idx: np.ndarray) -> "Events":
        return Events(
            self.person[idx], self.etype[idx], self.occurred[idx], self.amount[idx], self.subtype[idx],
            {k: v[idx] for k, v in self.extra.items()}, None if self.lag is None else self.lag[idx], self.subtype_labels,
        )


def part(person, etype: int, occurred, amount=None, subtype=None, **extra) -> Events:
    """One event type's events; ``amount``/``subtype`` default to none."""
    person = np.asarray(person, dtype=np.int64)
    m = person.size
    return Events(
        person,
        np.full(m, etype, dtype=np.int8),
        np.asarray(occurred, dtype=np.int32),
        np.full(m, np.nan) if amount is None else np.asarray(amount, dtype=np.float64),
        np.full(m, -1, dtype=np.int8) if subtype is None else np.asarray(subtype, dtype=np.int8),
        {k: np.asarray(v) for k, v in extra.items()},
    )


def concat(parts: list[Events], subtype_labels: tuple[str, ...] = ()) -> Events:
    keys = set().union(*(p.extra for p in parts)) if parts else set()
    extra = {}
    for k in sorted(keys):
        dtypes = [p.extra[k].dtype for p in parts if k in p.extra]
        fill = np.zeros(0, dtype=dtypes[0])
        extra[k] = np.concatenate([p.extra[k] if k in p.extra else np.resize(_default(fill), len(p)) for p in parts])
    return Events(
        np.concatenate([p.person for p in parts]),
        np.concatenate([p.etype for p in parts]),
        np.concatenate([p.occurred for p in parts]),
        np.concatenate([p.amount for p in parts]),
        np.concatenate([p.subtype for p in parts]),
        extra,
        None,
        subtype_labels,
    )


def _default(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.bool_:
        return np.zeros(1, dtype=bool)
    return np.full(1, -1, dtype=arr.dtype)


class Context:
    """The population as numpy arrays, the period, the calibration and the random streams."""

    def __init__(self, people: pl.DataFrame, start: dt.date, years: float, seed: np.random.SeedSequence | int, cal: Calibration,
                 defaults: Calibration | None = None, *, block: int = 0, blocks: int = 1,
                 keys: np.random.SeedSequence | int | None = None):
        if years <= 0:
            raise ValueError("years must be > 0")
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self._entropy = ss.entropy
        self._spawn_key = tuple(ss.spawn_key)
        # the generation block these people are (record and proceeding numbers are offset by
        # it) and the seed of the identifier keys, shared by every block so numbers stay unique
        ks = ss if keys is None else (keys if isinstance(keys, np.random.SeedSequence) else np.random.SeedSequence(keys))
        self.block, self.blocks = int(block), int(blocks)  # this block, and how many the run has
        if not 0 <= self.block < max(self.blocks, 1):
            raise ValueError(f"generation block {self.block} of a run of {self.blocks} blocks")
        self._key_entropy, self._key_spawn_key = ks.entropy, tuple(ks.spawn_key)
        self.cal = cal
        self._sources = cal.sources if cal.sources is not None else (defaults.sources if defaults else None)
        if self._sources is None:
            raise CalibrationError("calibration has no 'sources' section (needed by the source models)")
        self.people = people
        self.n = people.height
        self.start = start
        self.years = float(years)
        self.d0 = (start - EPOCH).days
        self.span = max(1, int(round(self.years * 365.25)))
        self.national = float(cal.population.total_2024.value)
        g = lambda c: people.get_column(c).to_numpy()  # noqa: E731
        self.citizen_id = g("citizen_id").astype(np.int64)
        self.age = g("age").astype(np.int16)
        self.female = (people.get_column("sex") == "F").to_numpy()
        self.adult = self.age >= 18
        self.driver = g("driver").astype(bool)
        self.borrower = g("borrower").astype(bool)
        self.employed = g("employed").astype(bool)
        self.decile = g("income_decile").astype(np.int8)
        self.urban = g("urban").astype(bool)
        self.region = g("region_code").astype(np.int16)
        self.household = g("household_id").astype(np.int64)
        self.role = people.get_column("household_role").to_physical().to_numpy().astype(np.int8)  # head, partner, child, other
        self.birth = people.get_column("birth_date").cast(pl.Int32).to_numpy()
        self.outputs: dict[str, Events] = {}
        self._propensities()

    # -- configuration -------------------------------------------------------------------
    def param(self, agency: str, key: str) -> Any:
        try:
            return self._sources[agency][key].value
        except KeyError:
            raise CalibrationError(f"calibration: missing sources.{agency}.{key}") from None

    def base(self, key: str) -> Any:
        return getattr(self.cal.base_rates, key).value

    def per_capita(self, yearly_total: float) -> float:
        return float(yearly_total) / self.national

    # -- randomness ----------------------------------------------------------------------
    def seed_sequence(self, *path: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(self._entropy, spawn_key=self._spawn_key + tuple(int(p) for p in path))

    def key_sequence(self, *path: int) -> np.random.SeedSequence:
        """A stream of the identifier keys' seed (the same for every block of a population)."""
        return np.random.SeedSequence(self._key_entropy, spawn_key=self._key_spawn_key + tuple(int(p) for p in path))

    def rng(self, source: str, stream: int = 0) -> np.random.Generator:
        """Behaviour stream ``stream`` of ``source`` (branch 0 of the seed)."""
        return np.random.default_rng(self.seed_sequence(0, _SOURCE_INDEX[source], stream))

    def _propensities(self) -> None:
        p = self.param("common", "propensity")
        rng = np.random.default_rng(self.seed_sequence(2, 0))
        n = self.n
        # a household-shared factor mixed in, so debts and fines cluster in households too
        hh_u = _household_uniform(self.household, self.seed_sequence(2, 1))
        ind = rng.gamma(p["risk_shape"], 1.0 / p["risk_shape"], n)
        hh = _gamma_from_uniform(hh_u, p["risk_shape"])
        c = p["risk_household_corr"]
        low = 1.0 + p["risk_low_income_step"] * np.clip(5 - self.decile, 0, None)
        self.risk = ((1 - c) * ind + c * hh) * low
        hi = 1.0 + p["civic_income_step"] * (self.decile - 1)
        self.civic = rng.gamma(p["civic_shape"], 1.0 / p["civic_shape"], n) * hi
        self.health = rng.gamma(p["health_shape"], 1.0 / p["health_shape"], n)

    # -- dates -----------------------------------------------------------------------------
    def uniform_days(self, rng: np.random.Generator, m: int) -> np.ndarray:
        return (self.d0 + rng.integers(0, self.span, m)).astype(np.int32)

    def in_window(self, days: np.ndarray) -> np.ndarray:
        return (days >= self.d0) & (days < self.d0 + self.span)

    # -- derived person structures (cached) ---------------------------------------------------
    @cached_property
    def vehicle_owner(self) -> np.ndarray:
        """Row index of the household's registered vehicle owner for each driver (the
        household's first driver in row order), -1 for non-drivers."""
        out = np.full(self.n, -1, dtype=np.int64)
        d = np.flatnonzero(self.driver)
        if d.size == 0:
            return out
        hh = self.household[d]
        order = np.lexsort((d, hh))
        hs = hh[order]
        first = np.concatenate(([True], hs[1:] != hs[:-1]))
        grp = np.cumsum(first) - 1
        owner_sorted = d[order][first][grp]
        out[d[order]] = owner_sorted
        return out

    @cached_property
    def partner(self) -> np.ndarray:
        """Row index of the other head/partner of the person's household (-1 if none)."""
        out = np.full(self.n, -1, dtype=np.int64)
        c = np.flatnonzero(self.role <= 1)
        hh = self.household[c]
        order = np.lexsort((c, hh))
        cs, hs = c[order], hh[order]
        pair = np.flatnonzero(hs[1:] == hs[:-1])
        out[cs[pair]] = cs[pair + 1]
        out[cs[pair + 1]] = cs[pair]
        return out

    @cached_property
    def has_children(self) -> np.ndarray:
        """Whether the person's household has a member under 18."""
        kids = np.zeros(int(self.household.max()) + 1 if self.n else 0, dtype=bool)
        kids[self.household[self.age < 18]] = True
        return kids[self.household] if self.n else np.zeros(0, bool)


_SOURCE_INDEX = {name: i for i, name in enumerate(SCHEMAS)}


def source_index(source: str) -> int:
    return _SOURCE_INDEX[source]


def _household_uniform(household: np.ndarray, ss: np.random.SeedSequence) -> np.ndarray:
    """A uniform number per household (deterministic in the household id), per person."""
    from ...identity._permute import derive_keys

    key = int(ss.generate_state(1, np.uint64)[0])
    h = derive_keys(key, household.astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _gamma_from_uniform(u: np.ndarray, shape: float) -> np.ndarray:
    """Approximate gamma(shape, mean 1) quantiles via Wilson-Hilferty (vectorised, no scipy)."""
    from math import sqrt

    # inverse normal by a rational approximation (Acklam); adequate for a latent factor
    z = _norm_ppf(np.clip(u, 1e-12, 1 - 1e-12))
    k = shape
    x = k * np.maximum(1 - 1 / (9 * k) + z * sqrt(1 / (9 * k)), 0.0) ** 3
    return x / max(float(np.mean(x)) if x.size else 1.0, 1e-12)


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    out = np.empty_like(p)
    lo = p < 0.02425
    hi = p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    for mask, sign, pp in ((lo, 1.0, p[lo]), (hi, -1.0, 1 - p[hi])):
        q = np.sqrt(-2 * np.log(pp))
        out[mask] = sign * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    return out


# ---------------------------------------------------------------------------------------------
# rate helpers


def poisson_events(ctx: Context, rng: np.random.Generator, weight: np.ndarray, per_capita: float) -> np.ndarray:
    """Row indices of people with events: counts ~ Poisson(weight * scale), with the scale set
    so the expected total is ``per_capita * n * years``.  One index per event."""
    w = np.asarray(weight, dtype=np.float64)
    tot = w.sum()
    if tot <= 0 or per_capita <= 0:
        return np.zeros(0, dtype=np.int64)
    lam = w * (per_capita * ctx.n * ctx.years / tot)
    cnt = rng.poisson(lam)
    return np.repeat(np.arange(ctx.n, dtype=np.int64), cnt)


def bernoulli_share(weight: np.ndarray, eligible: np.ndarray, mean: float, cap: float = 0.95) -> np.ndarray:
    """Per-person probabilities proportional to ``weight`` (capped), zero outside ``eligible``,
    averaging ``mean`` over the eligible people (fixed-point rescaling around the cap)."""
    w = np.where(eligible, np.asarray(weight, dtype=np.float64), 0.0)
    m = int(eligible.sum())
    if m == 0 or w.sum() <= 0:
        return np.zeros_like(w)
    target = mean * m
    p = w * (target / w.sum())
    for _ in range(20):
        p = np.minimum(p, cap)
        s = p.sum()
        if abs(s - target) < 1e-9 * target:
            break
        free = (p < cap) & (w > 0)
        need = target - p[~free].sum()
        if free.sum() == 0 or need <= 0:
            break
        p[free] *= need / p[free].sum()
    return np.minimum(p, cap)


def lognormal(rng: np.random.Generator, spec: dict, m: int, decimals: int = 0) -> np.ndarray:
    return np.round(float(spec["median"]) * np.exp(rng.normal(0.0, float(spec["sigma"]), m)), decimals)


def yearly_status_days(ctx: Context, rng: np.random.Generator, people_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a yearly status (one record per person-year), the (person, day) pairs falling in the
    window: each person gets an anniversary offset in [0, 365) and one record per 365 days."""
    k = int(np.ceil(ctx.span / 365.0))
    off = rng.integers(0, 365, people_idx.size)
    per = np.repeat(people_idx, k)
    day = np.repeat(off, k) + np.tile(np.arange(k) * 365, people_idx.size)
    keep = day < ctx.span
    return per[keep], (ctx.d0 + day[keep]).astype(np.int32)


def poisson_per_eligible(ctx: Context, rng: np.random.Generator, weight: np.ndarray, eligible: np.ndarray, rate: float) -> np.ndarray:
    """Like :func:`poisson_events` with ``rate`` per *eligible* person-year."""
    w = np.where(eligible, weight, 0.0)
    return poisson_events(ctx, rng, w, rate * float(eligible.sum()) / max(ctx.n, 1))


def event_index(source: str, name: str) -> int:
    return SCHEMAS[source].event_types.index(name)


def geometric_lag(rng: np.random.Generator, mean: float, m: int) -> np.ndarray:
    """Non-negative integer delays with the given mean (geometric on 0, 1, 2, ...)."""
    if mean <= 0:
        return np.zeros(m, dtype=np.int32)
    return (rng.geometric(1.0 / (1.0 + mean), m) - 1).astype(np.int32)
