"""Federal Tax Service: yearly declared income of the employed and tax arrears, keyed by INN.

Calibration: one ``tax.income_declared`` per employed person-year (amount by income decile,
an assumption); ``tax.arrears`` at an assumed 0.08 per adult-year (drivers x1.5 for the
transport tax), weighted by risk.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, lognormal, part, poisson_per_eligible, yearly_status_days

SOURCE = "tax"
INCOME = event_index(SOURCE, "tax.income_declared")
ARREARS = event_index(SOURCE, "tax.arrears")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    person, day = yearly_status_days(ctx, rng, np.flatnonzero(ctx.employed))
    med = ctx.param(SOURCE, "income_by_decile")
    table = np.array([float(med.get(d, med.get(str(d), 0))) for d in range(11)])
    income = np.round(table[np.clip(ctx.decile[person], 1, 10)] * np.exp(rng.normal(0, 0.35, person.size)), 0)
    declared = part(person, INCOME, day, income)
    rng = ctx.rng(SOURCE, 1)
    w = ctx.risk * np.where(ctx.driver, 1.5, 1.0)
    ap = poisson_per_eligible(ctx, rng, w, ctx.adult, float(ctx.param(SOURCE, "arrears_per_adult_year")))
    arrears = part(ap, ARREARS, ctx.uniform_days(rng, ap.size), lognormal(rng, ctx.param(SOURCE, "arrears_amount"), ap.size))
    return concat([declared, arrears])
