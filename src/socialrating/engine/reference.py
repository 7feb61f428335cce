"""A straightforward per-event Python implementation of the engine's semantics.

Written independently of the vectorised engine, as the obvious loop a reader would write
from the policy docs: it is the oracle the tests compare the engine against, and the
baseline the benchmark measures the engine's speed against. Never used in a hot path.
Conditions are judged by each kind's plain-Python `holds_one` (policy/conditions.py),
written apart from the vectorised `holds` the engine uses.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict

from ..policy import conditions as C
from ..policy.model import Policy


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = (nxt - dt.timedelta(days=1)).day
    return dt.date(year, month, min(d.day, last))


def _scale(balance: int, scale) -> int:
    pts = scale.breakpoints
    if balance <= pts[0].balance:
        return pts[0].score
    if balance >= pts[-1].balance:
        return pts[-1].score
    for a, b in zip(pts, pts[1:]):
        if a.balance <= balance < b.balance:
            return a.score + ((balance - a.balance) * (b.score - a.score)) // (b.balance - a.balance)
    raise AssertionError


def reference_score(rows: list[tuple], policy: Policy, as_of: dt.date, citizens: list[int]):
    """rows: (citizen_id, event_type, occurred_on: date, amount or None) in input order.

    Returns (entries: {(row, slot): (points, state)}, ratings: {cid: dict},
    consequences: {cid: set of ids}).
    """
    rules_by_type = defaultdict(list)
    for r in policy.rules:
        rules_by_type[r.event_type].append(r)
    known = set(citizens)
    closing = defaultdict(lambda: defaultdict(list))  # closure id -> citizen -> sorted dates
    for cid, etype, day, amount in rows:
        for cl in policy.closures:
            if etype == cl.event_type and cid in known and day <= as_of:
                closing[cl.id][cid].append(day)
    for per in closing.values():
        for v in per.values():
            v.sort()
    order = sorted(range(len(rows)), key=lambda i: (rows[i][2], i))
    cap_used: dict = defaultdict(int)
    entries = {}
    for i in order:
        cid, etype, day, amount = rows[i]
        if cid not in known or day > as_of:
            continue
        rules = rules_by_type.get(etype, [])
        if any(r.points_per_unit is not None for r in rules) and (amount is None or amount < 0):
            continue  # quarantined
        for slot, r in enumerate(rules):
            if (r.valid_from and day < r.valid_from) or (r.valid_until and day >= r.valid_until):
                continue
            pts = r.points if r.points is not None else int(amount * r.points_per_unit)
            pts = max(-32768, min(32767, pts))
            if r.cap is not None:
                period = ((day.year - 1970) * 12 + day.month - 1) // r.cap.period_months
                key = (cid, r.id, period)
                sign = 1 if r.cap.points > 0 else -1
                left = max(abs(r.cap.points) - cap_used[key], 0)
                got = min(pts * sign, left)
                cap_used[key] += got
                pts = got * sign
            months = policy.expiry_months(r)
            end = _add_months(day, months) if months else None
            closed = None
            for cl in policy.closures:
                if etype in cl.closes:
                    dates = closing[cl.id].get(cid, [])
                    j = bisect.bisect_left(dates, day)
                    if j < len(dates):
                        c_end = dates[j] + dt.timedelta(days=cl.within_days)
                        if (end is None or c_end < end) and (closed is None or c_end < closed):
                            closed = c_end
            if closed is not None and closed <= as_of:
                state = "closed"
            elif end is not None and end <= as_of:
                state = "expired"
            else:
                state = "active"
            entries[(i, slot)] = (pts, state, cid, r, day)
    rs = policy.rating
    bal = {c: [rs.base_status, rs.base_level, defaultdict(int)] for c in citizens}
    for (i, slot), (pts, state, cid, r, day) in entries.items():
        if state != "active":
            continue
        bal[cid][0] += pts
        if as_of < _add_months(day, rs.level_window_months):
            bal[cid][1] += pts
        bal[cid][2][r.event_type] += 1
    ratings, cons = {}, {}
    names = rs.bands.names if rs.bands else None
    for c, (bs, bl, flags) in bal.items():
        m = {"balance_status": bs, "balance_level": bl, "status": _scale(bs, rs.status_scale),
             "level": _scale(bl, rs.level_scale), "band": None}
        m.update({C.flag_column(t): n for t, n in flags.items()})
        if rs.bands:
            band = rs.bands.cutoffs[-1].band
            for cut in rs.bands.cutoffs[:-1]:
                basis = bs if rs.bands.basis == "balance_status" else bl
                if basis >= cut.min_balance:
                    band = cut.band
                    break
            for cap in rs.bands.caps:
                if cap.when.holds_one(m) and names.index(band) < names.index(cap.band):
                    band = cap.band
            m["band"] = band
        ratings[c] = {k: m[k] for k in ("balance_status", "balance_level", "status", "level", "band")}
        cons[c] = {k.id for k in policy.consequences if k.when.holds_one(m)}
    simple = {k: (v[0], v[1]) for k, v in entries.items()}
    return simple, ratings, cons
