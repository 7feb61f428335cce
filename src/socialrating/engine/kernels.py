"""Compiled loops for the engine's hot paths: one pass over whole columns, no Python per row.

NumPy needs a temporary array for every step of an expression, and at ten million events
the engine spends its time writing and re-reading those temporaries. These kernels fuse
the steps (validate an event, look up its rules, price it, date its expiry) into one pass
that reads each input once. They are compiled by numba with `nogil`, so the engine splits
the rows into chunks and runs them on a small thread pool: that is safe however many
threads call the engine at once (the simulation scores scenarios in parallel), which
numba's own `parallel=True` threading layers do not all promise.

Every kernel is deterministic: chunk results are written to disjoint slices at offsets
fixed by a prefix sum, so the output does not depend on which thread finished first.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .. import parallel

MIN_CHUNK = 1 << 18  # below this many rows a single chunk is faster than threads
# Chunks, and stages that run beside them (e.g. the ledger table while consequences are
# worked out), run on the command's one pool (socialrating.parallel); nothing here starts
# a thread at import.

# quarantine reasons, in the order they are tested (0 = accepted)
REASONS = ["", "missing citizen_id", "missing occurred_on", "unknown citizen_id",
           "missing event_type", "per-unit rule needs a non-negative amount"]
# per event-type flags (bits of `cat_flags`)
RULE_TYPE, CLOSURE_TYPE, UNIT_TYPE, EMPTY_TYPE = 1, 2, 4, 8
# classify() counters
(C_ENTRIES, C_ACCEPTED, C_CLOSING, C_NO_RULE, C_FUTURE, C_RULE_NOW, C_SCORED,
 C_DAY_MIN, C_DAY_MAX) = range(9)
N_COUNTERS = 9
ROW_BITS = 22  # timeline_rows: a citizen's change rows are numbered in the low bits of a sort key
_JIT = dict(nogil=True, cache=True)


def chunks(n: int) -> list[tuple[int, int]]:
    """Split 0..n into at most as many contiguous chunks as the pool has threads (one when n
    is small)."""
    k = 1 if n < MIN_CHUNK else parallel.current().threads
    edges = np.linspace(0, n, k + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def run_chunks(fn, parts: list[tuple], *args) -> list:
    """fn(*part, *args) for every part (lo, hi[, ...]), on the pool when there is more than one."""
    if len(parts) == 1:
        return [fn(*parts[0], *args)]
    return parallel.current().starmap(fn, [(*part, *args) for part in parts])


def in_background(fn, *args, waits: bool = False):
    """Start fn(*args) on another thread; returns a Future (its .result() re-raises errors).

    waits: fn itself waits on a Future from in_background (e.g. the ledger table waits on
    its provenance columns). The one pool needs no pool apart for such stages: a stage
    only waits on work started before it (see socialrating.parallel)."""
    return parallel.current().submit(fn, *args)


# Helpers take scalars only. A helper that takes an array is inlined with a reference
# count taken and dropped on every call: an atomic write to the array's header, which two
# threads scanning the same column then fight over. Array lookups stay in the kernels.

@nb.njit(inline="always")
def _u(i):
    """An index as unsigned. numba compiles a signed index with code for negative ones
    (counting from the end), which the kernels never use and which costs the hot loops
    a third of their time; every index in a kernel is known to be >= 0 where it is used."""
    return np.uint64(i)


@nb.njit(inline="always")
def _bit(byte, j) -> bool:
    """Arrow validity bit j (0..7) of a bitmap byte."""
    return (byte >> (j & 7)) & 1 == 1


@nb.njit(inline="always")
def _dense_idx(c, dense):
    """Position of citizen id c when the ids are 0..dense-1, -1 if out of range."""
    return c if 0 <= c < dense else -1


@nb.njit
def _sparse_idx(citizens, c):
    """Position of citizen id c in the sorted citizens array, -1 if absent (not inlined: it
    is the rare path, and its array argument must not cost the dense path a reference)."""
    n = citizens.shape[0]
    p = np.searchsorted(citizens, c)
    return p if p < n and citizens[p] == c else -1


@nb.njit(inline="always")
def _month_clamp(first, following, dom):
    """Day `dom` (0-based) of the month starting on `first`, clamped to its last day."""
    length = following - first
    return first + (dom if dom < length else length - 1)


@nb.njit(**_JIT)
def classify(lo, hi, cid, cid_bits, cid_off, codes, occ, occ_bits, occ_off, amount, amt_bits, amt_off,
             dense, citizens, cat_flags, lut, vfrom, vuntil, asof, reason, closes, scored):
    """Validate rows lo..hi, write each row's quarantine reason, mark accepted closing
    records dated on or before as_of (`closes`) and the rows that produce entries
    (`scored`), and count.

    Returns the chunk's counters (see C_*): entries it will produce, accepted rows,
    closing-only rows, rows no rule reads, rows dated after as_of, rows of a rule type on
    or before as_of, rows that produce at least one entry, and the day range of entries.
    """
    n_entries = accepted = closing = no_rule = future = rule_now = n_scored = 0
    day_min, day_max = 2**31 - 1, -(2**31)
    n_slots = lut.shape[1]
    cid_nulls, occ_nulls, amt_nulls = cid_bits.shape[0] > 0, occ_bits.shape[0] > 0, amt_bits.shape[0] > 0
    for i in range(lo, hi):
        code = codes[_u(i)]
        f = cat_flags[_u(code)]
        c = -1
        why = 0
        if cid_nulls and not _bit(cid_bits[_u((cid_off + i) >> 3)], cid_off + i):
            why = 1
        elif occ_nulls and not _bit(occ_bits[_u((occ_off + i) >> 3)], occ_off + i):
            why = 2
        else:
            c = _dense_idx(cid[_u(i)], dense) if dense >= 0 else _sparse_idx(citizens, cid[_u(i)])
            if c < 0:
                why = 3
            elif f & EMPTY_TYPE:
                why = 4
            elif f & UNIT_TYPE:
                a = amount[_u(i)]
                if (amt_nulls and not _bit(amt_bits[_u((amt_off + i) >> 3)], amt_off + i)) or not (a >= 0):
                    why = 5
        reason[_u(i)] = why
        closes[_u(i)] = why == 0 and (f & CLOSURE_TYPE) != 0 and occ[_u(i)] <= asof
        scored[_u(i)] = False
        if why:
            continue
        accepted += 1
        o = occ[_u(i)]
        if not f & RULE_TYPE:
            if f & CLOSURE_TYPE:
                if o > asof:
                    future += 1
                else:
                    closing += 1
            else:
                no_rule += 1
            continue
        if o > asof:
            future += 1
            continue
        rule_now += 1
        k = 0
        for s in range(n_slots):
            r = lut[_u(code), _u(s)]
            if r >= 0 and vfrom[_u(r)] <= o < vuntil[_u(r)]:
                k += 1
        if k:
            n_entries += k
            n_scored += 1
            scored[_u(i)] = True
            day_min = min(day_min, o)
            day_max = max(day_max, o)
    out = np.empty(N_COUNTERS, np.int64)
    out[C_ENTRIES], out[C_ACCEPTED], out[C_CLOSING], out[C_NO_RULE] = n_entries, accepted, closing, no_rule
    out[C_FUTURE], out[C_RULE_NOW], out[C_SCORED] = future, rule_now, n_scored
    out[C_DAY_MIN], out[C_DAY_MAX] = day_min, day_max
    return out


@nb.njit(**_JIT)
def emit(lo, hi, at, codes, occ, amount, cid, scored, dense, citizens, lut, vfrom, vuntil, asof,
         fixed, per_unit, is_unit, exp_m, day_lo, mi_t, dom_t, m_lo, mstart, never,
         e_row, e_ci, e_rule, e_occ, e_raw, e_exp, e_slot):
    """Write the entries of rows lo..hi from position `at`, in row order then slot order."""
    n_slots = lut.shape[1]
    j = at
    for i in range(lo, hi):
        if not scored[_u(i)]:
            continue
        o = occ[_u(i)]
        code = codes[_u(i)]
        for s in range(n_slots):
            r = lut[_u(code), _u(s)]
            if r < 0 or not (vfrom[_u(r)] <= o < vuntil[_u(r)]):
                continue
            if is_unit[_u(r)]:
                v = np.trunc(amount[_u(i)] * per_unit[_u(r)])
                v = -32768.0 if v < -32768.0 else (32767.0 if v > 32767.0 else v)
                p = np.int16(v)
            else:
                p = fixed[_u(r)]
            e_row[_u(j)] = i
            e_ci[_u(j)] = _dense_idx(cid[_u(i)], dense) if dense >= 0 else _sparse_idx(citizens, cid[_u(i)])
            e_rule[_u(j)] = r
            e_occ[_u(j)] = o
            e_raw[_u(j)] = p
            m = exp_m[_u(r)]
            if m > 0:
                d = o - day_lo
                k = mi_t[_u(d)] + m - m_lo
                e_exp[_u(j)] = _month_clamp(mstart[_u(k)], mstart[_u(k + 1)], dom_t[_u(d)])
            else:
                e_exp[_u(j)] = never
            if n_slots > 1:  # else the slot array is all zeros already
                e_slot[_u(j)] = s
            j += 1
    return j


@nb.njit(**_JIT)
def by_citizen(sel, ci, n_groups, group_of):
    """Counting sort of the entries `sel` by group_of[ci[e]] (stable): (offsets, entries)."""
    start = np.zeros(n_groups + 1, np.int64)
    for e in sel:
        start[_u(group_of[_u(ci[_u(e)])] + 1)] += 1
    for g in range(n_groups):
        start[_u(g + 1)] += start[_u(g)]
    fill = start[:-1].copy()
    out = np.empty(sel.shape[0], np.int64)
    for e in sel:
        g = group_of[_u(ci[_u(e)])]
        out[_u(fill[_u(g)])] = e
        fill[_u(g)] += 1
    return start, out


@nb.njit(**_JIT)
def cap_totals(c_lo, c_hi, rule, ci, occ, raw, capk, period_t, day_lo, sign, sat, totals):
    """Per (capped rule and period, citizen) for citizens c_lo..c_hi: the group's total
    magnitude. One streaming pass; each thread owns a citizen range.

    The totals are int32 (half the memory the random updates touch) and saturate at
    +-sat; returns whether any did, in which case they are not to be trusted.
    """
    hit = False
    for e in range(rule.shape[0]):
        k = capk[_u(rule[_u(e)])]
        if k < 0:
            continue
        c = ci[_u(e)]
        if c < c_lo or c >= c_hi:
            continue
        g = period_t[_u(k), _u(occ[_u(e)] - day_lo)]
        t = np.int64(totals[_u(g), _u(c)]) + np.int64(raw[_u(e)]) * sign[_u(k)]
        if t > sat or t < -sat:
            hit = True
            t = sat if t > 0 else -sat
        totals[_u(g), _u(c)] = t
    return hit


@nb.njit(**_JIT)
def cap_over(lo, hi, rule, ci, occ, capk, period_t, day_lo, totals, used, lim, over):
    """Mark entries lo..hi in groups whose total (after what was used before) exceeds the
    cap: the only ones that need ordering, and usually few."""
    for e in range(lo, hi):
        k = capk[_u(rule[_u(e)])]
        if k < 0:
            over[_u(e)] = False
            continue
        c = ci[_u(e)]
        g = period_t[_u(k), _u(occ[_u(e)] - day_lo)]
        over[_u(e)] = totals[_u(g), _u(c)] + used[_u(k), _u(c)] > lim[_u(k)]


@nb.njit(**_JIT)
def cap_points(sel, rule, ci, occ, pts, capk, period_t, day_lo, lim, sign, used, n_cit):
    """Cut the points of entries `sel` (in place) per (citizen, capped rule, period), in date
    then entry order: an entry gets what is left under the cap, so the group total is
    exactly min(sum, cap); groups within the cap are left as they are."""
    m = sel.shape[0]
    if m == 0:
        return
    # one stable sort of (citizen, group, day) keys; entry order breaks ties
    n_g = period_t.max() + 1
    span = period_t.shape[1] + 1
    keys = np.empty(m, np.int64)
    for j in range(m):
        e = sel[_u(j)]
        g = period_t[_u(capk[_u(rule[_u(e)])]), _u(occ[_u(e)] - day_lo)]
        keys[_u(j)] = (np.int64(ci[_u(e)]) * n_g + g) * span + (occ[_u(e)] - day_lo)
    order = np.argsort(keys, kind="mergesort")
    j = 0
    while j < m:
        g = keys[_u(order[_u(j)])] // span  # citizen and group
        e0 = sel[_u(order[_u(j)])]
        k = capk[_u(rule[_u(e0)])]
        c = ci[_u(e0)]
        jend = j
        total = 0
        while jend < m and keys[_u(order[_u(jend)])] // span == g:
            total += np.int64(pts[_u(sel[_u(order[_u(jend)])])]) * sign[_u(k)]
            jend += 1
        cum = used[_u(k), _u(c)]
        if total + cum > lim[_u(k)]:
            for q in range(j, jend):
                e = sel[_u(order[_u(q)])]
                v = np.int64(pts[_u(e)]) * sign[_u(k)]
                cum += v
                pts[_u(e)] = (min(cum, lim[_u(k)]) - min(cum - v, lim[_u(k)])) * sign[_u(k)]
        j = jend


@nb.njit(inline="always")
def day_key(ci, day):
    """(citizen, day) as one sortable int64: the day is shifted to be non-negative."""
    return (np.int64(ci) << 32) | (np.int64(day) + 2**31)


@nb.njit(**_JIT)
def day_keys(ci, day):
    out = np.empty(ci.shape[0], np.int64)
    for i in range(ci.shape[0]):
        out[_u(i)] = day_key(ci[_u(i)], day[_u(i)])
    return out


@nb.njit(**_JIT)
def close_entries(ci, rule, occ, expires, targets, key_close, close_row, within, closed, closed_by):
    """For entries of a target rule: the first closing record of the same citizen on or after
    the entry's date ends it `within` days later, if that is earlier than what ends it now.
    key_close: sorted day_key of the closing records; close_row: their events rows."""
    m = key_close.shape[0]
    for e in range(ci.shape[0]):
        if not targets[_u(rule[_u(e)])]:
            continue
        key = day_key(ci[_u(e)], occ[_u(e)])
        j, hi = 0, m  # first closing key >= key (a search written out: see _bit)
        while j < hi:
            mid = (j + hi) >> 1
            if key_close[_u(mid)] < key:
                j = mid + 1
            else:
                hi = mid
        if j >= m or (key_close[_u(j)] >> 32) != ci[_u(e)]:
            continue
        when = (key_close[_u(j)] & 0xFFFFFFFF) - 2**31 + within
        if when < closed[_u(e)] and when < expires[_u(e)]:
            closed[_u(e)] = when
            closed_by[_u(e)] = close_row[_u(j)]


@nb.njit(**_JIT)
def states_at(lo, hi, expires, closed, asof, out):
    """0 active, 1 expired, 2 closed (closed on or before as_of and before it expired)."""
    for e in range(lo, hi):  # branch-free: states are interleaved
        cl = np.int8((closed[_u(e)] <= asof) & (closed[_u(e)] < expires[_u(e)]))
        ex = np.int8(expires[_u(e)] <= asof)
        out[_u(e)] = 2 * cl + (1 - cl) * ex


@nb.njit(**_JIT)
def balances(c_lo, c_hi, ci, points, counting, occ, window_after, flag_of_rule, rule, bal_s, bal_l, flags):
    """Add the counting entries of citizens c_lo..c_hi to their status and level balances
    and in-force flag counts (each thread owns a citizen range, so no two write one cell).

    window_after: an entry is inside the level window iff its date is after this day.
    """
    whole = c_lo <= 0 and c_hi >= bal_s.shape[0]
    for e in range(ci.shape[0]):
        c = ci[_u(e)]
        if not whole and (c < c_lo or c >= c_hi):
            continue
        # branch-free on `counting`: expired entries are interleaved with active ones
        w = np.int64(counting[_u(e)])
        p = np.int64(points[_u(e)]) * w
        bal_s[_u(c)] += p
        bal_l[_u(c)] += p * np.int64(occ[_u(e)] > window_after)
        f = flag_of_rule[_u(rule[_u(e)])]
        if f >= 0:
            flags[_u(f), _u(c)] += w


@nb.njit(**_JIT)
def holder_entries(lo, hi, s_ci, s_rule, s_occ, s_pts, s_end, ci, counting, holder_bits, rule, occ, points,
                   expires, closed):
    """Copy the counting entries lo..hi of marked citizens (a bitset) to the compact arrays;
    returns how many. The copies keep the per-holder walk in cache."""
    j = 0
    for e in range(lo, hi):
        c = ci[_u(e)]
        if counting[_u(e)] and (holder_bits[_u(c >> 3)] >> (c & 7)) & 1:
            s_ci[_u(j)] = c
            s_rule[_u(j)] = rule[_u(e)]
            s_occ[_u(j)] = occ[_u(e)]
            s_pts[_u(j)] = points[_u(e)]
            s_end[_u(j)] = min(expires[_u(e)], closed[_u(e)])
            j += 1
    return j


@nb.njit(**_JIT)
def timeline_rows(h_lo, h_hi, holders, start, order, s_rule, s_occ, s_pts, s_end, flag_of_rule, n_flags,
                  window, day_lo, mi_t, dom_t, m_lo, mstart, never, base_day):
    """Balances of holders h_lo..h_hi after every day on which one changes, in (citizen, day)
    order (threads take disjoint holder ranges).

    Change days: the holder's start (base_day), each entry's date (+points), its end by
    expiry or closure (-points from status, flags), and its exit from the level window
    (-points from level). Returns (row citizen, row day, status, level, flags), the last
    three as running totals from the citizen's start.
    """
    n_rows = (h_hi - h_lo) + 3 * (start[_u(h_hi)] - start[_u(h_lo)])
    base = h_lo + 3 * start[_u(h_lo)]
    # a change row is packed as (day - base_day) << ROW_BITS | its place among the holder's
    # rows: sorting the packed keys sorts by day and carries the row along, in one array
    key = np.empty(n_rows, np.int64)
    ds = np.zeros(n_rows, np.int64)
    dl = np.zeros(n_rows, np.int64)
    df = np.zeros((n_flags, n_rows), np.int8)
    r_cit = np.empty(n_rows, np.int64)
    r_day = np.empty(n_rows, np.int64)
    r_s = np.empty(n_rows, np.int64)
    r_l = np.empty(n_rows, np.int64)
    r_f = np.empty((n_flags, n_rows), np.int64)
    f_run = np.zeros(n_flags, np.int64)
    low = (np.int64(1) << ROW_BITS) - 1
    out = 0
    for h in range(h_lo, h_hi):
        a = h + 3 * start[_u(h)] - base  # this holder's change rows are a..j
        if 1 + 3 * (start[_u(h + 1)] - start[_u(h)]) > low:
            raise ValueError("too many entries for one citizen")
        key[_u(a)] = 0
        j = a + 1
        for q in range(start[_u(h)], start[_u(h + 1)]):
            e = order[_u(q)]
            p = np.int64(s_pts[_u(e)])
            o = s_occ[_u(e)]
            end = s_end[_u(e)]
            f = flag_of_rule[_u(s_rule[_u(e)])]
            key[_u(j)] = ((np.int64(o) - base_day) << ROW_BITS) | (j - a)
            ds[_u(j)] = p
            dl[_u(j)] = p
            if f >= 0:
                df[_u(f), _u(j)] = 1
            j += 1
            if end != never:
                key[_u(j)] = ((np.int64(end) - base_day) << ROW_BITS) | (j - a)
                ds[_u(j)] = -p
                if f >= 0:
                    df[_u(f), _u(j)] = -1
                j += 1
            d = o - day_lo
            k = mi_t[_u(d)] + window - m_lo
            lvl = min(end, _month_clamp(mstart[_u(k)], mstart[_u(k + 1)], dom_t[_u(d)]))
            key[_u(j)] = ((np.int64(lvl) - base_day) << ROW_BITS) | (j - a)
            dl[_u(j)] = -p
            j += 1
        if j - a > 32:
            key[a:j] = np.sort(key[a:j])
        else:
            for i in range(a + 1, j):
                k = key[_u(i)]
                m = i
                while m > a and key[_u(m - 1)] > k:
                    key[_u(m)] = key[_u(m - 1)]
                    m -= 1
                key[_u(m)] = k
        s_run = 0
        l_run = 0
        f_run[:] = 0
        q = a
        while q < j:
            d = key[_u(q)] >> ROW_BITS
            while q < j and key[_u(q)] >> ROW_BITS == d:
                x = a + (key[_u(q)] & low)
                s_run += ds[_u(x)]
                l_run += dl[_u(x)]
                for k in range(n_flags):
                    f_run[_u(k)] += df[_u(k), _u(x)]
                q += 1
            r_cit[_u(out)] = holders[_u(h)]
            r_day[_u(out)] = d + base_day
            r_s[_u(out)] = s_run
            r_l[_u(out)] = l_run
            for k in range(n_flags):
                r_f[_u(k), _u(out)] = f_run[_u(k)]
            out += 1
    return r_cit[:out], r_day[:out], r_s[:out], r_l[:out], r_f[:, :out]


@nb.njit(**_JIT)
def spell_bounds(row_cit, row_day, holds, asof, base_day, never):
    """Per citizen in the timeline: (since, until) of the spell in force on as_of.

    since: the day of the first row of the current run of rows where the condition holds
    (base_day if it has held from the start); until: the first later row where it fails
    (never if none). Meaningful only for citizens for whom it holds on as_of.
    """
    n = row_cit.shape[0]
    n_c = 0
    for i in range(n):
        if i == 0 or row_cit[_u(i)] != row_cit[_u(i - 1)]:
            n_c += 1
    since = np.empty(n_c, np.int64)
    until = np.empty(n_c, np.int64)
    c = -1
    for i in range(n):
        if i == 0 or row_cit[_u(i)] != row_cit[_u(i - 1)]:
            c += 1
            since[_u(c)] = base_day
            until[_u(c)] = never
        if row_day[_u(i)] <= asof:
            if not holds[_u(i)] and i + 1 < n and row_cit[_u(i + 1)] == row_cit[_u(i)]:
                since[_u(c)] = row_day[_u(i + 1)]
            elif not holds[_u(i)]:
                since[_u(c)] = base_day
        elif not holds[_u(i)] and until[_u(c)] == never:
            until[_u(c)] = row_day[_u(i)]
    return since, until


@nb.njit(**_JIT)
def ledger_codes(lo, hi, row, slot, rule, ci, citizens, dense, offset, slot_bits, type_of_rule, cat_of_rule,
                 entry_id, citizen_id, type_code, cat_code):
    """Per entry: its stable id, citizen id, and event-type and category codes (for the
    ledger table; written here so that the table's columns are views, not copies)."""
    for e in range(lo, hi):
        citizen_id[_u(e)] = ci[_u(e)] if dense else citizens[_u(ci[_u(e)])]
        entry_id[_u(e)] = (row[_u(e)] + offset) * (1 << slot_bits) + slot[_u(e)]
        type_code[_u(e)] = type_of_rule[_u(rule[_u(e)])]
        cat_code[_u(e)] = cat_of_rule[_u(rule[_u(e)])]
