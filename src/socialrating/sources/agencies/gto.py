"""GTO sport complex: fitness badges (amount 1 bronze, 2 silver, 3 gold).

Calibration: base_rates.gto_badges_per_year (1.75M in 2022: 621.6k gold, 580.8k silver,
545.2k bronze), mostly schoolchildren, weighted by civic and health propensity.
Keyed by name + birth date (phone when known).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, event_index, interp_profile, part, poisson_events

SOURCE = "gto"
BADGE = event_index(SOURCE, "sport.gto_badge")
SUBTYPES = ("bronze", "silver", "gold")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    g = ctx.base("gto_badges_per_year")
    w = interp_profile(ctx.param(SOURCE, "age_weight"), ctx.age) * np.sqrt(ctx.civic * ctx.health)
    person = poisson_events(ctx, rng, w, ctx.per_capita(g.total))
    split = np.array([g.bronze, g.silver, g.gold], dtype=np.float64)
    level = np.searchsorted(np.cumsum(split / split.sum()), rng.random(person.size), side="right").clip(0, 2)
    ev = part(person, BADGE, ctx.uniform_days(rng, person.size), level + 1.0, level)
    ev.subtype_labels = SUBTYPES
    return ev
