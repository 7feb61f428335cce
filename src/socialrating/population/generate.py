"""Synthetic Russia, part 1: people, households and their identifiers.

``generate_population(n, seed)`` returns one polars frame; ``iter_population_shards``
yields it in shards so memory stays bounded (up to the whole 146M population).

Design
------
* People are generated in fixed-size *blocks* (``model.block_size`` in the
  calibration, 131,072 people; the last block is smaller).  Households never
  cross a block.  All randomness of block ``b`` and attribute ``a`` comes from
  ``SeedSequence(entropy, spawn_key=(..., b, a))``, so the result depends only
  on ``(n, seed, as_of, calibration)`` and not on ``shard_size``.
* Identifiers are unique across the whole population by construction: SNILS
  and phone numbers are keyed permutations of ``citizen_id``; INNs and passport
  numbers are keyed permutations of a running counter per region / per passport
  series, carried from block to block (so shards must be produced in order,
  which the iterator does).
* Marginals are matched closely with low noise: each block draws its age-sex
  cells by systematic sampling from the calibrated distribution and assigns
  regions to households by systematic sampling over people.
* Calibrated to ``calibration.yaml`` (sources and assumptions listed there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from ..identity import names as _names
from ..identity._permute import group_rank
from ..identity.inn import inn_from_index
from ..identity.passport import passport_blank_year, passport_from_index, passport_issue_year, passport_series
from ..identity.phone import phone_from_index
from ..identity.snils import snils_from_index
from .calibration import DISTRICTS, Calibration, load_calibration

__all__ = [
    "DEFAULT_AS_OF",
    "DISTRICT_ENUM",
    "SEX_ENUM",
    "ROLE_ENUM",
    "POPULATION_SCHEMA",
    "CORE_COLUMNS",
    "generate_population",
    "iter_population_shards",
    "age_sex_distribution",
    "region_table",
]

DEFAULT_AS_OF = dt.date(2025, 1, 1)
MAX_AGE = 100  # age 100 stands for 100+
DISTRICT_ENUM = pl.Enum(list(DISTRICTS))
SEX_ENUM = pl.Enum(["F", "M"])
ROLES = ("head", "partner", "child", "other")
ROLE_ENUM = pl.Enum(list(ROLES))
HEAD, PARTNER, CHILD, OTHER = range(4)

POPULATION_SCHEMA: dict[str, pl.DataType] = {
    "citizen_id": pl.Int64,
    "district": DISTRICT_ENUM,
    "region_code": pl.Int8,
    "urban": pl.Boolean,
    "sex": SEX_ENUM,
    "birth_date": pl.Date,
    "age": pl.Int8,
    "household_id": pl.Int32,
    "household_role": ROLE_ENUM,
    "employed": pl.Boolean,
    "income_decile": pl.Int8,
    "driver": pl.Boolean,
    "borrower": pl.Boolean,
    "snils": pl.Int64,
    "inn": pl.Int64,
    "passport": pl.Int64,
    "phone": pl.Int64,
    "surname": pl.Int32,
    "given_name": pl.Int16,
    "patronymic": pl.Int16,
}
CORE_COLUMNS: tuple[str, ...] = tuple(list(POPULATION_SCHEMA)[:13])

# attribute stream ids (never renumber: they define the random streams)
_A_AGESEX, _A_HH, _A_REGION, _A_BIRTH, _A_EMP, _A_DRIVER, _A_BORROW, _A_INCOME = range(8)
_A_NAMES, _A_SNILS, _A_INN, _A_PASSPORT, _A_PHONE, _A_IDREGION = range(8, 14)
_KEY_BRANCH = 2**32 - 1


def _interp_profile(anchors: dict[int, float], upto: int = MAX_AGE) -> np.ndarray:
    xs = np.array(sorted(anchors), dtype=np.float64)
    ys = np.array([anchors[int(x)] for x in xs], dtype=np.float64)
    return np.interp(np.arange(upto + 1, dtype=np.float64), xs, ys)


def _bisect(f, lo: float, hi: float, iters: int = 80) -> float:
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def age_sex_distribution(cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of (age 0..100, male) and (age, female) cells, summing to 1.

    The age profile's shape is rescaled in four bands (below working age;
    working age up to the women's pension age; up to 64; 65+) and the sex-ratio
    shape is scaled below and above 70, iterating until the published shares
    (below / above working age, 65+) and sex ratios (overall, 70+) hold.
    """
    pop = cal.population
    bounds = pop.working_age_bounds.value
    p = _interp_profile(pop.age_profile.value)
    r_base = _interp_profile(pop.sex_ratio_profile.value)
    ages = np.arange(MAX_AGE + 1)
    b0 = ages < bounds.lower
    b3 = ages >= 65
    b2 = (ages > bounds.upper_women) & ~b3
    b1 = ~(b0 | b2 | b3)
    old = ages >= 70
    t_below = pop.below_working_age_share.value
    t_above = pop.above_working_age_share.value
    t65 = pop.aged_65_plus_share.value
    ratio_all = pop.women_per_1000_men.value / 1000.0
    ratio_old = pop.women_per_1000_men_70_plus.value / 1000.0
    r = r_base.copy()
    for _ in range(20):
        f = r / (1.0 + r)
        p = p / p.sum()
        p[b0] *= t_below / p[b0].sum()
        p[b3] *= t65 / p[b3].sum()
        above_weight = f + (1.0 - f) * (ages > bounds.upper_men)
        p[b2] *= (t_above - t65) / (p[b2] * above_weight[b2]).sum()
        p[b1] *= (1.0 - t_below - t65 - p[b2].sum()) / p[b1].sum()

        def ratio(mask, k):
            rr = r_base[mask] * k
            return (p[mask] * rr / (1 + rr)).sum() / (p[mask] / (1 + rr)).sum()

        k_old = _bisect(lambda k: ratio(old, k) - ratio_old, 0.01, 100.0)
        r[old] = r_base[old] * k_old

        def total_ratio(k):
            rr = np.where(old, r, r_base * k)
            return (p * rr / (1 + rr)).sum() / (p / (1 + rr)).sum() - ratio_all

        k_young = _bisect(total_ratio, 0.01, 100.0)
        r = np.where(old, r, r_base * k_young)
    f = r / (1.0 + r)
    return p * (1.0 - f), p * f


@dataclass(frozen=True)
class RegionTable:
    code: np.ndarray  # int16, per region
    okato: np.ndarray
    district: np.ndarray  # index into DISTRICTS
    name: tuple[str, ...]
    person_share: np.ndarray  # float, sums to 1
    urban_p: np.ndarray


def region_table(cal: Calibration) -> RegionTable:
    """Regions with the share of people in each (district total from Rosstat, split by region weight)."""
    regs = cal.regions.value
    dshare = cal.district_shares()
    district = np.array([DISTRICTS.index(r.district) for r in regs])
    weight = np.array([r.weight for r in regs], dtype=np.float64)
    share = np.zeros_like(weight)
    for d_i, d in enumerate(DISTRICTS):
        m = district == d_i
        share[m] = dshare[d] * weight[m] / weight[m].sum()
    code = np.array([r.code for r in regs], dtype=np.int16)
    urban_regions = np.isin(code, cal.model.urban_regions.value)
    u = cal.population.urban_share.value
    rest = (u - share[urban_regions].sum()) / share[~urban_regions].sum()
    urban_p = np.where(urban_regions, 1.0, rest)
    return RegionTable(code, np.array([r.okato for r in regs], dtype=np.int16), district, tuple(r.name for r in regs), share, urban_p)


@dataclass(frozen=True)
class _Model:
    cal: Calibration
    cell_cdf: np.ndarray  # over cells age*2 + male
    regions: RegionTable
    region_cdf: np.ndarray
    couple_p: np.ndarray  # by age, men
    emp_p: np.ndarray  # [female, age]
    driver_p: np.ndarray  # [female, age]
    borrow_w: np.ndarray  # by age, scaled
    inspectorates: np.ndarray  # per region code 0..99
    code_to_region: np.ndarray  # region code -> row in region table


_MODEL_CACHE: dict[int, tuple[Calibration, _Model]] = {}


def _model(cal: Calibration) -> _Model:
    hit = _MODEL_CACHE.get(id(cal))
    if hit is not None and hit[0] is cal:
        return hit[1]
    if len(_MODEL_CACHE) > 8:
        _MODEL_CACHE.clear()
    model = _build_model(cal)
    _MODEL_CACHE[id(cal)] = (cal, model)
    return model


def _build_model(cal: Calibration) -> _Model:
    pm, pf = age_sex_distribution(cal)
    cells = np.empty(2 * (MAX_AGE + 1))
    cells[0::2] = pf  # cell = age*2 + male
    cells[1::2] = pm
    cdf = np.cumsum(cells)
    cdf /= cdf[-1]
    regions = region_table(cal)
    rcdf = np.cumsum(regions.person_share)
    rcdf /= rcdf[-1]
    m = cal.model
    emp = np.vstack([_interp_profile(m.employment_by_age.value.men), _interp_profile(m.employment_by_age.value.women)])
    ages = np.arange(MAX_AGE + 1)
    drv = cal.base_rates.driver_share_adults.value
    adult_ok = (ages >= 18) & (ages <= drv.max_age)
    # the published shares are of all adults of each sex; nobody above max_age holds one
    scale_m = pm[ages >= 18].sum() / max(pm[adult_ok].sum(), 1e-12)
    scale_f = pf[ages >= 18].sum() / max(pf[adult_ok].sum(), 1e-12)
    driver = np.vstack([np.where(adult_ok, min(1.0, drv.men * scale_m), 0.0),
                        np.where(adult_ok, min(1.0, drv.women * scale_f), 0.0)])
    # borrowers: scale the age weights so the expected adult share matches the published count
    w = _interp_profile(m.borrower_age_weight.value)
    adult = ages >= 18
    adult_share = pm[adult].sum() + pf[adult].sum()
    target = cal.base_rates.active_borrowers.value / (cal.population.total_2025.value * adult_share)
    emp_factor = np.vstack([emp[0] * 1.3 + (1 - emp[0]) * 0.6, emp[1] * 1.3 + (1 - emp[1]) * 0.6])
    expected = ((pm * w * emp_factor[0])[adult].sum() + (pf * w * emp_factor[1])[adult].sum()) / adult_share
    borrow_w = np.where(adult, w * target / expected, 0.0)
    insp = np.ones(100, dtype=np.int64)
    cap = m.inn_capacity_population.value
    code_to_region = np.full(100, -1, dtype=np.int64)
    for i, c in enumerate(regions.code):
        insp[c] = max(2, min(99, int(np.ceil(1.25 * regions.person_share[i] * cap / 1e6))))
        code_to_region[c] = i
    return _Model(cal, cdf, regions, rcdf, _interp_profile(m.couple_probability_men.value), emp, driver, borrow_w, insp, code_to_region)


# ----------------------------------------------------------------------------------------------
# randomness


class _Streams:
    def __init__(self, seed: int | np.random.SeedSequence):
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.entropy = ss.entropy
        self.spawn_key = tuple(ss.spawn_key)

    def rng(self, block: int, attr: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key + (block, attr)))

    def key(self, attr: int) -> int:
        ss = np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key + (_KEY_BRANCH, attr))
        return int(ss.generate_state(1, np.uint64)[0])


# ----------------------------------------------------------------------------------------------
# households


def _pick_by_age(target: np.ndarray, ref_age: np.ndarray, weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each target age, a candidate index whose ``ref_age`` equals it (or is nearest), chosen
    with probability proportional to ``weight``; -1 when there are no candidates."""
    out = np.full(target.size, -1, dtype=np.int64)
    if target.size == 0 or ref_age.size == 0 or weight.sum() <= 0:
        return out
    order = np.argsort(ref_age, kind="stable")
    ra = ref_age[order]
    cw0 = np.concatenate(([0.0], np.cumsum(weight[order])))
    grid = np.arange(MAX_AGE + 1)
    lo_w = cw0[np.searchsorted(ra, grid, "left")]
    hi_w = cw0[np.searchsorted(ra, grid, "right")]
    nonempty = np.flatnonzero(hi_w > lo_w)
    if nonempty.size == 0:
        return out
    t = np.clip(target, 0, MAX_AGE)
    pos = np.searchsorted(nonempty, t)
    left = nonempty[np.clip(pos - 1, 0, nonempty.size - 1)]
    right = nonempty[np.clip(pos, 0, nonempty.size - 1)]
    a = np.where(np.abs(t - left) <= np.abs(right - t), left, right)
    u = lo_w[a] + rng.random(t.size) * (hi_w[a] - lo_w[a])
    j = np.minimum(np.searchsorted(cw0[1:], u, side="right"), ra.size - 1)
    return order[j]


@dataclass
class _Households:
    hh: np.ndarray  # household index per person, 0..H-1 in final (random) order
    role: np.ndarray  # int8
    n: int
    man: np.ndarray  # per household: index of the partnered man, or -1


def _form_households(age: np.ndarray, male: np.ndarray, rng: np.random.Generator, M: _Model) -> _Households:
    mp = M.cal.model
    n = age.size
    hh = np.full(n, -1, dtype=np.int64)
    role = np.full(n, HEAD, dtype=np.int8)
    adult = age >= 18
    # couples: partnered men, then as many women weighted by age, paired by age rank
    men = np.flatnonzero(adult & male)
    men = men[rng.random(men.size) < M.couple_p[age[men]]]
    women = np.flatnonzero(adult & ~male)
    k = min(men.size, women.size)
    men = rng.permutation(men)[:k]
    if k:
        ww = np.maximum(M.couple_p[np.minimum(age[women] + 2, MAX_AGE)], 1e-6)
        keys = np.log(rng.random(women.size)) / ww  # weighted sampling without replacement
        women = women[np.argpartition(-keys, k - 1)[:k]] if k < women.size else women
        men = men[np.argsort(age[men] + rng.normal(0, 2.0, k), kind="stable")]
        women = women[np.argsort(age[women] + rng.normal(0, 2.0, k), kind="stable")]
    else:
        women = women[:0]
    hh[men] = np.arange(k)
    hh[women] = np.arange(k)
    man_head = rng.random(k) < 0.7
    role[men] = np.where(man_head, HEAD, PARTNER)
    role[women] = np.where(man_head, PARTNER, HEAD)
    # unpartnered adults: some live with parents (young) or children (elderly)
    single = np.flatnonzero(adult & (hh < 0))
    ya, ea = mp.young_adults_with_parents.value, mp.elderly_with_children.value
    u = rng.random(single.size)
    young = single[(age[single] <= (ya.max_age or 0)) & (u < ya.probability)]
    elderly = single[(age[single] >= (ea.min_age or 200)) & (u < ea.probability)]
    ra = mp.adults_with_relatives.value
    mid = single[(age[single] > (ya.max_age or 0)) & (age[single] < (ea.min_age or 200)) & (age[single] >= (ra.min_age or 0)) & (u < ra.probability)]
    heads = np.setdiff1d(single, np.concatenate((young, elderly, mid)), assume_unique=True)
    hh[heads] = k + np.arange(heads.size)
    n_hh = k + heads.size
    # reference ages of the households formed so far
    ref_mother = np.empty(n_hh, dtype=np.int64)
    ref_mother[:k] = age[women]
    ref_mother[k:] = np.where(male[heads], age[heads] - 2, age[heads])
    w_single = mp.children_with_single_parent_weight.value
    parent_w = np.concatenate((np.ones(k), np.where(male[heads], 0.15 * w_single, w_single)))
    parent_w = np.where((ref_mother >= 18) & (ref_mother <= 70), parent_w, 0.0)
    ma = mp.mother_age_at_birth.value
    dependants = np.concatenate((np.flatnonzero(~adult), young))
    gap = np.clip(np.rint(rng.normal(ma.mean, ma.sd, dependants.size)), ma.min, ma.max).astype(np.int64)
    pick = _pick_by_age(age[dependants] + gap, ref_mother, parent_w, rng)
    hh[dependants] = pick
    role[dependants] = CHILD
    # elderly join a household whose oldest partner is about one generation younger
    ref_old = np.empty(n_hh, dtype=np.int64)
    ref_old[:k] = np.maximum(age[men], age[women])
    ref_old[k:] = age[heads]
    gap = np.clip(np.rint(rng.normal(ma.mean, ma.sd, elderly.size)), ma.min, ma.max).astype(np.int64)
    pick = _pick_by_age(age[elderly] - gap, ref_old, (ref_old >= 30).astype(np.float64), rng)
    hh[elderly] = pick
    role[elderly] = OTHER
    # other unpartnered adults sharing a household with relatives of about their generation
    pick = _pick_by_age(age[mid] + np.rint(rng.normal(0, 8, mid.size)).astype(np.int64), ref_old, np.ones(n_hh), rng)
    hh[mid] = pick
    role[mid] = OTHER
    # anyone left without a household (tiny blocks only) lives alone
    alone = np.flatnonzero(hh < 0)
    hh[alone] = n_hh + np.arange(alone.size)
    role[alone] = np.where(age[alone] >= 18, HEAD, CHILD)
    n_hh += alone.size
    man = np.full(n_hh, -1, dtype=np.int64)
    man[:k] = men
    # random household order
    rank = rng.permutation(n_hh)
    new_man = np.empty_like(man)
    new_man[rank] = man
    return _Households(rank[hh], role, n_hh, new_man)


# ----------------------------------------------------------------------------------------------
# one block


@dataclass
class _State:
    inn_counts: np.ndarray
    passport_counts: np.ndarray
    households: int = 0


def _birth_bounds(as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Per age 0..100: first and last birth date (days since epoch) giving that age on ``as_of``."""

    def shift(years: int) -> dt.date:
        y = as_of.year - years
        try:
            return as_of.replace(year=y)
        except ValueError:  # 29 February
            return dt.date(y, 2, 28)

    epoch = dt.date(1970, 1, 1)
    last = np.array([(shift(a) - epoch).days for a in range(MAX_AGE + 1)], dtype=np.int64)
    first = np.array([(shift(a + 1) - epoch).days + 1 for a in range(MAX_AGE + 1)], dtype=np.int64)
    return first, last


def _nullable(values: np.ndarray, valid: np.ndarray, name: str) -> pl.Series:
    return pl.Series(name, pa.array(values, type=pa.int64(), mask=~valid))


def _enum(name: str, codes: np.ndarray, dtype: pl.Enum) -> pl.Series:
    """Enum series from category indices (no string materialisation)."""
    cats = dtype.categories.to_list()
    mapping = {i: c for i, c in enumerate(cats)}
    return pl.Series(name, codes.astype(np.uint8)).replace_strict(mapping, return_dtype=dtype)


def _bernoulli(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return rng.random(p.shape) < p


def _block(M: _Model, S: _Streams, state: _State, block: int, start: int, size: int, as_of: dt.date) -> pl.DataFrame:
    """One block of whole households: people, places, incomes, names and identifiers.

    Every attribute draws from its own stream (S.rng(block, attribute)), so the helpers
    below can run in any order without changing a value."""
    P = _household_people(M, S, block, size)
    citizen = start + np.arange(size, dtype=np.int64)
    region, urban = _regions(M, S, block, P, size)
    rng = S.rng(block, _A_BIRTH)
    first, last = _birth_bounds(as_of)
    birth = first[P.age] + (rng.random(size) * (last[P.age] - first[P.age] + 1)).astype(np.int64)
    female = ~P.male
    sexi = female.astype(np.int64)
    # --- employment, driving licence, loans
    employed = _bernoulli(S.rng(block, _A_EMP), M.emp_p[sexi, P.age])
    driver = _bernoulli(S.rng(block, _A_DRIVER), M.driver_p[sexi, P.age])
    borrow_p = np.minimum(M.borrow_w[P.age] * np.where(employed, 1.3, 0.6), 0.95)
    borrower = _bernoulli(S.rng(block, _A_BORROW), borrow_p)
    code = M.regions.code[region]
    income_decile = _income_deciles(M, S, block, P, size, employed, code, urban)
    surname, given, patronymic = _name_codes(M, S, block, P, size, female)
    ids = _identifiers(M, S, state, block, P.age, birth, region, citizen, size, as_of)
    household_id = (state.households + P.hh).astype(np.int32)
    state.households += P.n_households
    return pl.DataFrame(
        [
            pl.Series("citizen_id", citizen, dtype=pl.Int64),
            _enum("district", M.regions.district[region], DISTRICT_ENUM),
            pl.Series("region_code", code.astype(np.int8)),
            pl.Series("urban", urban),
            _enum("sex", P.male, SEX_ENUM),
            pl.Series("birth_date", birth.astype(np.int32)).cast(pl.Date),
            pl.Series("age", P.age.astype(np.int8)),
            pl.Series("household_id", household_id),
            _enum("household_role", P.role, ROLE_ENUM),
            pl.Series("employed", employed),
            pl.Series("income_decile", income_decile),
            pl.Series("driver", driver),
            pl.Series("borrower", borrower),
            *ids,
            pl.Series("surname", surname),
            pl.Series("given_name", given),
            pl.Series("patronymic", patronymic),
        ]
    )


@dataclass
class _BlockPeople:
    """A block's people ordered by household (random household order), head first, then by age."""

    age: np.ndarray       # int64
    male: np.ndarray      # bool
    hh: np.ndarray        # int64 household index within the block
    role: np.ndarray      # household role codes
    hh_man: np.ndarray    # per household: position of its man in the block, -1 if none
    hh_size: np.ndarray   # per household: members
    n_households: int


def _household_people(M: _Model, S: _Streams, block: int, size: int) -> _BlockPeople:
    """Age and sex by systematic sampling of the calibrated cells (then shuffled), formed
    into households."""
    rng = S.rng(block, _A_AGESEX)
    cells = np.searchsorted(M.cell_cdf, (np.arange(size) + rng.random()) / size, side="right")
    cells = rng.permutation(np.minimum(cells, M.cell_cdf.size - 1))
    age = (cells // 2).astype(np.int64)
    male = (cells % 2).astype(bool)
    H = _form_households(age, male, S.rng(block, _A_HH), M)
    order = np.argsort(H.hh * 1024 + H.role.astype(np.int64) * 128 + (127 - age), kind="stable")
    pos_of = np.empty(size, dtype=np.int64)
    pos_of[order] = np.arange(size)
    hh = H.hh[order]
    return _BlockPeople(age=age[order], male=male[order], hh=hh, role=H.role[order],
                        hh_man=np.where(H.man >= 0, pos_of[np.maximum(H.man, 0)], -1),
                        hh_size=np.bincount(hh, minlength=H.n), n_households=H.n)


def _regions(M: _Model, S: _Streams, block: int, P: _BlockPeople, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Region systematic over people in a random household order; urban per household."""
    rng = S.rng(block, _A_REGION)
    n_h, hh_size = P.n_households, P.hh_size
    perm = rng.permutation(n_h)
    cum = np.cumsum(hh_size[perm])
    point = (cum - hh_size[perm] + rng.random(n_h) * hh_size[perm]) / size
    hh_region = np.empty(n_h, dtype=np.int64)
    hh_region[perm] = np.minimum(np.searchsorted(M.region_cdf, point, side="right"), M.region_cdf.size - 1)
    hh_urban = rng.random(n_h) < M.regions.urban_p[hh_region]
    return hh_region[P.hh], hh_urban[P.hh]


def _income_deciles(M: _Model, S: _Streams, block: int, P: _BlockPeople, size: int, employed: np.ndarray,
                    code: np.ndarray, urban: np.ndarray) -> np.ndarray:
    """Household income per consumer unit, ranked by people within the block: a decile per person."""
    rng = S.rng(block, _A_INCOME)
    im = M.cal.model.income_model.value
    bounds = M.cal.population.working_age_bounds.value
    age, hh, n_h, hh_size = P.age, P.hh, P.n_households, P.hh_size
    pension_age = np.where(P.male, bounds.upper_men, bounds.upper_women)
    age_effect = -0.5 * np.clip((30 - age) / 12.0, 0, 1) - 0.2 * np.clip((age - 55) / 10.0, 0, 1)
    loc = im.moscow_premium * ((code == 77) + 0.5 * ((code == 78) | (code == 50))) + im.urban_premium * urban
    logearn = np.where(
        employed,
        rng.normal(0.0, im.earnings_sd, size) + age_effect + loc,
        np.where(age > pension_age, im.pension_level + 0.5 * loc + rng.normal(0, 0.25, size), -1.5 + rng.normal(0, 0.5, size)),
    )
    income = np.where(age >= 16, np.exp(logearn), 0.0)
    adults = np.bincount(hh, weights=(age >= 16).astype(np.float64), minlength=n_h)
    units = 1.0 + 0.7 * np.maximum(adults - 1, 0) + im.child_weight * (hh_size - adults)
    per_unit = np.bincount(hh, weights=income, minlength=n_h) / units
    hord = np.argsort(per_unit + rng.random(n_h) * 1e-9, kind="stable")
    before = np.cumsum(hh_size[hord]) - hh_size[hord]
    hh_decile = np.empty(n_h, dtype=np.int8)
    hh_decile[hord] = np.minimum(1 + (10 * (before + 0.5 * hh_size[hord]) / size).astype(np.int64), 10)
    return hh_decile[hh]


def _name_codes(M: _Model, S: _Streams, block: int, P: _BlockPeople, size: int,
                female: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surname (the family's, or one's own), given name and patronymic (from the father in
    the household, if any) as codes."""
    rng = S.rng(block, _A_NAMES)
    npar = M.cal.model.names.value
    sz = (npar.surname_zipf_s, npar.surname_zipf_q)
    gz = (npar.given_zipf_s, npar.given_zipf_q)
    hh, role, hh_man = P.hh, P.role, P.hh_man
    family = _names.draw_surnames(P.n_households, rng, *sz)
    own = _names.draw_surnames(size, rng, *sz)
    given = _names.draw_given_names(female, rng, *gz)
    patronymic = _names.draw_patronymics(size, rng, *gz)
    in_couple = hh_man[hh] >= 0
    takes = rng.random(size) < npar.wife_takes_surname
    spouse = in_couple & ((role == HEAD) | (role == PARTNER))
    uses_family = (role != OTHER) & ~(spouse & female & ~takes)
    surname = np.where(uses_family, family[hh], own).astype(np.int32)
    fathered = (role == CHILD) & in_couple
    patronymic = np.where(fathered, given[np.maximum(hh_man[hh], 0)], patronymic).astype(np.int16)
    return surname, given, patronymic


def _identifiers(M: _Model, S: _Streams, state: _State, block: int, age: np.ndarray, birth: np.ndarray,
                 region: np.ndarray, citizen: np.ndarray, size: int, as_of: dt.date) -> list[pl.Series]:
    """SNILS, INN, passport and phone columns (null where the person has none); INN and
    passport numbers follow the region that issued them, which is not always the home."""
    mp, R = M.cal.model, M.regions
    cov = mp.identifier_coverage.value
    rng = S.rng(block, _A_IDREGION)
    moved = rng.random(size) < mp.identifier_region_moved_share.value
    other = np.minimum(np.searchsorted(M.region_cdf, rng.random(size), side="right"), M.region_cdf.size - 1)
    id_region = np.where(moved, other, region)

    rng = S.rng(block, _A_SNILS)
    has_snils = rng.random(size) < np.where(age < 14, cov.snils.child, cov.snils.adult)
    snils = snils_from_index(citizen, S.key(_A_SNILS))

    rng = S.rng(block, _A_INN)
    p_inn = np.where(age < 14, cov.inn.under_14, np.where(age < 18, cov.inn.age_14_17, cov.inn.adult))
    has_inn = rng.random(size) < p_inn
    inn = np.zeros(size, dtype=np.int64)
    icode = R.code[id_region[has_inn]].astype(np.int64)
    local = group_rank(icode, 100, state.inn_counts)
    inn[has_inn] = inn_from_index(icode, local, M.inspectorates[icode], S.key(_A_INN))

    rng = S.rng(block, _A_PASSPORT)
    has_pass = (age >= 14) & (rng.random(size) < cov.passport_14_plus)
    birth_year = (birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)[has_pass]
    issue = passport_issue_year(birth_year, age[has_pass], as_of.year, rng)
    blank = passport_blank_year(issue, rng)
    series = passport_series(R.okato[id_region[has_pass]], blank)
    local = group_rank(series, 10_000, state.passport_counts)
    passport = np.zeros(size, dtype=np.int64)
    passport[has_pass] = passport_from_index(series, local, S.key(_A_PASSPORT))

    rng = S.rng(block, _A_PHONE)
    pc = cov.phone
    p_phone = np.select(
        [age < 10, age < 14, age < 18, age < 75], [pc.under_10, pc.age_10_13, pc.age_14_17, pc.adult_18_74], pc.age_75_plus
    )
    has_phone = rng.random(size) < p_phone
    phone = phone_from_index(citizen, S.key(_A_PHONE))
    return [_nullable(snils, has_snils, "snils"), _nullable(inn, has_inn, "inn"),
            _nullable(passport, has_pass, "passport"), _nullable(phone, has_phone, "phone")]


# ----------------------------------------------------------------------------------------------
# public API


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=POPULATION_SCHEMA)


def iter_population_shards(
    n: int,
    seed: int | np.random.SeedSequence,
    *,
    shard_size: int = 1_000_000,
    as_of: dt.date = DEFAULT_AS_OF,
    calibration: Calibration | None = None,
    block_size: int | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield the population of ``n`` people in consecutive shards of ``shard_size`` rows
    (the last may be shorter).  Concatenating the shards gives ``generate_population``'s frame
    for any ``shard_size``. ``block_size`` (default: the calibration's ``model.block_size``)
    sets the generation blocks, which households never cross; a different block size is a
    different population (tests use small blocks to have many of them)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    cal = calibration or load_calibration()
    if n > cal.model.inn_capacity_population.value:
        raise ValueError(f"n={n} exceeds the identifier capacity ({cal.model.inn_capacity_population.value})")
    M = _model(cal)
    S = _Streams(seed)
    state = _State(np.zeros(100, dtype=np.int64), np.zeros(10_000, dtype=np.int64))
    bs = cal.model.block_size.value if block_size is None else int(block_size)
    if bs < 1:
        raise ValueError(f"block_size: expected 1 or more, got {bs}")
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    for b, start in enumerate(range(0, n, bs)):
        frame = _block(M, S, state, b, start, min(bs, n - start), as_of)
        pending.append(frame)
        pending_rows += frame.height
        while pending_rows >= shard_size:
            buf = pl.concat(pending, rechunk=False)
            yield buf.slice(0, shard_size).rechunk()
            rest = buf.slice(shard_size)
            pending, pending_rows = ([rest] if rest.height else []), rest.height
    if pending_rows:
        yield pl.concat(pending, rechunk=True)


def generate_population(
    n: int,
    seed: int | np.random.SeedSequence,
    *,
    shard_size: int = 1_000_000,
    as_of: dt.date = DEFAULT_AS_OF,
    calibration: Calibration | None = None,
    block_size: int | None = None,
) -> pl.DataFrame:
    """The synthetic population of ``n`` people as one frame (columns: ``POPULATION_SCHEMA``).

    Identical for the same ``(n, seed, as_of, calibration)`` whatever ``shard_size``.
    """
    shards = list(iter_population_shards(n, seed, shard_size=shard_size, as_of=as_of, calibration=calibration,
                                         block_size=block_size))
    if not shards:
        return _empty()
    return pl.concat(shards, rechunk=True) if len(shards) > 1 else shards[0]
