"""Volunteering platform (Dobro.rf): verified volunteering hours, keyed by phone.

Calibration: base_rates.volunteering_share_adults (29%, 'about 28-30% of adults') of adults
volunteer in a year, weighted by the civic propensity and age; each volunteer has
1 + Poisson(mean - 1) verified activities with lognormal hours.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, event_index, interp_profile, lognormal, part

SOURCE = "volunteering"
HOURS = event_index(SOURCE, "volunteer.hours")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = interp_profile(ctx.param(SOURCE, "age_weight"), ctx.age) * ctx.civic
    p = bernoulli_share(w, ctx.adult, ctx.base("volunteering_share_adults"))
    vol = np.flatnonzero(rng.random(ctx.n) < p)
    k = 1 + rng.poisson((float(ctx.param(SOURCE, "records_per_volunteer_mean")) - 1.0) * ctx.years, vol.size)
    person = np.repeat(vol, k)
    hours = np.maximum(1.0, lognormal(rng, ctx.param(SOURCE, "hours"), person.size))
    return part(person, HOURS, ctx.uniform_days(rng, person.size), hours)
