"""Housing and utility companies: arrears of 3+ months, reported on the account holder.

Calibration: base_rates.utility_households_in_arrears_share (10%, an assumption: the
household share was not found; 6.3% of amounts billed unpaid, RANEPA 2020) of households
are in arrears in a year, weighted by the head's risk and low income; one record per
household-year on the household head (the account holder). ``account`` is the household.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, event_index, lognormal, part, yearly_status_days

SOURCE = "housing"
ARREARS = event_index(SOURCE, "bills.utility_arrears")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    head = (ctx.role == 0) & ctx.adult
    p = bernoulli_share(ctx.risk, head, ctx.base("utility_households_in_arrears_share"))
    holders = np.flatnonzero(rng.random(ctx.n) < p)
    person, day = yearly_status_days(ctx, rng, holders)
    amt = lognormal(rng, ctx.param(SOURCE, "arrears_amount"), person.size)
    return part(person, ARREARS, day, amt, account=ctx.household[person])
