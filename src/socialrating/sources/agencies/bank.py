"""Banks and the credit bureau: a yearly loan status per borrower (on time, or 90+ days overdue).

Calibration: every borrower (population flag, 50.1M nationally) gets one status record per
year; the share overdue is base_rates.overdue_90_people_bank / active_borrowers (6.05M of
50.1M), concentrated on young, low-income, high-risk borrowers. Keyed by passport + name + birth date.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, event_index, interp_profile, lognormal, part, concat, yearly_status_days

SOURCE = "bank"
ON_TIME = event_index(SOURCE, "loan.repaid_on_time")
OVERDUE = event_index(SOURCE, "loan.overdue_90d")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    borrowers = np.flatnonzero(ctx.borrower)
    person, day = yearly_status_days(ctx, rng, borrowers)
    share = ctx.base("overdue_90_people_bank") / ctx.base("active_borrowers")
    w = interp_profile(ctx.param(SOURCE, "overdue_age_weight"), ctx.age) * ctx.risk
    p = bernoulli_share(w, ctx.borrower, share)
    over = rng.random(person.size) < p[person]
    amt = lognormal(rng, ctx.param(SOURCE, "overdue_amount"), int(over.sum()))
    return concat([
        part(person[~over], ON_TIME, day[~over]),
        part(person[over], OVERDUE, day[over], amt),
    ])
