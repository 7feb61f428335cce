"""Civil registry (ZAGS): births registered, a record for the mother and one for her partner.

Calibration: an assumed 1.265M births a year (Rosstat 2023, not in calibration.md) to women
18-45 by an age profile, partnered women x2. Keyed by SNILS.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, event_index, interp_profile, part, poisson_events

SOURCE = "civil_registry"
BIRTH = event_index(SOURCE, "family.child_born")
FERTILITY = {17: 0.0, 18: 0.3, 22: 1.0, 27: 1.4, 32: 1.1, 37: 0.5, 42: 0.1, 46: 0.0}


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = ctx.female * interp_profile(FERTILITY, ctx.age) * np.where(ctx.partner >= 0, 2.0, 1.0)
    mother = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "births_per_year")))
    day = ctx.uniform_days(rng, mother.size)
    father = ctx.partner[mother]
    has = father >= 0
    return part(np.concatenate((mother, father[has])), BIRTH, np.concatenate((day, day[has])))
