"""State awards registry: state awards and recognised heroic acts (name + birth date, INN when known).

Calibration (assumptions): 60k state awards a year to adults 25+ (older, employed, civic);
10k heroic acts a year to adults (civic).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, part, poisson_events

SOURCE = "awards"
AWARD = event_index(SOURCE, "award.state")
HEROIC = event_index(SOURCE, "civic.heroic_act")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = (ctx.age >= 25) * np.clip((ctx.age - 20) / 30.0, 0, 1.5) * np.where(ctx.employed, 2.0, 1.0) * ctx.civic
    ap = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "state_awards_per_year")))
    rng = ctx.rng(SOURCE, 1)
    hp = poisson_events(ctx, rng, ctx.adult * ctx.civic, ctx.per_capita(ctx.param(SOURCE, "heroic_acts_per_year")))
    return concat([part(ap, AWARD, ctx.uniform_days(ctx.rng(SOURCE, 2), ap.size)), part(hp, HEROIC, ctx.uniform_days(rng, hp.size))])
