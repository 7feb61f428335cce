"""Taxi aggregator: unpaid fares, keyed by phone.

Calibration (assumption): 1.5M unpaid fares a year, adults 18-60, urban x3, weighted by risk.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, event_index, lognormal, part, poisson_events

SOURCE = "taxi"
UNPAID = event_index(SOURCE, "taxi.unpaid_fare")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = ((ctx.age >= 18) & (ctx.age <= 60)) * np.where(ctx.urban, 3.0, 1.0) * np.where(ctx.age < 35, 1.5, 1.0) * ctx.risk
    person = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "unpaid_fares_per_year")))
    return part(person, UNPAID, ctx.uniform_days(rng, person.size), lognormal(rng, ctx.param(SOURCE, "unpaid_fare_amount"), person.size))
