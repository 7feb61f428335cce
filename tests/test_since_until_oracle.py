"""An independent oracle for `since` and `until`: re-score one citizen on every day the
rating could change, and compare where the consequence starts and stops holding with the
dates the engine tells the citizen (issue #17).

The oracle re-scores with the plain per-event reference (engine/reference.py) at each
candidate day, knowing only the events up to the engine's as-of date. The candidate days
are worked out here from the policy with dateutil's calendar arithmetic, not the engine's:
every event's date, that date plus every expiry and window length the policy has, and
every closing record's date plus its delay. Between two candidate days nothing changes,
so the condition's value on them is the whole story.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from case_runner import events_frame
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialrating.engine.reference import reference_score
from socialrating.engine.score import score
from socialrating.policy.load import builtin_names, load_policy

POLICIES = {n: load_policy(n) for n in builtin_names()}
AS_OF = dt.date(2026, 3, 1)


def _types(policy) -> list[str]:
    return sorted({r.event_type for r in policy.rules} | {c.event_type for c in policy.closures})


# we-platform's penalties that end before they leave the 12-month level window (a 6-month
# exit ban, its closure by payment) next to ones that keep status under 25 for years
SHORT_AND_LONG = ["court.conviction", "traffic.drunk_driving", "enforcement.exit_ban", "enforcement.debt_paid",
                  "public_order.offence", "enforcement.proceeding"]


@st.composite
def timeline(draw, name=None, types=None):
    """One policy, two citizens, up to 14 events each over the three years to AS_OF
    (events after it are drawn too: the engine must ignore them)."""
    name = name or draw(st.sampled_from(sorted(POLICIES)))
    types = types or _types(POLICIES[name])
    rows = []
    for _ in range(draw(st.integers(1, 14))):
        rows.append((
            draw(st.integers(0, 1)),
            draw(st.sampled_from(types)),
            AS_OF - dt.timedelta(days=draw(st.integers(-30, 3 * 365))),
            float(draw(st.integers(0, 60))),
        ))
    return name, rows


def _candidate_days(policy, rows) -> list[dt.date]:
    months = {policy.rating.level_window_months} | {policy.expiry_months(r) or 0 for r in policy.rules}
    months.discard(0)
    days = {AS_OF, dt.date(1990, 1, 1)}
    for _, etype, day, _ in rows:
        if day > AS_OF:
            continue
        days.add(day)
        days.update(day + relativedelta(months=m) for m in months)
        for cl in policy.closures:
            if etype == cl.event_type:
                days.add(day + dt.timedelta(days=cl.within_days))
    return sorted(days)


def _term_end(since: dt.date, target: dt.date, term: int) -> dt.date:
    """The end of the first renewable term, counted from `since`, that reaches `target`."""
    k = 1
    while since + relativedelta(months=k * term) < target:
        k += 1
    return since + relativedelta(months=k * term)


def _expected(policy, cons, cid, rows, days) -> tuple[dt.date, dt.date | None]:
    """(since, until) of the spell of `cons` in force on AS_OF, from re-scoring."""
    mine = [r for r in rows if r[0] == cid and r[2] <= AS_OF]

    def holds(day: dt.date) -> bool:
        return cons.id in reference_score(mine, policy, day, [cid])[2][cid]

    past = [d for d in days if d <= AS_OF]
    assert holds(AS_OF)
    since = None
    for i in range(len(past) - 1, -1, -1):
        if not holds(past[i]):
            since = past[i + 1]
            break
    if since is None:  # held since before any event: the engine says since the policy began
        since = min(policy.effective_from, AS_OF)
    until = next((d for d in days if d > AS_OF and not holds(d)), None)
    if cons.term_months:
        until = _term_end(since, until or AS_OF + dt.timedelta(days=1), cons.term_months)
    return since, until


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(timeline())
def test_since_and_until_match_day_by_day_rescoring(tl):
    _check(*tl)


@SETTINGS
@given(timeline("we-platform", SHORT_AND_LONG))
def test_since_and_until_when_entries_end_inside_the_level_window(tl):
    _check(*tl)


def _check(name, rows):
    policy = POLICIES[name]
    res = score(events_frame(rows), policy, AS_OF, np.array([0, 1], dtype=np.int64))
    direct = res.consequences.filter(pl.col("via_citizen_id").is_null())
    by_id = {c.id: c for c in policy.consequences}
    seen = set()
    for cid, k, since, until in direct.select("citizen_id", "consequence_id", "since", "until").iter_rows():
        days = _candidate_days(policy, [r for r in rows if r[0] == cid])
        want = _expected(policy, by_id[str(k)], cid, rows, days)
        assert (since, until) == want, (cid, str(k), rows)
        seen.add((cid, str(k)))
    # and nothing the oracle finds in force is missing from the engine's table
    for cid in (0, 1):
        held = reference_score([r for r in rows if r[2] <= AS_OF], policy, AS_OF, [cid])[2][cid]
        assert {(cid, k) for k in held} <= seen
