"""Shared helpers: parsing identifier inputs (ints or strings) into int64 arrays, digits."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def to_int64(values: Any, ndigits: int, strip: str = r"[\s\-()]") -> tuple[np.ndarray, np.ndarray, bool]:
    """Parse identifiers given as ints or strings.

    Returns ``(numbers, well_formed, scalar)``: int64 array (0 where malformed),
    bool array telling whether the input had exactly ``ndigits`` digits (after
    removing separators matched by ``strip``), and whether the input was a scalar.
    """
    scalar = np.isscalar(values) or (isinstance(values, np.ndarray) and values.ndim == 0)
    if isinstance(values, pl.Series):
        series = values
    else:
        arr = np.atleast_1d(np.asarray(values))
        if arr.dtype.kind in "iu":
            x = arr.astype(np.int64)
            ok = (x >= 0) & (x < 10**ndigits)
            return np.where(ok, x, 0), ok, scalar
        if arr.dtype.kind == "b":
            raise TypeError("identifiers must be ints or strings, not bools")
        series = pl.Series(arr.astype(str) if arr.dtype.kind != "O" else [None if v is None else str(v) for v in arr])
    if series.dtype.is_integer():
        x = series.cast(pl.Int64).fill_null(-1).to_numpy()
        ok = (x >= 0) & (x < 10**ndigits)
        return np.where(ok, x, 0), ok, scalar
    s = series.cast(pl.String).str.replace_all(strip, "")
    ok_s = s.str.contains(rf"^\d{{{ndigits}}}$").fill_null(False)
    num = (
        pl.DataFrame({"s": s, "ok": ok_s})
        .select(pl.when(pl.col("ok")).then(pl.col("s")).otherwise(pl.lit("0")).str.to_integer(base=10).cast(pl.Int64))
        .to_series()
    )
    return num.to_numpy(), ok_s.to_numpy(), scalar


def digits(x: np.ndarray, n: int) -> list[np.ndarray]:
    """The ``n`` decimal digits of each element of ``x`` (most significant first), as uint32."""
    x = np.asarray(x, dtype=np.int64)
    out: list[np.ndarray] = []
    if n > 9:
        hi = (x // 10**9).astype(np.uint32)
        out.extend(digits(hi, n - 9))
        x = x % 10**9
        n = 9
    y = x.astype(np.uint32)
    ten = np.uint32(10)
    rev = []
    for _ in range(n):
        q = y // ten
        rev.append(y - q * ten)
        y = q
    out.extend(reversed(rev))
    return out


def weighted_digit_sum(x: np.ndarray, weights) -> np.ndarray:
    """Sum of digit_i * weight_i over the ``len(weights)`` digits of x (most significant first)."""
    x = np.asarray(x, dtype=np.int64)
    n = len(weights)
    total = np.zeros(x.shape, dtype=np.uint32)
    ten = np.uint32(10)
    # process the low 9 digits and the high remainder separately in uint32
    parts = [(x % 10**9).astype(np.uint32), (x // 10**9).astype(np.uint32)] if n > 9 else [x.astype(np.uint32)]
    pos = n - 1
    for part_i, y in enumerate(parts):
        width = 9 if (part_i == 0 and n > 9) else (n - 9 if n > 9 else n)
        for _ in range(width):
            q = y // ten
            w = weights[pos]
            if w:
                total += np.uint32(w) * (y - q * ten)
            y = q
            pos -= 1
    return total.astype(np.int64)


def finish(result: np.ndarray, scalar: bool):
    return bool(result[0]) if scalar else result


def zfill_strings(x: np.ndarray | pl.Series, width: int) -> pl.Series:
    """Zero-padded decimal strings (nulls stay null)."""
    s = x if isinstance(x, pl.Series) else pl.Series(np.asarray(x))
    return s.cast(pl.Int64).cast(pl.String).str.zfill(width)
