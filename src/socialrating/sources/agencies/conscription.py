"""Military commissariats' unified register of persons liable for military service:
exit bans once a summons is deemed delivered (53-FZ as amended by 127-FZ, 2023), failures
to appear (KoAP Art. 21.5), and service completed. Keyed by SNILS (+ name, birth date).

Calibration (assumptions, ``sources.conscription`` in calibration.yaml; none of these is
in calibration.md): men aged 18-30 are summoned at a yearly rate; each summons bars exit
from the day it is deemed delivered (one ``conscription.travel_ban`` record); a share of
the summoned fail to appear two weeks later, weighted by the risk propensity; a yearly
number of men aged 19-22 complete their service.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, poisson_per_eligible

SOURCE = "conscription"
NO_SHOW = event_index(SOURCE, "conscription.failure_to_appear")
TRAVEL_BAN = event_index(SOURCE, "conscription.travel_ban")
SERVED = event_index(SOURCE, "conscription.service_completed")


def generate(ctx: Context) -> Events:
    """Summonses (each an exit ban), failures to appear, completed service: men only."""
    from ._base import part

    p = ctx.param(SOURCE, "behaviour")
    men = ~ctx.female
    rng = ctx.rng(SOURCE, 0)
    liable = men & (ctx.age >= 18) & (ctx.age <= 30)
    summoned = poisson_per_eligible(ctx, rng, np.ones(ctx.n), liable, float(p["summonses_per_liable_year"]))
    day = ctx.uniform_days(rng, summoned.size)
    bans = part(summoned, TRAVEL_BAN, day)
    miss = rng.random(summoned.size) < np.clip(float(p["no_show_share"]) * ctx.risk[summoned], 0, 0.9)
    nday = day[miss] + 14
    keep = ctx.in_window(nday)
    no_show = part(summoned[miss][keep], NO_SHOW, nday[keep])
    rng = ctx.rng(SOURCE, 1)
    young = men & (ctx.age >= 19) & (ctx.age <= 22)
    served = poisson_per_eligible(ctx, rng, np.ones(ctx.n), young, float(p["service_completions_per_young_man_year"]))
    done = part(served, SERVED, ctx.uniform_days(rng, served.size))
    return concat([bans, no_show, done])
