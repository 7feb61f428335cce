"""INN (taxpayer number) of natural persons: 12 digits, two check digits.

Digits 1-4 are the code of the tax office that assigned the number (two-digit
region code, then two-digit inspectorate), 5-10 a serial number, 11-12 checks:
c11 = (sum d1..d10 * 7,2,4,10,3,5,9,4,6,8) mod 11 mod 10,
c12 = (sum d1..d11 * 3,7,2,4,10,3,5,9,4,6,8) mod 11 mod 10.
Stored as int64 (a leading region digit 0 is kept by formatting to 12 digits).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ._common import finish, to_int64, weighted_digit_sum, zfill_strings
from ._permute import derive_keys, permute

_W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
SERIALS_PER_INSPECTORATE = 1_000_000


def inn_check_digits(first10) -> tuple[np.ndarray, np.ndarray]:
    """The two check digits for an array of 10-digit INN prefixes."""
    first10 = np.asarray(first10, dtype=np.int64)
    c11 = weighted_digit_sum(first10, _W11) % 11 % 10
    c12 = (weighted_digit_sum(first10, _W12[:10]) + _W12[10] * c11) % 11 % 10
    return c11, c12


def make_inn(region, inspectorate, serial) -> np.ndarray:
    """int64 personal INN from region code (1..99), inspectorate (1..99) and serial (0..999999)."""
    region = np.asarray(region, dtype=np.int64)
    inspectorate = np.asarray(inspectorate, dtype=np.int64)
    serial = np.asarray(serial, dtype=np.int64)
    first10 = region * 10**8 + inspectorate * 10**6 + serial
    c11, c12 = inn_check_digits(first10)
    return first10 * 100 + c11 * 10 + c12


def inn_from_index(region, local_index, inspectorates, key) -> np.ndarray:
    """INN for people numbered ``local_index`` (0, 1, ...) *within* their region.

    Each region has ``inspectorates`` tax offices (array aligned with ``region``,
    1..99); the pair (inspectorate, serial) is a keyed permutation of the local
    index over ``inspectorates * 10**6`` slots, so distinct (region, index)
    pairs give distinct INNs.
    """
    region = np.asarray(region, dtype=np.int64)
    cap = np.asarray(inspectorates, dtype=np.int64) * SERIALS_PER_INSPECTORATE
    local_index = np.asarray(local_index, dtype=np.int64)
    if local_index.size and np.any(local_index >= cap):
        raise ValueError("INN serial space of a region exhausted; raise its number of inspectorates")
    slot = permute(local_index, cap, derive_keys(int(key), region))
    return make_inn(region, slot // SERIALS_PER_INSPECTORATE + 1, slot % SERIALS_PER_INSPECTORATE)


def generate_inn(
    n: int,
    rng: np.random.Generator,
    region=None,
    *,
    inspectorates: int = 40,
) -> np.ndarray:
    """``n`` distinct valid personal INNs.  ``region``: codes per person (default: uniform 1..89)."""
    if region is None:
        region = rng.integers(1, 90, size=n)
    region = np.asarray(region, dtype=np.int64)
    from ._permute import group_rank

    local = group_rank(region, 100)
    key = int(rng.integers(0, 2**63, dtype=np.int64))
    return inn_from_index(region, local, np.full(region.shape, inspectorates), key)


def validate_inn(values: Any):
    """Element-wise validity of 12-digit personal INNs given as ints or strings."""
    x, ok, scalar = to_int64(values, 12)
    c11, c12 = inn_check_digits(x // 100)
    valid = ok & (c11 == (x // 10) % 10) & (c12 == x % 10)
    return finish(valid, scalar)


def inn_region(values) -> np.ndarray:
    """Region code (first two digits) of int64 INNs."""
    return (np.asarray(values, dtype=np.int64) // 10**10).astype(np.int16)


def format_inn(values) -> np.ndarray:
    """12-digit zero-padded strings."""
    return zfill_strings(values if isinstance(values, pl.Series) else np.asarray(values), 12).to_numpy()


def inn_expr(col: str | pl.Expr) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.cast(pl.String).str.zfill(12)
