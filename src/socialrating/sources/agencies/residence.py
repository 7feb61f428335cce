"""Residence registration (the household register), keyed by passport (+ name, birth date):
the household's standing, for China's "interpersonal relationships" dimension.

The engine scores each citizen's own entries and has no household aggregation, so the
register emits per-person events derived from the household: for each calendar year in
which an adult of a registered household was convicted or listed as a dishonest debtor
(the courts' records), every *other* adult of that household gets one
``household.member_sanctioned`` record dated on the first such event of the year. It is
built from the household ids of the population only: never from contacts or
communications. Runs after the courts (it reads their true events); no randomness.
"""

from __future__ import annotations

import numpy as np

from . import courts
from ._base import Context, Events, event_index, part

SOURCE = "residence"
MEMBER = event_index(SOURCE, "household.member_sanctioned")


def _year(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970) if days.size else days.astype(np.int64)


def generate(ctx: Context) -> Events:
    """Per-person household-standing events, over whole arrays (sort and join by household)."""
    ev = ctx.outputs[courts.SOURCE]
    sel = ((ev.etype == courts.CONVICTION) | (ev.etype == courts.DISHONEST)) & ctx.adult[ev.person]
    who, day = ev.person[sel], ev.occurred[sel]
    hh, yr = ctx.household[who], _year(day)
    # first sanction per (household, year), and who caused it
    order = np.lexsort((day, yr, hh))
    hh, yr, day, who = hh[order], yr[order], day[order], who[order]
    first = np.concatenate(([True], (hh[1:] != hh[:-1]) | (yr[1:] != yr[:-1]))) if hh.size else np.zeros(0, bool)
    g_hh, g_day = hh[first], day[first]
    # sanctioned adults per (household, year): they get no event for their own sanction
    gid = np.cumsum(first) - 1
    # members of each household (adults), sorted by household
    adults = np.flatnonzero(ctx.adult)
    ah = ctx.household[adults]
    ao = np.argsort(ah, kind="stable")
    adults, ah = adults[ao], ah[ao]
    lo = np.searchsorted(ah, g_hh, "left")
    hi = np.searchsorted(ah, g_hh, "right")
    cnt = hi - lo
    grp = np.repeat(np.arange(g_hh.size), cnt)
    idx = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    member = adults[idx]
    # drop the group's own sanctioned people
    own = np.zeros(member.size, bool)
    if who.size:
        key_sanct = gid.astype(np.int64) * ctx.n + who
        key_mem = grp.astype(np.int64) * ctx.n + member
        own = np.isin(key_mem, key_sanct)
    member, grp = member[~own], grp[~own]
    return part(member, MEMBER, g_day[grp])
