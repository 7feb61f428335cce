"""A simple seeded event generator: population table in, events table out.

Each event type has a yearly rate per eligible person, scaled by a per-person propensity
(a gamma-distributed "risk" for sanctions, "civic" for bonuses) so events cluster on some
people as they do in real enforcement data. Rates are rounded from
docs/sources.md. Dates are uniform over the period; a paid debt follows some
debtor listings. Whole arrays only: no loop per person or per event.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ..policy.catalog import CATALOG

EVENT_TYPE = pl.Enum([e.name for e in CATALOG])
SOURCE = pl.Enum(sorted({e.source for e in CATALOG}))

# (event type, yearly rate per eligible person, eligibility, propensity, amount spec)
# eligibility: "all", "adult", "driver", "borrower"; propensity: "risk", "civic", None
# amount: None, ("lognormal", median, sigma), ("hours", mean), ("badge",)
RATES = (
    ("loan.repaid_on_time", 0.80, "borrower", None, None),
    ("loan.overdue_90d", 0.030, "borrower", "risk", ("lognormal", 60_000, 1.0)),
    ("bills.utility_arrears", 0.020, "adult", "risk", ("lognormal", 15_000, 0.8)),
    ("tax.arrears", 0.010, "adult", "risk", ("lognormal", 8_000, 1.0)),
    ("fine.traffic", 1.60, "driver", "risk", ("lognormal", 500, 0.6)),
    ("traffic.drunk_driving", 0.0025, "driver", "risk", None),
    ("public_order.offence", 0.006, "adult", "risk", None),
    ("court.conviction", 0.0045, "adult", "risk", None),
    ("court.dishonest_debtor", 0.012, "adult", "risk", ("lognormal", 90_000, 1.0)),
    ("enforcement.proceeding", 0.25, "adult", "risk", ("lognormal", 20_000, 1.2)),
    ("enforcement.exit_ban", 0.030, "adult", "risk", ("lognormal", 60_000, 1.0)),
    ("alimony.arrears", 0.004, "adult", "risk", ("lognormal", 40_000, 0.8)),
    ("volunteer.hours", 0.60, "adult", "civic", ("hours", 12)),
    ("civic.heroic_act", 0.0008, "adult", "civic", None),
    ("civic.blood_donation", 0.04, "adult", "civic", None),
    ("award.state", 0.0006, "adult", "civic", None),
    ("public_office.held", 0.003, "adult", "civic", None),
    ("sport.gto_badge", 0.012, "all", "civic", ("badge",)),
    ("health.checkup", 0.53, "adult", None, None),
    ("education.diploma", 0.02, "adult", None, None),
    ("taxi.unpaid_fare", 0.01, "adult", "risk", ("lognormal", 600, 0.5)),
)
# issue 14: the new schemes' event types, each on a stream of its own (appended streams, so
# the events above do not change). "student": ages 12-22. In this basic world
# household.member_sanctioned is drawn per person; the synthetic world derives it from
# the household (sources/agencies/residence.py). Rates are assumptions (see
# population/calibration.yaml, sources.education/marketplace/conscription).
RATES_14 = (
    ("education.term_result", 2.0, "student", None, ("grade",)),
    ("education.exam_failed", 0.3, "student", "risk", None),
    ("education.resit_passed", 0.24, "student", "civic", None),
    ("education.expelled", 0.01, "student", "risk", None),
    ("education.olympiad_win", 0.02, "student", "civic", None),
    ("education.honours", 0.03, "student", "civic", None),
    ("market.order_completed", 0.6, "adult", None, ("hours", 18)),
    ("market.return", 0.3, "adult", None, ("hours", 2)),
    ("market.bnpl_default", 0.01, "adult", "risk", ("lognormal", 8_000, 0.7)),
    ("market.bnpl_repaid", 0.25, "adult", None, None),
    ("conscription.failure_to_appear", 0.003, "adult", "risk", None),
    ("conscription.travel_ban", 0.02, "adult", None, None),
    ("conscription.service_completed", 0.01, "adult", None, None),
    ("household.member_sanctioned", 0.005, "adult", "risk", None),
)
DEBT_PAID_SHARE = 0.55  # assumption: over half of listed debtors pay within 18 months


def basic_events(people: pl.DataFrame, start: dt.date, years: float,
                 seed: np.random.SeedSequence | int, *, risk_scale: np.ndarray | None = None,
                 only: set[str] | None = None) -> pl.DataFrame:
    """Events for `people` over [start, start + years), deterministic for the seed.

    risk_scale multiplies each person's rate of risk-driven events (arrears, fines,
    proceedings): the simulation's feedback uses it to draw extra events. `only` limits
    generation to some event types.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    streams = ss.spawn(len(RATES) + 3)
    rng0 = np.random.default_rng(streams[-1])
    n = people.height
    ids = people["citizen_id"].to_numpy()
    adult = people["age"].to_numpy() >= 18
    elig = {
        "all": np.ones(n, bool),
        "adult": adult,
        "driver": people["driver"].to_numpy(),
        "borrower": people["borrower"].to_numpy(),
        "student": (people["age"].to_numpy() >= 12) & (people["age"].to_numpy() <= 22),
    }
    low_income = 1.0 + (5 - np.minimum(people["income_decile"].to_numpy(), 5)) * 0.15
    prop = {
        "risk": rng0.gamma(0.6, 1 / 0.6, n) * low_income * (1.0 if risk_scale is None else risk_scale),
        "civic": rng0.gamma(0.8, 1 / 0.8, n),
        None: np.ones(n),
    }
    d0 = (start - dt.date(1970, 1, 1)).days
    span = int(round(years * 365.25))
    frames = []
    extra = [np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (1000 + k,))
             for k in range(len(RATES_14))]  # not spawned from ss: its other children stay as they were
    for k, (etype, rate, who, pk, amt) in enumerate(RATES + RATES_14):
        if only is not None and etype not in only:
            continue
        rng = np.random.default_rng(streams[k] if k < len(RATES) else extra[k - len(RATES)])
        lam = np.where(elig[who], rate * years * prop[pk], 0.0)
        cnt = rng.poisson(lam)
        cit = np.repeat(ids, cnt)
        day = d0 + rng.integers(0, span, len(cit))
        amount = _amounts(rng, amt, len(cit))
        frames.append((etype, cit, day, amount))
        if etype == "court.dishonest_debtor":
            rng2 = np.random.default_rng(streams[len(RATES)])
            pays = rng2.random(len(cit)) < DEBT_PAID_SHARE
            delay = rng2.integers(20, 540, len(cit))
            pday = day + delay
            keep = pays & (pday < d0 + span)
            frames.append(("enforcement.debt_paid", cit[keep], pday[keep], amount[keep]))
    return _assemble(frames)


def _amounts(rng: np.random.Generator, spec, m: int) -> np.ndarray:
    if spec is None:
        return np.full(m, np.nan)
    if spec[0] == "lognormal":
        return np.round(spec[1] * np.exp(rng.normal(0, spec[2], m)), 2)
    if spec[0] == "hours":
        return np.maximum(1, rng.poisson(spec[1], m)).astype(np.float64)
    if spec[0] == "grade":  # a term's mean grade, 2-5
        return np.round(np.clip(rng.normal(3.8, 0.5, m), 2.0, 5.0), 2)
    if spec[0] == "badge":
        return rng.choice([1.0, 2.0, 3.0], m, p=[0.31, 0.33, 0.36])  # GTO 2022 shares
    raise ValueError(spec)


def _assemble(frames) -> pl.DataFrame:
    from ..policy.catalog import BY_NAME

    parts = []
    counters: dict[str, int] = {}
    for etype, cit, day, amount in frames:
        src = BY_NAME[etype].source
        first = counters.get(src, 0)
        counters[src] = first + len(cit)
        parts.append(pl.DataFrame({
            "citizen_id": pl.Series(cit, dtype=pl.Int64),
            "event_type": pl.Series([etype], dtype=EVENT_TYPE).extend_constant(etype, len(cit) - 1) if len(cit) else pl.Series([], dtype=EVENT_TYPE),
            "occurred_on": pl.Series(day.astype(np.int32), dtype=pl.Int32).cast(pl.Date),
            "amount": pl.Series(amount, dtype=pl.Float64, nan_to_null=True),
            "source": pl.Series([src], dtype=SOURCE).extend_constant(src, len(cit) - 1) if len(cit) else pl.Series([], dtype=SOURCE),
            "seq": pl.Series(np.arange(first, first + len(cit), dtype=np.int64)),
        }))
    out = pl.concat(parts, how="vertical")
    return out.with_columns(
        record_id=pl.concat_str([pl.col("source").cast(pl.String), pl.lit("-"),
                                 pl.col("seq").cast(pl.String).str.zfill(10)])
    ).drop("seq")
