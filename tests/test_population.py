"""Tests of the synthetic population (calibration, generator)."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml

from socialrating.identity import validate_inn, validate_passport, validate_phone, validate_snils
from socialrating.population.calibration import DEFAULT_PATH, CalibrationError, load_calibration, parse_calibration
from socialrating.population.generate import (
    CORE_COLUMNS,
    POPULATION_SCHEMA,
    age_sex_distribution,
    generate_population,
    iter_population_shards,
    region_table,
)

N = 200_000
SEED = 20250101


@pytest.fixture(scope="module")
def cal():
    return load_calibration()


@pytest.fixture(scope="module")
def pop():
    return generate_population(N, SEED)


# ------------------------------------------------------------------ calibration file
def test_calibration_every_entry_has_provenance():
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))

    def walk(node, path):
        if isinstance(node, dict) and "value" in node:
            assert node.get("source") or node.get("assumption"), path
            return 1
        assert isinstance(node, dict), path
        return sum(walk(v, f"{path}.{k}") for k, v in node.items())

    assert walk(raw, "") >= 60


def test_calibration_values(cal):
    assert cal.population.by_district.value["Central"] == 40_240_256
    assert cal.population.women_per_1000_men_70_plus.value == 2157
    assert cal.base_rates.active_borrowers.value == 50_100_000
    assert cal.error_rates.name_check_false_positive.value == pytest.approx(0.055)
    assert "Bank of Russia" in cal.base_rates.active_borrowers.source
    assert abs(sum(cal.district_shares().values()) - 1) < 1e-12


def test_calibration_errors_name_the_key():
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["population"]["urban_share"]["value"] = "three quarters"
    with pytest.raises(CalibrationError, match=r"population\.urban_share\.value"):
        parse_calibration(raw)
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    del raw["base_rates"]["convictions_per_year"]["source"]
    with pytest.raises(CalibrationError, match=r"base_rates\.convictions_per_year.*source"):
        parse_calibration(raw)
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    del raw["error_rates"]["traffic_camera_unusable"]
    with pytest.raises(CalibrationError, match=r"error_rates\.traffic_camera_unusable"):
        parse_calibration(raw)
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration("/nonexistent/calibration.yaml")


def test_age_sex_distribution_hits_published_targets(cal):
    pm, pf = age_sex_distribution(cal)
    a = np.arange(pm.size)
    p = pm + pf
    assert p.sum() == pytest.approx(1.0)
    assert p[a < 16].sum() == pytest.approx(0.185, abs=1e-6)
    assert p[a >= 65].sum() == pytest.approx(0.171, abs=1e-6)
    assert pm[a >= 62].sum() + pf[a >= 57].sum() == pytest.approx(0.245, abs=1e-6)
    assert pf.sum() / pm.sum() == pytest.approx(1.151, abs=1e-6)
    assert pf[a >= 70].sum() / pm[a >= 70].sum() == pytest.approx(2.157, abs=1e-6)


# ------------------------------------------------------------------ frame shape and dtypes
def test_schema(pop):
    assert pop.height == N
    assert dict(pop.schema) == POPULATION_SCHEMA
    assert pop["citizen_id"].to_list() == list(range(N))
    core = pop.select(CORE_COLUMNS).estimated_size() / N
    assert core <= 40, core


# ------------------------------------------------------------------ marginals
def test_district_shares(pop, cal):
    got = pop["district"].value_counts(normalize=True)
    got = dict(zip(got["district"].cast(pl.String), got["proportion"]))
    for d, share in cal.district_shares().items():
        assert abs(got[d] - share) < 0.005, (d, got[d], share)


def test_region_codes_and_districts(pop, cal):
    rt = region_table(cal)
    pairs = set(zip(rt.code.tolist(), rt.district.tolist()))
    got = pop.select(pl.col("region_code").cast(pl.Int16), pl.col("district").to_physical().cast(pl.Int64)).unique()
    assert set(map(tuple, got.rows())) <= pairs
    moscow = (pop["region_code"] == 77).mean()
    assert abs(moscow - rt.person_share[list(rt.code).index(77)]) < 0.005
    assert pop.filter(pl.col("region_code") == 77)["urban"].all()


def test_urban_share(pop):
    assert abs(pop["urban"].mean() - 109.6 / 146.2) < 0.01


def test_sex_ratio_overall_and_70_plus(pop):
    f = (pop["sex"] == "F").sum()
    m = (pop["sex"] == "M").sum()
    assert abs(f / m - 1.151) < 0.01
    old = pop.filter(pl.col("age") >= 70)
    ratio = (old["sex"] == "F").sum() / (old["sex"] == "M").sum()
    assert abs(ratio - 2.157) < 0.05


def test_age_structure(pop):
    age = pop["age"].cast(pl.Int64)
    male = pop["sex"] == "M"
    below = (age < 16).mean()
    above = ((male & (age >= 62)) | (~male & (age >= 57))).mean()
    assert abs(below - 0.185) < 0.005
    assert abs(above - 0.245) < 0.005
    assert abs((1 - below - above) - 0.57) < 0.01
    assert abs((age >= 65).mean() - 0.171) < 0.005
    assert age.min() >= 0 and age.max() <= 100


def test_birth_date_consistent_with_age(pop):
    as_of = dt.date(2025, 1, 1)
    b = pop["birth_date"]
    md = b.dt.month().cast(pl.Int32) * 100 + b.dt.day().cast(pl.Int32)
    years = as_of.year - b.dt.year().cast(pl.Int32) - (md > as_of.month * 100 + as_of.day).cast(pl.Int32)
    assert (years.cast(pl.Int64) == pop["age"].cast(pl.Int64)).all()
    assert pop["birth_date"].to_physical().dtype == pl.Int32


def test_borrowers_share_of_adults(pop, cal):
    pm, pf = age_sex_distribution(cal)
    adult_share = (pm + pf)[18:].sum()
    target = 50.1e6 / (cal.population.total_2025.value * adult_share)
    adults = pop.filter(pl.col("age") >= 18)
    assert abs(adults["borrower"].mean() - target) < 0.01
    assert not pop.filter(pl.col("age") < 18)["borrower"].any()


def test_employment_driver_income(pop):
    employed_national = pop["employed"].mean() * 146.0e6
    assert 65e6 < employed_national < 80e6
    assert not pop.filter(pl.col("age") < 15)["employed"].any()
    assert not pop.filter(pl.col("age") < 18)["driver"].any()
    dec = pop["income_decile"].value_counts().sort("income_decile")
    assert dec["income_decile"].to_list() == list(range(1, 11))
    assert (abs(dec["count"] / N - 0.1) < 0.01).all()
    # income rises with employment and in Moscow
    emp = pop.group_by("employed").agg(pl.col("income_decile").cast(pl.Float64).mean()).sort("employed")
    assert emp["income_decile"][1] > emp["income_decile"][0] + 1
    msk = pop.filter(pl.col("region_code") == 77)["income_decile"].cast(pl.Float64).mean()
    assert msk > 6.0


def test_households(pop):
    hh = pop.group_by("household_id").agg(
        size=pl.len(),
        heads=(pl.col("household_role") == "head").sum(),
        partners=(pl.col("household_role") == "partner").sum(),
        adults=(pl.col("age") >= 18).sum(),
        first_role=pl.col("household_role").first(),
        span=pl.col("citizen_id").max() - pl.col("citizen_id").min(),
    )
    assert 2.1 < hh["size"].mean() < 2.8
    assert (hh["heads"] <= 1).all() and (hh["partners"] <= 1).all()
    assert (hh["span"] == hh["size"] - 1).all()  # members are contiguous
    # all but a handful (tiny edge cases) have an adult head
    assert (hh["heads"] == 1).mean() > 0.999
    assert ((hh["first_role"] == "head") | (hh["heads"] == 0)).all()
    shared = pop.group_by("household_id").agg(pl.col("region_code").n_unique(), pl.col("urban").n_unique())
    assert (shared["region_code"] == 1).all() and (shared["urban"] == 1).all()
    kids = pop.filter(pl.col("age") < 18)
    assert (kids["household_role"] == "child").mean() > 0.99
    # couples: partners are of opposite sex
    couples = pop.filter(pl.col("household_role").is_in(["head", "partner"])).group_by("household_id").agg(
        pl.len(), pl.col("sex").n_unique().alias("sexes")
    )
    assert (couples.filter(pl.col("len") == 2)["sexes"] == 2).all()


def test_children_share_father_names(pop):
    fam = pop.filter(pl.col("household_role").is_in(["head", "partner"]) & (pl.col("sex") == "M")).select(
        "household_id", father_surname="surname", father_given="given_name"
    )
    couple_ids = (
        pop.filter(pl.col("household_role") == "partner").select("household_id").unique()
    )
    kids = pop.filter(pl.col("household_role") == "child").join(couple_ids, on="household_id").join(fam, on="household_id")
    assert kids.height > 10_000
    assert (kids["surname"] == kids["father_surname"]).all()
    assert (kids["patronymic"] == kids["father_given"]).all()


def test_namesakes(pop):
    full = pop.group_by("surname", "given_name", "patronymic", "sex").len()
    share_full = full.filter(pl.col("len") > 1)["len"].sum() / N
    assert 0.02 < share_full < 0.6  # full-name namesakes are common even in 200k
    dob = pop.group_by("surname", "given_name", "patronymic", "sex", "birth_date").len()
    assert dob.filter(pl.col("len") > 1)["len"].sum() / N < 0.002


# ------------------------------------------------------------------ identifiers
def test_identifiers_valid_unique_and_age_rules(pop):
    for col, validate in (("snils", validate_snils), ("inn", validate_inn), ("passport", validate_passport), ("phone", validate_phone)):
        s = pop[col].drop_nulls()
        assert s.len() > 0.5 * N
        assert s.is_unique().all(), col
        assert validate(s.to_numpy()).all(), col
    assert pop.filter(pl.col("age") < 14)["passport"].null_count() == (pop["age"] < 14).sum()
    assert pop.filter(pl.col("age") >= 14)["passport"].null_count() < 0.01 * (pop["age"] >= 14).sum()
    young = pop.filter(pl.col("age") < 10)
    assert young["phone"].null_count() / young.height > 0.9
    adults = pop.filter(pl.col("age") >= 18)
    assert adults["phone"].null_count() / adults.height < 0.1
    assert adults["inn"].null_count() / adults.height < 0.05
    assert pop["snils"].null_count() / N < 0.02


def test_identifier_regions(pop, cal):
    rt = region_table(cal)
    inn_region = pop["inn"].drop_nulls() // 10**10
    assert set(inn_region.unique().to_list()) <= set(rt.code.tolist())
    # most INNs carry the residence region
    same = pop.filter(pl.col("inn").is_not_null()).select((pl.col("inn") // 10**10) == pl.col("region_code").cast(pl.Int64))
    assert 0.85 < same.to_series().mean() < 0.97
    okato = pop["passport"].drop_nulls() // 10**8
    assert set(okato.unique().to_list()) <= set(rt.okato.tolist())


def test_passport_year_consistent_with_age(pop):
    p = pop.filter(pl.col("passport").is_not_null()).select(
        "age", birth_year=pl.col("birth_date").dt.year(), yy=(pl.col("passport") // 10**6) % 100
    )
    year = np.where(p["yy"].to_numpy() >= 90, 1900, 2000) + p["yy"].to_numpy()
    age = p["age"].to_numpy().astype(int)
    by = p["birth_year"].to_numpy()
    assert (year >= 1997).all() and (year <= 2025).all()
    t = np.where(age >= 45, 45, np.where(age >= 20, 20, 14))
    # printed at most 2 years before issue; issued at the last 14/20/45 birthday, or in the 1997-2004 exchange
    assert ((year >= by + t - 2) | (year <= 2004)).all()
    assert (year >= by + 14 - 2).all()


# ------------------------------------------------------------------ determinism and sharding
def test_same_seed_same_frame(pop):
    again = generate_population(N, SEED)
    assert pop.equals(again)


def test_different_seed_differs(pop):
    other = generate_population(N, SEED + 1)
    assert not pop.equals(other)
    assert (pop["age"] != other["age"]).mean() > 0.5


def test_shard_size_does_not_change_result(pop):
    sharded = generate_population(N, SEED, shard_size=37_123)
    assert pop.equals(sharded)
    shards = list(iter_population_shards(N, SEED, shard_size=50_000))
    assert [s.height for s in shards] == [50_000] * 4
    assert pl.concat(shards).equals(pop)


def test_seed_sequence_and_prefix_stability():
    ss = np.random.SeedSequence(123)
    a = generate_population(150_000, ss)
    b = generate_population(150_000, np.random.SeedSequence(123))
    assert a.equals(b)
    # the first full block does not depend on n
    c = generate_population(140_000, np.random.SeedSequence(123))
    assert a.head(131_072).equals(c.head(131_072))


def test_small_and_empty():
    assert generate_population(0, 1).height == 0
    tiny = generate_population(7, 1)
    assert tiny.height == 7 and dict(tiny.schema) == POPULATION_SCHEMA
    with pytest.raises(ValueError):
        generate_population(-1, 1)


def test_leap_day_reference_date():
    as_of = dt.date(2024, 2, 29)
    p = generate_population(20_000, 5, as_of=as_of)
    b = p["birth_date"]
    md = b.dt.month().cast(pl.Int32) * 100 + b.dt.day().cast(pl.Int32)
    years = as_of.year - b.dt.year().cast(pl.Int32) - (md > as_of.month * 100 + as_of.day).cast(pl.Int32)
    assert (years.cast(pl.Int64) == p["age"].cast(pl.Int64)).all()
    assert (b <= as_of).all()
