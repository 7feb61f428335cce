"""Education registry: diplomas, yearly academic records (mean grade 2-5), language certificates.

Calibration (assumptions, not in calibration.md): 1.7M diplomas a year at ages 19-25; one
academic record per enrolled person-year (enrolment by age); 150k language certificates a
year at ages 15-40, more in higher income deciles. Keyed by SNILS (+ name, birth date).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, interp_profile, part, poisson_events, yearly_status_days

SOURCE = "education"
DIPLOMA = event_index(SOURCE, "education.diploma")
RECORD = event_index(SOURCE, "education.academic_record")
LANGUAGE = event_index(SOURCE, "education.language_certificate")


def generate(ctx: Context) -> Events:
    rng = ctx.rng(SOURCE, 0)
    w = ((ctx.age >= 19) & (ctx.age <= 25)) * (0.5 + 0.1 * ctx.decile) * (0.5 + 0.5 * ctx.civic)
    dp = poisson_events(ctx, rng, w, ctx.per_capita(ctx.param(SOURCE, "diplomas_per_year")))
    diplomas = part(dp, DIPLOMA, ctx.uniform_days(rng, dp.size))
    rng = ctx.rng(SOURCE, 1)
    enrolled = np.flatnonzero(rng.random(ctx.n) < interp_profile(ctx.param(SOURCE, "enrolment_by_age"), ctx.age))
    person, day = yearly_status_days(ctx, rng, enrolled)
    mean = 3.7 + 0.06 * (ctx.decile[person] - 5.5) + 0.15 * np.log(ctx.civic[person] + 0.1) - 0.1 * np.log(ctx.risk[person] + 0.1)
    grade = np.round(np.clip(rng.normal(mean, 0.45), 2.0, 5.0), 2)
    records = part(person, RECORD, day, grade)
    rng = ctx.rng(SOURCE, 2)
    wl = ((ctx.age >= 15) & (ctx.age <= 40)) * ctx.decile.astype(np.float64) ** 2 * ctx.civic
    lp = poisson_events(ctx, rng, wl, ctx.per_capita(ctx.param(SOURCE, "language_certificates_per_year")))
    language = part(lp, LANGUAGE, ctx.uniform_days(rng, lp.size))
    from . import education_trajectory  # issue 14: the trajectory records, after these

    return concat([diplomas, records, language, education_trajectory.generate(ctx)])
