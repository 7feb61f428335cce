"""Keyed bijections on integer ranges (a small Feistel network with cycle walking).

Identifiers must be unique over a population of up to ~150M people while being
generated shard by shard.  Instead of drawing random numbers and checking for
collisions (which needs global state), each identifier is the image of a
*unique index* (the citizen id, or a per-region running counter) under a keyed
permutation of the identifier space.  Distinct indices give distinct
identifiers by construction, and the result is deterministic for a given key.

This is *not* cryptography: it only has to look random and be a bijection.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ROUNDS = 4


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser applied element-wise to a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def derive_key(*parts: int) -> np.uint64:
    """Combine integers into one 64-bit key (deterministic)."""
    acc = np.zeros(1, dtype=np.uint64)
    for p in parts:
        v = np.array([(int(p) + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
        acc = mix64(acc ^ v)
    return np.uint64(acc[0])


def derive_keys(key: int, ids) -> np.ndarray:
    """One 64-bit key per id (vectorised): a key family derived from ``key``."""
    ids = np.asarray(ids, dtype=np.uint64)
    k = np.uint64(int(key) & 0xFFFFFFFFFFFFFFFF)
    return mix64(mix64(ids ^ np.uint64(0x632BE59BD9B4E019)) ^ k)


def _half_bits(domain: np.ndarray) -> np.ndarray:
    """Half the bit width b (b even, 2**b >= domain, b >= 2) of the Feistel block."""
    d = np.maximum(np.asarray(domain, dtype=np.uint64), np.uint64(2))
    b = np.ceil(np.log2(d.astype(np.float64))).astype(np.int64)
    b = np.where((np.uint64(1) << b.astype(np.uint64)) < d, b + 1, b)  # float rounding guard
    b = b + (b & 1)
    return (b // 2).astype(np.uint64)


def _round_keys(key) -> list:
    return [
        np.asarray(key, dtype=np.uint64) ^ np.uint64(((r + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        for r in range(_ROUNDS)
    ]


def _rounds(x: np.ndarray, h, rkeys: list) -> np.ndarray:
    """Balanced Feistel network on 2h-bit blocks (h scalar or per element)."""
    mask = (np.uint64(1) << h) - np.uint64(1)
    down = np.uint64(64) - h
    left = x >> h
    right = x & mask
    for rk in rkeys:
        f = right ^ rk
        f *= _M1
        f ^= f >> np.uint64(32)
        f *= _M2
        f >>= down  # top h bits of a multiplicative hash: < 2**h
        f ^= left
        left, right = right, f
    left <<= h
    left |= right
    return left


def permute(index, domain, key) -> np.ndarray:
    """Map ``index`` (ints in ``[0, domain)``) through a keyed bijection of ``[0, domain)``.

    ``domain`` and ``key`` may be scalars or arrays aligned with ``index``
    (one permutation per element group, e.g. one per region).  Returns int64.
    """
    x = np.asarray(index, dtype=np.int64)
    scalar_dom = np.ndim(domain) == 0
    if x.size and x.min() < 0:
        raise ValueError("index outside the permutation domain")
    if scalar_dom:
        dom = np.uint64(domain)
        h = np.uint64(_half_bits(np.array([domain]))[0])
    else:
        dom = np.asarray(domain, dtype=np.uint64)
        h = _half_bits(dom)
    if x.size and np.any(x.astype(np.uint64) >= dom):
        raise ValueError("index outside the permutation domain")
    scalar_key = np.ndim(key) == 0
    rkeys = _round_keys(key)
    y = _rounds(x.astype(np.uint64), h, rkeys)
    bad = np.flatnonzero(y >= dom)
    while bad.size:  # cycle walking: re-apply until the value falls inside the domain
        hb = h if scalar_dom else h[bad]
        kb = rkeys if scalar_key else [k[bad] for k in rkeys]
        y[bad] = _rounds(y[bad], hb, kb)
        bad = bad[y[bad] >= (dom if scalar_dom else dom[bad])]
    return y.astype(np.int64)


def group_rank(keys: np.ndarray, n_keys: int, offsets: np.ndarray | None = None) -> np.ndarray:
    """Running index of each element within its key group, in array order.

    ``offsets[k]`` (updated in place when given) holds how many elements of
    group ``k`` were seen before this array, so calling this on consecutive
    blocks yields the same ranks as one call on the concatenation.
    """
    keys = np.asarray(keys, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    counts = np.bincount(sk, minlength=n_keys)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank_sorted = np.arange(sk.size, dtype=np.int64) - starts[sk]
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    if offsets is not None:
        rank += offsets[keys]
        offsets += counts[: offsets.size]
    return rank
