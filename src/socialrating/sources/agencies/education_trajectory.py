"""Education registry, trajectory records: term results, failed exams and resits,
expulsions, olympiad and competition wins, honours (the digital profile's "personal
development trajectory"). Part of the ``education`` source; ``education.generate`` adds
these after its own records, so the earlier records keep their numbers and streams.

Calibration (assumptions, ``sources.education`` in calibration.yaml): two term results a
year per student aged 12-22 (from the same enrolment profile as the yearly academic
record); failed exams, expulsions, olympiad wins and honours as yearly rates per enrolled
person, weighted by the latent propensities. No figure is in calibration.md.
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, concat, event_index, interp_profile, part, poisson_per_eligible

SOURCE = "education"
TERM = event_index(SOURCE, "education.term_result")
FAILED = event_index(SOURCE, "education.exam_failed")
RESIT = event_index(SOURCE, "education.resit_passed")
EXPELLED = event_index(SOURCE, "education.expelled")
OLYMPIAD = event_index(SOURCE, "education.olympiad_win")
HONOURS = event_index(SOURCE, "education.honours")
# behaviour streams of the education source used here (0-2 are education.py's)
_STREAM = 10


def generate(ctx: Context) -> Events:
    """Trajectory records of students (ages 12-22 enrolled), over whole arrays."""
    p = ctx.param(SOURCE, "trajectory")
    rng = ctx.rng(SOURCE, _STREAM)
    enrolled = (rng.random(ctx.n) < interp_profile(ctx.param(SOURCE, "enrolment_by_age"), ctx.age)) & (ctx.age >= 12) & (ctx.age <= 22)
    ability = ctx.civic / (ctx.risk + 0.5)
    terms = poisson_per_eligible(ctx, rng, np.ones(ctx.n), enrolled, float(p["terms_per_year"]))
    mean = 3.7 + 0.06 * (ctx.decile[terms] - 5.5) + 0.2 * np.log(ability[terms] + 0.1)
    grade = np.round(np.clip(rng.normal(mean, 0.5), 2.0, 5.0), 2)
    out = [part(terms, TERM, ctx.uniform_days(rng, terms.size), grade)]
    rng = ctx.rng(SOURCE, _STREAM + 1)
    failed = poisson_per_eligible(ctx, rng, 1.0 / (ability + 0.2), enrolled, float(p["failed_exams_per_year"]))
    fday = ctx.uniform_days(rng, failed.size)
    out.append(part(failed, FAILED, fday))
    passed = rng.random(failed.size) < float(p["resit_pass_share"])
    rday = fday[passed] + rng.integers(14, 60, int(passed.sum())).astype(np.int32)
    keep = ctx.in_window(rday)
    out.append(part(failed[passed][keep], RESIT, rday[keep]))
    rng = ctx.rng(SOURCE, _STREAM + 2)
    exp = poisson_per_eligible(ctx, rng, ctx.risk / (ctx.civic + 0.2), enrolled & (ctx.age >= 15), float(p["expulsions_per_year"]))
    out.append(part(exp, EXPELLED, ctx.uniform_days(rng, exp.size)))
    rng = ctx.rng(SOURCE, _STREAM + 3)
    oly = poisson_per_eligible(ctx, rng, ability ** 2, enrolled, float(p["olympiad_wins_per_year"]))
    out.append(part(oly, OLYMPIAD, ctx.uniform_days(rng, oly.size)))
    rng = ctx.rng(SOURCE, _STREAM + 4)
    hon = poisson_per_eligible(ctx, rng, ability, enrolled & (ctx.age >= 17), float(p["honours_per_year"]))
    out.append(part(hon, HONOURS, ctx.uniform_days(rng, hon.size)))
    return concat(out)
