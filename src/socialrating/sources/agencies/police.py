"""Police: administrative public-order offences (petty hooliganism), keyed by name + birth date.

Calibration: an assumed 600k a year (not in calibration.md), ages 16+, mostly young men.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, event_index, interp_profile, part, poisson_events

SOURCE = "police"
OFFENCE = event_index(SOURCE, "public_order.offence")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    wt = ctx.param(SOURCE, "weights")
    w = (ctx.age >= 16) * interp_profile(wt["age"], ctx.age) * np.where(ctx.female, 1.0, wt["male"]) * ctx.risk
    person = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "public_order_offences_per_year")))
    return part(person, OFFENCE, ctx.uniform_days(rng, person.size))
