"""Courts: criminal convictions and (China-style) dishonest-debtor listings.

Calibration: base_rates.convictions_per_year (555,743 in 2023) over people 14+, ~85% men,
peaking at 25-40, higher for the non-employed and the high-risk. Dishonest-debtor
listings use the SPC per-capita rate (2.457M new entries in 2024 in China) for the
court-blacklist policy, concentrated on debtors with enforcement-prone risk.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, interp_profile, lognormal, part, poisson_events

SOURCE = "courts"
CONVICTION = event_index(SOURCE, "court.conviction")
DISHONEST = event_index(SOURCE, "court.dishonest_debtor")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    cw = ctx.param(SOURCE, "conviction_weights")
    w = (ctx.age >= 14) * interp_profile(cw["age"], ctx.age) * np.where(ctx.female, 1.0, cw["male"]) * np.where(ctx.employed, 1.0, cw["unemployed"]) * ctx.risk
    conv = poisson_events(ctx, rng, w, ctx.per_capita(ctx.base("convictions_per_year")))
    convictions = part(conv, CONVICTION, ctx.uniform_days(rng, conv.size))
    rng = ctx.rng(SOURCE, 1)
    wd = ctx.adult * ctx.risk * (1.0 + ctx.borrower)
    dd = poisson_events(ctx, rng, wd, float(ctx.param(SOURCE, "dishonest_debtor_per_capita")))
    listed = part(dd, DISHONEST, ctx.uniform_days(rng, dd.size), lognormal(rng, ctx.param(SOURCE, "dishonest_debtor_amount"), dd.size))
    return concat([convictions, listed])
