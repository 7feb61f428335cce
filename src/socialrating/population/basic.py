"""A small seeded population: enough attributes for the basic event generator.

Kept deliberately simple (shares from docs/sources.md, rounded); the full
Synthetic Russia generator (population/generate.py) replaces it where available.
"""

from __future__ import annotations

import numpy as np
import polars as pl

DISTRICTS = ["Central", "North-West", "South", "North Caucasus", "Volga", "Urals", "Siberia", "Far East"]
# Rosstat, 1 Jan 2023 (secondary): people by federal district
DISTRICT_POP = np.array([40_240_256, 13_867_347, 16_642_052, 10_205_730,
                         28_683_247, 12_259_126, 16_645_802, 7_903_864], dtype=np.float64)
URBAN_SHARE = 109.6 / 146.2  # Rosstat via TASS, 2024


def basic_population(n: int, seed: np.random.SeedSequence | int) -> pl.DataFrame:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(ss)
    district = rng.choice(len(DISTRICTS), size=n, p=DISTRICT_POP / DISTRICT_POP.sum()).astype(np.uint32)
    age = np.minimum(rng.gamma(2.6, 15.5, size=n), 100).astype(np.int8)
    sex = (rng.random(n) < 0.535).astype(np.uint32)  # 1,151 women per 1,000 men
    household = (np.arange(n) // 2.4 + rng.integers(0, 2, n)).astype(np.int64)
    household = np.maximum.accumulate(household)
    return pl.DataFrame({
        "citizen_id": np.arange(n, dtype=np.int64),
        "district": pl.Series(district).cat.to(pl.Enum(DISTRICTS)),
        "urban": rng.random(n) < URBAN_SHARE,
        "sex": pl.Series(sex).cat.to(pl.Enum(["M", "F"])),
        "age": age,
        "household_id": household,
        "income_decile": rng.integers(1, 11, n).astype(np.int8),
        "driver": (age >= 18) & (rng.random(n) < 0.55),
        "borrower": (age >= 18) & (rng.random(n) < 0.45),
    })
