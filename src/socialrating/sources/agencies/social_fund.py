"""Social Fund of Russia: social benefits granted (unified child allowance and others), keyed by SNILS.

Calibration: an assumed 10M grants a year to adults (mothers first) in households with
children, mostly in the lowest income deciles.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, event_index, lognormal, part, poisson_events

SOURCE = "social_fund"
BENEFIT = event_index(SOURCE, "benefit.granted")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    income_w = np.select([ctx.decile <= 3, ctx.decile <= 5], [3.0, 1.0], 0.1)
    w = ctx.adult * (ctx.role <= 1) * ctx.has_children * income_w * np.where(ctx.female, 2.0, 0.5)
    person = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "benefit_grants_per_year")))
    return part(person, BENEFIT, ctx.uniform_days(rng, person.size), lognormal(rng, ctx.param(SOURCE, "benefit_amount"), person.size))
