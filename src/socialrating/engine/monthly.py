"""Month-by-month scoring: the rating as an operator would run it, carried forward.

A simulation with feedback needs the rating at every month end, and the next month's
behaviour depends on it, so re-scoring all history every month would cost O(months^2).
`MonthlyEngine` scores only each month's new records and carries forward what links
months: when each entry stops counting (expiry, closure, the level window), cap usage in
the current period, and entries a later closure (a paid debt) can still end. Balances are
kept as per-month delta rows, so the month-end rating is one row addition away.

Semantics are those of `score()` evaluated at each month end, with one documented
difference: a record that arrives late is scored when it arrives (cap allocation in
arrival order), as a real operator would. With no late records the two agree exactly
(tests/test_monthly.py checks this against `score()` every month).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..policy.model import Policy
from .compiled import CompiledPolicy, compile_policy
from .dates import add_months, month_index, to_days
from .evaluate import derive, evaluate
from .ledger import NEVER, LedgerArrays, accepted_citizen_index, build_ledger, entry_states, ledger_frame


def month_ends(start: dt.date, months: int) -> list[dt.date]:
    """Last day of each of `months` calendar months from start's month."""
    first = np.datetime64(start, "M")
    ends = (first + np.arange(1, months + 1)).astype("datetime64[D]") - np.timedelta64(1, "D")
    return [d.item() for d in ends]


@dataclass
class MonthState:
    """What the engine knows at one month end."""

    index: int
    as_of: dt.date
    ctx: dict            # balances, status, level, band, flags (arrays over citizens)
    holds: np.ndarray    # bool (n_consequences, n_citizens)
    ledger: pl.DataFrame | None  # the entries created this month (with_ledger=True)
    counts: dict


class MonthlyEngine:
    """Score a policy month by month over a fixed population."""

    def __init__(self, policy: Policy | CompiledPolicy, citizens: np.ndarray, start: dt.date, months: int):
        self.cp = compile_policy(policy)  # built once; every month's ledger reuses it
        self.policy = policy = self.cp.policy
        self.citizens = np.asarray(citizens, dtype=np.int64)
        self.n = len(self.citizens)
        self.ends = month_ends(start, months)
        self.m0 = int(month_index(np.array([to_days(self.ends[0])]))[0])
        self.months = months
        rs = policy.rating
        shape = (months + 1, self.n)  # row `months` collects changes beyond the horizon
        self.d_status = np.zeros(shape, np.int32)
        self.d_level = np.zeros(shape, np.int32)
        self.flag_types = self.cp.flag_types
        self.d_flags = {t: np.zeros(shape, np.int32) for t in self.flag_types}
        self.bal_s = np.full(self.n, rs.base_status, np.int64)
        self.bal_l = np.full(self.n, rs.base_level, np.int64)
        self.flags = {t: np.zeros(self.n, np.int64) for t in self.flag_types}
        self.capped = list(self.cp.caps.rules)
        self.cap_used = {i: np.zeros(self.n, np.int64) for i in self.capped}
        self.cap_period = {i: None for i in self.capped}
        self.closable_rules = self.cp.closable_rules
        self.rule_flag = {t: self.cp.flag_of_rule == k for k, t in enumerate(self.flag_types)}
        self.open: dict[str, np.ndarray] | None = None
        self.past_closings: dict[str, np.ndarray] = {}  # closure id -> sorted (citizen << 32 | day)
        self.row_offset = 0
        self.k = 0
        self.appeals: list[tuple[np.ndarray, ...]] = []  # (entry ids, review month, overturned, contest month)

    #: read-only after __init__ (the compiled policy and what is derived from it, the
    #: citizens, the month ends): a fork shares them; everything else is copied
    _SHARED = frozenset({"cp", "policy", "citizens", "n", "ends", "m0", "months", "flag_types", "capped",
                         "closable_rules", "rule_flag"})

    def fork(self) -> "MonthlyEngine":
        """An engine in this one's state whose future is its own: stepping either never
        changes the other. Two scenarios fed the same month from the same state (the first
        month, which loads every record on file, is the same for scenarios that differ only
        in what feedback later adds) step once and fork, instead of scoring it twice."""
        new = copy.copy(self)
        for name, value in vars(self).items():
            if name not in self._SHARED:
                setattr(new, name, _copied(value))
        return new

    # -- helpers ------------------------------------------------------------------
    def _row(self, days: np.ndarray) -> np.ndarray:
        """Delta row for a change on each day: the first month end on or after it... the
        month whose end is the first evaluation at which the change is in effect."""
        rows = month_index(days) - self.m0
        return np.clip(rows, self.k, self.months)

    def _add(self, arr: np.ndarray, rows: np.ndarray, ci: np.ndarray, values: np.ndarray) -> None:
        """arr[rows, ci] += values, with repeats, through the flat view (fast 1-D ufunc.at)."""
        np.add.at(arr.reshape(-1), rows.astype(np.int64) * self.n + ci, values.astype(arr.dtype))

    def _schedule(self, ci, pts, rule_idx, start_row, end_row, lvl_row):
        """Add entries' contributions from start_row (inclusive) to end_row (exclusive)."""
        p = pts.astype(np.int64)
        on = end_row > start_row
        on_l = lvl_row > start_row
        self._add(self.d_status, start_row, ci, np.where(on, p, 0))
        self._add(self.d_status, end_row, ci, np.where(on, -p, 0))
        self._add(self.d_level, start_row, ci, np.where(on_l, p, 0))
        self._add(self.d_level, lvl_row, ci, np.where(on_l, -p, 0))
        for t in self.flag_types:
            f = self.rule_flag[t][rule_idx].astype(np.int64)
            self._add(self.d_flags[t], start_row, ci, np.where(on, f, 0))
            self._add(self.d_flags[t], end_row, ci, np.where(on, -f, 0))

    # -- one month ----------------------------------------------------------------
    def _cap_prior(self, mi: int) -> dict[int, np.ndarray]:
        """Points used so far under each capped rule in its current period (a new period
        starts from zero): what this month's records are capped against."""
        prior = {}
        for i in self.capped:
            period = mi // self.policy.rules[i].cap.period_months
            if self.cap_period[i] != period:
                self.cap_used[i][:] = 0
                self.cap_period[i] = period
            prior[i] = self.cap_used[i]
        return prior

    def score_month(self, events: pl.DataFrame) -> LedgerArrays:
        """This month's records scored from this engine's state (the caps used so far this
        period), as `step` scores them first. Engines in the same state score the same
        records alike: one may pass its result to the others' `step` (``ledger=``)."""
        as_of = self.ends[self.k]
        mi = int(month_index(np.array([to_days(as_of)]))[0])
        return build_ledger(events, self.cp, as_of, self.citizens, cap_prior=self._cap_prior(mi))

    def step(self, events: pl.DataFrame, *, contested: np.ndarray | None = None,
             overturned: np.ndarray | None = None, with_ledger: bool = False,
             ledger: LedgerArrays | None = None) -> MonthState:
        """Score the records that arrived this month and return the month-end state.

        contested / overturned (bool per events row, decided by the caller): negative
        entries the citizen contests on arrival, and which of those the review overturns.
        The review takes ceil(review_deadline_days / 30) months; under a policy that
        suspends contested points they count only once upheld, otherwise they count until
        overturned. An overturned entry never counts again.

        ledger: `score_month(events)` of an engine in this engine's state (see there), to
        score the month's records once for several engines; by default scored here.
        """
        k = self.k
        as_of = self.ends[k]
        asof = to_days(as_of)
        policy = self.policy
        mi = int(month_index(np.array([asof]))[0])
        prior = self._cap_prior(mi)
        if ledger is None:
            led = build_ledger(events, self.cp, as_of, self.citizens, cap_prior=prior)
        else:  # shared with other engines: what this step changes (closures ending entries) is copied
            led = dataclasses.replace(ledger, closed=ledger.closed.copy())
        for i in self.capped:
            # only entries of the current period use its cap (records on file from earlier
            # periods, loaded in the first month, used their own periods' caps)
            m = led.rule_idx == i
            if m.any():
                m &= month_index(led.occurred) // policy.rules[i].cap.period_months == self.cap_period[i]
            if m.any():
                self.cap_used[i] += np.bincount(led.citizen_idx[m], weights=np.abs(led.points[m].astype(np.int64)),
                                                minlength=self.n).astype(np.int64)
        self._close_with_past_closings(led)
        self._close_open_entries(events, led, asof)

        states = entry_states(led, as_of)
        ends = np.minimum(led.expires, led.closed)
        lvl_end = np.minimum(ends, add_months(led.occurred, policy.rating.level_window_months))
        live = (states == 0) & (ends > asof)
        sel = np.flatnonzero(live)
        start = np.full(len(sel), k, np.int64)
        end_row = self._row(ends[sel])
        lvl_row = self._row(lvl_end[sel])
        n_contested = n_overturned = 0
        untouched = np.ones(len(sel), bool)
        if contested is not None:
            c = contested[led.event_row[sel]] & (led.points[sel] < 0)
            o = c & overturned[led.event_row[sel]]
            review = k + max(1, -(-policy.contest.review_deadline_days // 30))
            if policy.contest.suspend_while_contested:
                start = np.where(c, review, start)        # counts only once upheld...
                end_row = np.where(o, start, end_row)     # ...and never if overturned
                lvl_row = np.where(o, start, lvl_row)
            else:
                end_row = np.where(o, np.minimum(end_row, review), end_row)
                lvl_row = np.where(o, np.minimum(lvl_row, review), lvl_row)
            start = np.minimum(start, self.months)
            # entries whose schedule is the ordinary one can still be ended by a closure
            untouched = ~c | (~o & (not policy.contest.suspend_while_contested))
            n_contested, n_overturned = int(c.sum()), int(o.sum())
            ids = led.entry_ids(self.row_offset, sel[c])
            self.appeals.append((ids, np.full(len(ids), review, np.int32), o[c], np.full(len(ids), k, np.int32)))
        self._schedule(led.citizen_idx[sel], led.points[sel], led.rule_idx[sel], start, end_row, lvl_row)
        self._remember_open(led, sel[untouched], ends, lvl_end)
        counts = dict(led.counts, contested=n_contested, overturned=n_overturned)

        self.bal_s += self.d_status[k]
        self.bal_l += self.d_level[k]
        for t in self.flag_types:
            self.flags[t] += self.d_flags[t][k]
        ctx = derive(self.bal_s.copy(), self.bal_l.copy(), {t: v.copy() for t, v in self.flags.items()}, policy)
        holds = np.array([evaluate(c.when, ctx, self.cp.band_names) for c in policy.consequences],
                         dtype=bool).reshape(len(policy.consequences), self.n)
        frame = ledger_frame(led, events, self.cp, self.citizens, states, self.row_offset) if with_ledger else None
        self.row_offset += events.height
        self.k += 1
        return MonthState(k, as_of, ctx, holds, frame, counts)

    def _remember_open(self, led, sel, ends, lvl_end) -> None:
        """Keep entries that a later closure could still end."""
        if not len(self.policy.closures):
            return
        keep = sel[self.closable_rules[led.rule_idx[sel]]]
        new = {
            "ci": led.citizen_idx[keep].astype(np.int64), "occ": led.occurred[keep].astype(np.int64),
            "end": ends[keep].astype(np.int64), "lvl_end": lvl_end[keep].astype(np.int64),
            "pts": led.points[keep].astype(np.int64), "rule": led.rule_idx[keep].astype(np.int64),
        }
        if self.open is None:
            self.open = new
        else:
            self.open = {key: np.concatenate([self.open[key], new[key]]) for key in new}

    def _close_open_entries(self, events: pl.DataFrame, led, asof: int) -> None:
        """Closures arriving this month end entries from earlier months."""
        if not self.policy.closures or not events.height:
            return
        inp = led.inputs
        codes, cats, occ, cidx = inp["codes"], inp["cats"], inp["occ"], accepted_citizen_index(led)
        cat_pos = {c: i for i, c in enumerate(cats)}
        self._remember_closings(codes, cat_pos, occ, cidx, asof)
        if self.open is None or not len(self.open["ci"]):
            return
        o = self.open
        for cr in self.cp.closures:
            cl = cr.closure
            if cl.event_type not in cat_pos:
                continue
            crow = np.flatnonzero((codes == cat_pos[cl.event_type]) & (occ <= asof) & (cidx >= 0))
            if not len(crow):
                continue
            # only the open entries of citizens with a closing record this month can change
            closing_citizen = np.zeros(self.n, bool)
            closing_citizen[cidx[crow]] = True
            alive = closing_citizen[o["ci"]]
            key_close = (cidx[crow].astype(np.int64) << 32) | occ[crow].astype(np.int64)
            key_close = np.sort(key_close)
            tsel = np.flatnonzero(cr.targets[o["rule"]] & alive)
            if not len(tsel):
                continue
            key_t = (o["ci"][tsel] << 32) | o["occ"][tsel]
            j = np.searchsorted(key_close, key_t, side="left")
            jc = np.minimum(j, len(key_close) - 1)
            hit = (j < len(key_close)) & ((key_close[jc] >> 32) == o["ci"][tsel])
            when = (key_close[jc] & 0xFFFFFFFF) + cl.within_days
            better = hit & (when < o["end"][tsel])
            idx = tsel[better]
            if not len(idx):
                continue
            new_end = when[better]
            ci, pts, rule = o["ci"][idx], o["pts"][idx], o["rule"][idx]
            # cancel the old schedule from now on, then schedule the new end
            self._reschedule(ci, pts, rule, o["end"][idx], o["lvl_end"][idx], new_end,
                             np.minimum(o["lvl_end"][idx], new_end))
            o["end"][idx] = new_end
            o["lvl_end"][idx] = np.minimum(o["lvl_end"][idx], new_end)
        done = o["end"] <= asof
        if done.sum() > len(done) // 4:  # prune now and then, not every month
            self.open = {key: v[~done] for key, v in o.items()}

    def appeal_states(self) -> pl.DataFrame:
        """(entry_id, state) as of the last month run: overturned once reviewed, else contested;
        upheld entries after review are back to their own state and not listed."""
        if not self.appeals:
            return pl.DataFrame(schema={"entry_id": pl.Int64, "state": pl.String})
        ids = np.concatenate([a[0] for a in self.appeals])
        review = np.concatenate([a[1] for a in self.appeals])
        over = np.concatenate([a[2] for a in self.appeals])
        done = review <= self.k - 1
        state = np.where(done & over, "overturned", np.where(done, "", "contested"))
        keep = state != ""
        return pl.DataFrame({"entry_id": ids[keep].astype(np.int64), "state": state[keep]}).sort("entry_id")

    def appeal_changes(self, deadline_days: int) -> pl.DataFrame:
        """The appeals as store state changes: contested at the month end the record
        arrived, then overturned or upheld at the review's month end (never later than the
        policy's deadline), for reviews completed by the last month run."""
        cols = {"entry_id": pl.Int64, "new_state": pl.String, "actor": pl.String, "reason": pl.String, "at": pl.Date}
        if not self.appeals:
            return pl.DataFrame(schema=cols)
        ids = np.concatenate([a[0] for a in self.appeals]).astype(np.int64)
        review = np.concatenate([a[1] for a in self.appeals])
        over = np.concatenate([a[2] for a in self.appeals])
        month = np.concatenate([a[3] for a in self.appeals])
        ends = np.array([to_days(e) for e in self.ends] + [NEVER], dtype=np.int64)
        c_at = ends[month]
        contested = pl.DataFrame({"entry_id": ids, "new_state": "contested", "actor": "citizen (simulated)",
                                  "reason": "simulated appeal", "at": pl.Series(c_at.astype(np.int32)).cast(pl.Date)})
        done = review <= self.k - 1
        r_at = np.minimum(ends[np.minimum(review, len(self.ends))], c_at + deadline_days)[done]
        resolved = pl.DataFrame({"entry_id": ids[done], "new_state": np.where(over[done], "overturned", "upheld"),
                                 "actor": "reviewer (simulated)", "reason": "simulated review",
                                 "at": pl.Series(r_at.astype(np.int32)).cast(pl.Date)})
        out = pl.concat([contested.with_columns(_o=pl.lit(0)), resolved.with_columns(_o=pl.lit(1))], how="vertical")
        return out.sort("at", "_o", "entry_id").drop("_o").cast(cols)

    def _close_with_past_closings(self, led) -> None:
        """New entries (e.g. a record that arrived late) that an earlier closure already ends."""
        for cr in self.cp.closures:
            cl = cr.closure
            keys = self.past_closings.get(cl.id)
            if keys is None or not len(keys):
                continue
            tsel = np.flatnonzero(cr.targets[led.rule_idx])
            if not len(tsel):
                continue
            key_t = (led.citizen_idx[tsel].astype(np.int64) << 32) | led.occurred[tsel].astype(np.int64)
            j = np.searchsorted(keys, key_t, side="left")
            jc = np.minimum(j, len(keys) - 1)
            hit = (j < len(keys)) & ((keys[jc] >> 32) == led.citizen_idx[tsel])
            when = (keys[jc] & 0xFFFFFFFF) + cl.within_days
            better = hit & (when < led.closed[tsel]) & (when < led.expires[tsel])
            led.closed[tsel[better]] = when[better].astype(np.int32)

    def _remember_closings(self, codes, cat_pos, occ, cidx, asof) -> None:
        for cl in self.policy.closures:
            if cl.event_type not in cat_pos:
                continue
            crow = np.flatnonzero((codes == cat_pos[cl.event_type]) & (occ <= asof) & (cidx >= 0))
            if len(crow):
                new = (cidx[crow].astype(np.int64) << 32) | occ[crow].astype(np.int64)
                old = self.past_closings.get(cl.id, np.zeros(0, np.int64))
                self.past_closings[cl.id] = np.sort(np.concatenate([old, new]))

    def _reschedule(self, ci, pts, rule, old_end, old_lvl, new_end, new_lvl) -> None:
        p = pts.astype(np.int64)
        for arr, old, new in ((self.d_status, old_end, new_end), (self.d_level, old_lvl, new_lvl)):
            self._add(arr, self._row(old), ci, p)
            self._add(arr, self._row(new), ci, -p)
        for t in self.flag_types:
            f = self.rule_flag[t][rule].astype(np.int64)
            self._add(self.d_flags[t], self._row(old_end), ci, f)
            self._add(self.d_flags[t], self._row(new_end), ci, -f)


def _copied(value):
    """A copy of an engine's state value: arrays copied, containers rebuilt, the rest (ints,
    None, dates, tuples of those) as it is."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copied(v) for v in value)
    return value


def spells_from_panel(holds: np.ndarray, ends: list[dt.date]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True in a (months, citizens) panel: (citizen index, start month, end month).

    end month is the first month the consequence no longer held, or -1 if it still holds
    at the last month.
    """
    m, n = holds.shape
    padded = np.zeros((m + 2, n), dtype=np.int8)
    padded[1:-1] = holds
    d = np.diff(padded, axis=0)  # +1 at start row, -1 at end row (in 0..m)
    s_month, s_cit = np.nonzero(d.T == 1)[1], np.nonzero(d.T == 1)[0]
    e_month, e_cit = np.nonzero(d.T == -1)[1], np.nonzero(d.T == -1)[0]
    # nonzero over the transpose walks citizens in order, months ascending: pairs align
    assert np.array_equal(s_cit, e_cit)
    e_month = np.where(e_month >= m, -1, e_month)
    return s_cit, s_month, e_month
