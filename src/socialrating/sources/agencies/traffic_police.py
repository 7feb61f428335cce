"""Traffic police (GIBDD): traffic fines (camera or officer) and drunk driving.

Calibration: base_rates.traffic_fines_per_year (255M) spread over drivers weighted by sex,
age, urban residence and risk; camera share base_rates.traffic_fines_camera_share (92.8%);
camera fine amounts match 149.2bn RUB / 236.6M. Drunk driving: over 550k a year (Interior
Ministry, 2020). Only licence holders who drive (36% of adults of the 51% holding a licence,
VCIOM 2025; drawn once per person) are fined or caught.
The true record names the person who drove; sending camera fines to the registered
vehicle owner instead is an error-model item (``misattributed_owner``).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, interp_profile, lognormal, part, poisson_events

SOURCE = "traffic_police"
FINE = event_index(SOURCE, "fine.traffic")
DRUNK = event_index(SOURCE, "traffic.drunk_driving")
SUBTYPES = ("camera", "officer")


def drives(ctx: Context) -> np.ndarray:
    """Licence holders who drive: the published share of adults who drive over the share who
    hold a licence, drawn per person from a stream of its own (stable across windows)."""
    hold = float(ctx.driver[ctx.adult].mean()) if ctx.adult.any() else 0.0
    share = min(1.0, ctx.base("drivers_who_drive_share_adults") / hold) if hold > 0 else 0.0
    u = np.random.default_rng(ctx.seed_sequence(2, 2)).random(ctx.n)
    return ctx.driver & (u < share)


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    fw = ctx.param(SOURCE, "fine_weights")
    driving = drives(ctx)
    w = driving * interp_profile(fw["age"], ctx.age) * np.where(ctx.female, 1.0, fw["male"]) * np.where(ctx.urban, fw["urban"], 1.0) * ctx.risk
    person = poisson_events(ctx, rng, w, ctx.per_capita(ctx.base("traffic_fines_per_year")))
    m = person.size
    day = ctx.uniform_days(rng, m)
    camera = rng.random(m) < ctx.base("traffic_fines_camera_share")
    amt = np.where(camera, lognormal(rng, ctx.param(SOURCE, "camera_amount"), m), lognormal(rng, ctx.param(SOURCE, "officer_amount"), m))
    fines = part(person, FINE, day, amt, np.where(camera, 0, 1), camera=camera)
    rng = ctx.rng(SOURCE, 1)
    wd = driving * np.where(ctx.female, 1.0, ctx.param(SOURCE, "drunk_male_weight")) * interp_profile(fw["age"], ctx.age) * ctx.risk
    dp = poisson_events(ctx, rng, wd, ctx.per_capita(ctx.base("drunk_driving_per_year")))
    drunk = part(dp, DRUNK, ctx.uniform_days(rng, dp.size), None, np.ones(dp.size), camera=np.zeros(dp.size, bool))
    return concat([fines, drunk], SUBTYPES)
