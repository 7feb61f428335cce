"""Medical check-ups and blood donations (EMIAS/EGISZ), keyed by SNILS. Special-category data
(health: 152-FZ Art. 10, GDPR Art. 9): the schema flags it and the batch lists it.

Calibration: base_rates.medical_checkups_per_year (77.5M) as people with a check-up in a
year (at most one per person-year), by an age profile and the health propensity;
an assumed 2.6M blood donations a year by adults 18-60 (civic propensity).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, concat, event_index, interp_profile, part, poisson_events, yearly_status_days

SOURCE = "medical"
CHECKUP = event_index(SOURCE, "health.checkup")
DONATION = event_index(SOURCE, "civic.blood_donation")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = interp_profile(ctx.param(SOURCE, "checkup_age_weight"), ctx.age) * ctx.health
    p = bernoulli_share(w, np.ones(ctx.n, bool), ctx.per_capita(ctx.base("medical_checkups_per_year")))
    who = np.flatnonzero(rng.random(ctx.n) < p)
    person, day = yearly_status_days(ctx, rng, who)
    checkups = part(person, CHECKUP, day)
    rng = ctx.rng(SOURCE, 1)
    wd = ((ctx.age >= 18) & (ctx.age <= 60)) * ctx.civic * ctx.health
    dp = poisson_events(ctx, rng, wd, ctx.per_capita(ctx.param(SOURCE, "blood_donations_per_year")))
    return concat([checkups, part(dp, DONATION, ctx.uniform_days(rng, dp.size))])
