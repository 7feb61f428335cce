"""Internal passports: series ``RR YY`` + six-digit number, stored as int64 ``RRYY`` * 10**6 + number.

``RR`` is the (OKATO-style) code of the issuing region, ``YY`` the last two
digits of the year the blank was printed.  Passports are issued at 14 and
replaced at 20 and 45; the current Russian form exists since 1997 (people who
had passed 14/20/45 before got theirs in the 1997-2004 exchange).  There is no
check digit, so validation is structural only.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import polars as pl

from ._common import finish, to_int64, zfill_strings
from ._permute import derive_keys, group_rank, permute

PASSPORT_FIRST_YEAR = 1997
EXCHANGE_LAST_YEAR = 2004
ISSUE_AGES = (14, 20, 45)
_NUMBERS = 999_999  # numbers 000001..999999


def passport_issue_year(birth_year, age, as_of_year: int, rng: np.random.Generator) -> np.ndarray:
    """Year the current passport was issued (-1 where ``age < 14``).

    Issued in the year of the last 14/20/45 birthday (20% in the following
    year, as people apply late), never before 1997 (the exchange of Soviet
    passports ran 1997-2004) and never after ``as_of_year``.
    """
    birth_year = np.asarray(birth_year, dtype=np.int32)
    age = np.asarray(age, dtype=np.int32)
    t = np.where(age >= 45, 45, np.where(age >= 20, 20, 14))
    late = rng.random(birth_year.shape) < 0.2
    year = birth_year + t + late
    exchange = rng.integers(PASSPORT_FIRST_YEAR, EXCHANGE_LAST_YEAR + 1, size=birth_year.shape)
    year = np.where(year < PASSPORT_FIRST_YEAR, np.maximum(exchange, birth_year + 14), year)
    year = np.minimum(year, as_of_year)
    return np.where(age >= 14, year, -1).astype(np.int32)


def passport_blank_year(issue_year, rng: np.random.Generator) -> np.ndarray:
    """Year the blank was printed: the issue year or up to two years earlier (not before 1997)."""
    issue_year = np.asarray(issue_year, dtype=np.int32)
    lag = rng.choice(3, size=issue_year.shape, p=[0.75, 0.22, 0.03])
    return np.where(issue_year > 0, np.maximum(issue_year - lag, PASSPORT_FIRST_YEAR), -1).astype(np.int32)


def passport_series(region, year) -> np.ndarray:
    """Four-digit series ``RRYY`` as int."""
    return np.asarray(region, dtype=np.int64) * 100 + np.asarray(year, dtype=np.int64) % 100


def make_passport(region, year, number) -> np.ndarray:
    return passport_series(region, year) * 1_000_000 + np.asarray(number, dtype=np.int64)


def passport_from_index(series, local_index, key) -> np.ndarray:
    """Passport numbers for people numbered ``local_index`` within their series (distinct -> distinct)."""
    series = np.asarray(series, dtype=np.int64)
    local_index = np.asarray(local_index, dtype=np.int64)
    if local_index.size and local_index.max() >= _NUMBERS:
        raise ValueError("passport series exhausted (more than 999,999 blanks in one series)")
    number = permute(local_index, _NUMBERS, derive_keys(int(key), series)) + 1
    return series * 1_000_000 + number


def generate_passports(region, blank_year, rng: np.random.Generator) -> np.ndarray:
    """Distinct passports for people with the given issuing-region codes and blank years."""
    series = passport_series(region, blank_year)
    local = group_rank(series, 10_000)
    key = int(rng.integers(0, 2**63, dtype=np.int64))
    return passport_from_index(series, local, key)


def validate_passport(values: Any, region_codes: Iterable[int] | None = None):
    """Structural validity: 10 digits, number not 000000, optional known region codes."""
    x, ok, scalar = to_int64(values, 10)
    valid = ok & (x % 1_000_000 != 0)
    if region_codes is not None:
        valid &= np.isin(x // 10**8, np.fromiter(region_codes, dtype=np.int64))
    return finish(valid, scalar)


def passport_expr(col: str | pl.Expr) -> pl.Expr:
    e = (pl.col(col) if isinstance(col, str) else col).cast(pl.String).str.zfill(10)
    return pl.concat_str([e.str.slice(0, 2), e.str.slice(2, 2), e.str.slice(4, 6)], separator=" ")


def format_passport(values) -> np.ndarray:
    """``RR YY NNNNNN`` strings."""
    s = zfill_strings(values if isinstance(values, pl.Series) else np.asarray(values), 10)
    return (s.str.slice(0, 2) + " " + s.str.slice(2, 2) + " " + s.str.slice(4, 6)).to_numpy()
