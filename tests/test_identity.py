"""Tests of the identity stage (identifier generation/validation and names)."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.ru import inn as stdnum_inn

from socialrating.identity import (
    format_inn,
    format_passport,
    format_phone,
    format_snils,
    generate_inn,
    generate_passports,
    generate_phones,
    generate_snils,
    make_snils,
    validate_inn,
    validate_passport,
    validate_phone,
    validate_snils,
)
from socialrating.identity import names
from socialrating.identity._permute import group_rank, permute
from socialrating.identity.snils import SNILS_ZERO_CHECK_SUMS, snils_weighted_sum


def ref_snils_ok(s: str) -> bool:
    """Independent scalar reference of the SNILS rule."""
    d = [int(c) for c in s]
    body, chk = int(s[:9]), int(s[9:])
    if body <= 1001998:
        return body > 0
    total = sum(w * x for w, x in zip(range(9, 0, -1), d[:9]))
    if total < 100:
        c = total
    elif total in (100, 101):
        c = 0
    else:
        c = total % 101
        c = 0 if c == 100 else c
    return c == chk


# ------------------------------------------------------------------ SNILS
def test_snils_published_example():
    assert validate_snils("112-233-445 95") is True
    assert validate_snils(11223344595) is True
    assert validate_snils("11223344595") is True
    assert validate_snils("112-233-445 96") is False
    assert list(validate_snils(["112-233-445 95", "112-233-445 59", "x", ""])) == [True, False, False, False]


def test_snils_generate_unique_valid_formatted():
    rng = np.random.default_rng(7)
    s = generate_snils(50_000, rng)
    assert s.dtype == np.int64
    assert np.unique(s).size == s.size
    assert validate_snils(s).all()
    assert (s // 100 > 1_001_998).all()
    f = format_snils(s[:2000])
    pat = re.compile(r"^\d{3}-\d{3}-\d{3} \d{2}$")
    assert all(pat.match(x) for x in f)
    assert validate_snils(f).all()
    assert all(ref_snils_ok(x.replace("-", "").replace(" ", "")) for x in f)


@settings(max_examples=300, deadline=None)
@given(body=st.integers(1_001_999, 999_999_999), pos=st.integers(0, 10), delta=st.integers(1, 9))
def test_snils_single_digit_corruption(body, pos, delta):
    good = format(int(make_snils(np.array([body]))[0]), "011d")
    assert validate_snils(good) is True
    digits = list(good)
    digits[pos] = str((int(digits[pos]) + delta) % 10)
    bad = "".join(digits)
    result = validate_snils(bad)
    assert result == ref_snils_ok(bad)
    if result and int(bad[:9]) <= 1_001_998:
        return  # corrupted into the legacy range, which carries no check
    if result:
        # only possible through the documented weakness: both sums map to check 00
        s_good = int(snils_weighted_sum(np.array([int(good[:9])]))[0])
        s_bad = int(snils_weighted_sum(np.array([int(bad[:9])]))[0])
        assert s_good in SNILS_ZERO_CHECK_SUMS and s_bad in SNILS_ZERO_CHECK_SUMS
        assert pos < 9


def test_snils_known_weakness_is_real():
    # body with weighted sum 201 -> check 00; +1 on the last digit gives sum 202 -> also 00
    rng = np.random.default_rng(0)
    bodies = rng.integers(100_000_000, 999_999_990, 200_000)
    s = snils_weighted_sum(bodies)
    b = int(bodies[(s == 201) & (bodies % 10 < 9)][0])
    assert validate_snils(b * 100) and validate_snils((b + 1) * 100)


# ------------------------------------------------------------------ INN
def test_inn_stdnum_oracle_10k():
    rng = np.random.default_rng(11)
    region = rng.choice([1, 5, 23, 50, 77, 78, 91], size=12_000)
    inns = generate_inn(12_000, rng, region)
    assert np.unique(inns).size == inns.size
    strs = format_inn(inns)
    assert all(len(x) == 12 and x.isdigit() for x in strs)
    assert all(stdnum_inn.is_valid(x) for x in strs)
    assert validate_inn(inns).all() and validate_inn(strs).all()
    assert (np.array([int(x[:2]) for x in strs]) == region).all()


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pos=st.integers(0, 11), delta=st.integers(1, 9))
def test_inn_corruption_agrees_with_stdnum(seed, pos, delta):
    good = format_inn(generate_inn(1, np.random.default_rng(seed)))[0]
    digits = list(good)
    digits[pos] = str((int(digits[pos]) + delta) % 10)
    bad = "".join(digits)
    assert validate_inn(bad) == stdnum_inn.is_valid(bad)
    assert validate_inn(int(bad)) == stdnum_inn.is_valid(bad)


def test_inn_detects_most_corruptions():
    rng = np.random.default_rng(3)
    inns = generate_inn(20_000, rng)
    pos = rng.integers(0, 12, inns.size)
    delta = rng.integers(1, 10, inns.size)
    d = (inns // 10 ** (11 - pos)) % 10
    bad = inns + ((d + delta) % 10 - d) * 10 ** (11 - pos)
    caught = ~validate_inn(bad)
    # a typo escapes only if both check sums move between 0 and 10 (mod 11): very rare
    assert caught.mean() > 0.995


# ------------------------------------------------------------------ passport / phone
def test_passport_unique_and_format():
    rng = np.random.default_rng(5)
    n = 30_000
    region = rng.choice([45, 46, 40], n)
    year = rng.choice([2003, 2010, 2024], n)
    p = generate_passports(region, year, rng)
    assert np.unique(p).size == n
    assert validate_passport(p, region_codes=[45, 46, 40]).all()
    f = format_passport(p)
    assert all(re.match(r"^\d{2} \d{2} \d{6}$", x) for x in f)
    assert ((p // 10**6) % 100 == year % 100).all()
    assert validate_passport("45 10 000000") is False
    assert validate_passport("45 10 12345") is False


def test_passport_issue_year_consistent_with_age():
    from socialrating.identity import passport_issue_year

    rng = np.random.default_rng(2)
    age = rng.integers(0, 100, 20_000)
    birth_year = 2024 - age
    y = passport_issue_year(birth_year, age, 2025, rng)
    has = age >= 14
    assert (y[~has] == -1).all()
    yy, a, by = y[has], age[has], birth_year[has]
    assert (yy >= 1997).all() and (yy <= 2025).all()
    assert (yy >= by + 14).all()
    t = np.where(a >= 45, 45, np.where(a >= 20, 20, 14))
    assert ((yy >= by + t) | (yy <= 2004)).all()


def test_phone_unique_valid_format():
    rng = np.random.default_rng(9)
    p = generate_phones(50_000, rng)
    assert np.unique(p).size == p.size
    assert validate_phone(p).all()
    f = format_phone(p[:1000])
    assert all(re.match(r"^\+7 9\d{2} \d{3}-\d{2}-\d{2}$", x) for x in f)
    assert validate_phone(f).all()
    assert validate_phone("8 (912) 345-67-89") is True
    assert validate_phone("+7 812 345-67-89") is False
    assert validate_phone(7912345678) is False


# ------------------------------------------------------------------ permutation helpers
@pytest.mark.parametrize("domain", [1, 2, 3, 10, 999, 4097, 999_999])
def test_permute_is_bijection(domain):
    out = permute(np.arange(domain), domain, np.uint64(12345))
    assert np.array_equal(np.sort(out), np.arange(domain))


def test_group_rank_blockwise_equals_whole():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 7, 1000)
    whole = group_rank(keys, 7)
    offsets = np.zeros(7, dtype=np.int64)
    parts = np.concatenate([group_rank(keys[:300], 7, offsets), group_rank(keys[300:], 7, offsets)])
    assert np.array_equal(whole, parts)


# ------------------------------------------------------------------ names
def test_names_codes_and_labels():
    rng = np.random.default_rng(4)
    n = 100_000
    female = rng.random(n) < 0.5
    s = names.draw_surnames(n, rng)
    g = names.draw_given_names(female, rng)
    p = names.draw_patronymics(n, rng)
    assert s.dtype == np.int32 and g.dtype == np.int16 and p.dtype == np.int16
    assert s.max() < names.n_surnames()
    assert g[female].max() < len(names.FEMALE_GIVEN_NAMES) and g[~female].max() < len(names.MALE_GIVEN_NAMES)
    # skewed: the most common surname is far above uniform
    top = np.bincount(s).max() / n
    assert 0.008 < top < 0.02
    lab = names.full_name_labels(np.array([1, 1]), np.array([9, 0]), np.array([9, 9]), np.array([False, True]))
    assert list(lab) == ["Иванов Иван Иванович", "Иванова Елена Ивановна"]
    assert names.feminine_surname("Вишневский") == "Вишневская"
    assert names.feminine_surname("Шевченко") == "Шевченко"
    d = names.name_dictionary()
    assert d["surname"].height == names.n_surnames()


def test_namesake_rate_model():
    # full name + birth date twins: rare in a sample, but present at national scale
    small = names.expected_namesake_rate(100_000)
    national = names.expected_namesake_rate(73_000_000)
    assert small < 1e-4
    assert 5e-4 < national < 2e-2
    assert names.expected_namesake_rate(73_000_000, birth_date_collision=1.0) > 0.5
