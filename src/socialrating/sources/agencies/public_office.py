"""Civil service registry: a ``public_office.held`` record per office holder per year, keyed by INN.

Calibration: an assumed 2.3M state and municipal civil servants, employed adults 25-65,
higher income deciles and civic propensity.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, event_index, part, yearly_status_days

SOURCE = "public_office"
HELD = event_index(SOURCE, "public_office.held")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    elig = ctx.employed & (ctx.age >= 25) & (ctx.age <= 65)
    share = ctx.per_capita(ctx.param(SOURCE, "office_holders")) * ctx.n / max(int(elig.sum()), 1)
    p = bernoulli_share((0.5 + 0.1 * ctx.decile) * np.sqrt(ctx.civic), elig, share)
    holders = np.flatnonzero(rng.random(ctx.n) < p)
    person, day = yearly_status_days(ctx, rng, holders)
    return part(person, HELD, day)
