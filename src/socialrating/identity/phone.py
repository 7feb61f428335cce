"""Russian mobile numbers ``+7 9XX XXX-XX-XX``, stored as int64 ``79XXXXXXXXX``."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ._common import finish, to_int64
from ._permute import permute

_BASE = 79_000_000_000
_DOMAIN = 1_000_000_000


def phone_from_index(index, key) -> np.ndarray:
    """Mobile numbers for unique indices (< 1e9): distinct indices give distinct numbers."""
    return permute(np.asarray(index, dtype=np.int64), _DOMAIN, key) + _BASE


def generate_phones(n: int, rng: np.random.Generator) -> np.ndarray:
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    return phone_from_index(np.arange(n, dtype=np.int64), key)


def validate_phone(values: Any):
    """Valid mobile numbers: ints ``79XXXXXXXXX`` or strings like ``+7 9XX XXX-XX-XX`` / ``8 9XX...``."""
    if isinstance(values, pl.Series) and values.dtype.is_integer() or (
        not isinstance(values, pl.Series) and np.atleast_1d(np.asarray(values)).dtype.kind in "iu"
    ):
        x, ok, scalar = to_int64(values, 11)
    else:
        arr = values if isinstance(values, pl.Series) else pl.Series(np.atleast_1d(np.asarray(values)).astype(str))
        scalar = np.isscalar(values)
        s = arr.cast(pl.String).str.replace_all(r"[\s\-()]", "")
        s = s.str.replace(r"^\+7", "7").str.replace(r"^8(\d{10})$", "7$1")
        x, ok, _ = to_int64(s, 11, strip=r"^$")
    valid = ok & (x // 10**9 == 79)
    return finish(valid, scalar)


def phone_expr(col: str | pl.Expr) -> pl.Expr:
    e = (pl.col(col) if isinstance(col, str) else col).cast(pl.String)
    return pl.concat_str(
        [pl.lit("+7 "), e.str.slice(1, 3), pl.lit(" "), e.str.slice(4, 3), pl.lit("-"), e.str.slice(7, 2), pl.lit("-"), e.str.slice(9, 2)]
    )


def format_phone(values) -> np.ndarray:
    s = values if isinstance(values, pl.Series) else pl.Series("p", np.asarray(values, dtype=np.int64))
    return pl.DataFrame({"p": s}).select(phone_expr("p")).to_series().to_numpy()
