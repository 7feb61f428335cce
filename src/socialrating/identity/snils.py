"""SNILS (individual insurance account number): generation, validation, formatting.

Format ``XXX-XXX-XXX YY``: a nine-digit body and a two-digit check number.
Check: weights 9..1 on the body digits, sum ``s``; ``s < 100`` -> ``s``;
``s`` in {100, 101} -> ``00``; otherwise ``s mod 101`` (with 100 -> ``00``).
Only bodies above 001-001-998 carry the check; lower numbers (issued before
the check existed) are accepted if well formed.

Known weakness (relevant for auditing data errors): because several sums map
to ``00`` (100, 101, 201, 202, 302, 303, 403, 404), a single-digit typo that
moves the sum between two of them is *not* detected, e.g. changing the last
body digit by one when ``s`` is 201.

Numbers are stored as int64 ``body * 100 + check``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ._common import finish, to_int64, weighted_digit_sum, zfill_strings
from ._permute import permute

#: Bodies at or below this number do not carry a check number.
SNILS_LAST_UNCHECKED_BODY = 1_001_998
_FIRST_BODY = SNILS_LAST_UNCHECKED_BODY + 1
_BODY_DOMAIN = 999_999_999 - _FIRST_BODY + 1
#: weighted sums whose check number is 00
SNILS_ZERO_CHECK_SUMS = (100, 101, 201, 202, 302, 303, 403, 404)


def snils_weighted_sum(body: np.ndarray) -> np.ndarray:
    return weighted_digit_sum(body, (9, 8, 7, 6, 5, 4, 3, 2, 1))


def snils_check(body) -> np.ndarray:
    """Check number (0..99) for nine-digit bodies (vectorised)."""
    s = snils_weighted_sum(np.asarray(body, dtype=np.int64))
    c = np.where(s < 100, s, np.where(s <= 101, 0, s % 101))
    return np.where(c == 100, 0, c).astype(np.int64)


def make_snils(body) -> np.ndarray:
    """Full int64 SNILS (body*100 + check) from bodies."""
    body = np.asarray(body, dtype=np.int64)
    return body * 100 + snils_check(body)


def snils_from_index(index, key) -> np.ndarray:
    """Valid SNILS for unique non-negative indices (< ~999M): distinct indices give distinct numbers."""
    idx = np.asarray(index, dtype=np.int64)
    if idx.size and idx.max() >= _BODY_DOMAIN:
        raise ValueError("SNILS index space exhausted")
    return make_snils(permute(idx, _BODY_DOMAIN, key) + _FIRST_BODY)


def generate_snils(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct, valid SNILS numbers as int64 (all with a check number)."""
    key = rng.integers(0, 2**63, dtype=np.int64)
    return snils_from_index(np.arange(n, dtype=np.int64), np.uint64(key))


def validate_snils(values: Any):
    """Element-wise validity of SNILS given as ints or strings (``'112-233-445 95'`` or digits).

    Returns a bool array (or a bool for a scalar input).
    """
    x, ok, scalar = to_int64(values, 11)
    body, chk = x // 100, x % 100
    checked = body > SNILS_LAST_UNCHECKED_BODY
    valid = ok & (body > 0) & (~checked | (snils_check(body) == chk))
    return finish(valid, scalar)


def format_snils(values) -> np.ndarray:
    """Format int SNILS as ``XXX-XXX-XXX YY`` (object array of str; None for nulls)."""
    s = zfill_strings(values if isinstance(values, pl.Series) else np.asarray(values), 11)
    out = s.str.slice(0, 3) + "-" + s.str.slice(3, 3) + "-" + s.str.slice(6, 3) + " " + s.str.slice(9, 2)
    return out.to_numpy()


def snils_expr(col: str | pl.Expr) -> pl.Expr:
    """Polars expression formatting an int64 SNILS column as ``XXX-XXX-XXX YY``."""
    e = (pl.col(col) if isinstance(col, str) else col).cast(pl.String).str.zfill(11)
    return pl.concat_str([e.str.slice(0, 3), e.str.slice(3, 3), e.str.slice(6, 3)], separator="-") + " " + e.str.slice(9, 2)
