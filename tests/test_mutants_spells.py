"""engine/spells.py pinned where mutation testing found it loose (scripts/mutation.py): the
compact copy of the holders' entries, a timeline with no holders, and the split of the
holders over three threads (two threads give one cut, three give two)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from case_runner import events_frame

from socialrating.engine.compiled import compile_policy
from socialrating.engine.dates import to_days
from socialrating.engine.ledger import build_ledger, entry_states
from socialrating.engine.score import counts_toward_rating
from socialrating.engine.spells import _holder_entries, timeline
from socialrating.policy.load import load_policy

D = dt.date
AS_OF = D(2025, 6, 1)


def _ledger(rows):
    cp = compile_policy(load_policy("we-platform"))
    led = build_ledger(events_frame(rows), cp, AS_OF, np.arange(3, dtype=np.int64))
    return cp, led, counts_toward_rating(entry_states(led, AS_OF), cp.policy)


ROWS = [(0, "court.conviction", D(2025, 1, 10), None), (1, "court.conviction", D(2025, 2, 3), None),
        (2, "fine.traffic", D(2025, 3, 4), 500.0), (1, "fine.traffic", D(2025, 4, 5), 500.0)]


def test_holder_entries_copies_only_the_marked_citizens_in_narrow_dtypes():
    """Only citizen 1's two entries, in entry order, with the dtypes the kernels and the
    memory budget assume: int32 citizen, day and end; the ledger's own rule and point types."""
    cp, led, counting = _ledger(ROWS)
    bits = np.packbits(np.array([False, True, False]), bitorder="little")
    held = _holder_entries(led, counting, bits)
    # court.conviction (-100, expires 7 years on) on 2025-02-03, fine.traffic (-2, a year) on 2025-04-05
    assert held.ci.tolist() == [1, 1] and held.pts.tolist() == [-100, -2]
    assert held.occ.tolist() == [to_days(D(2025, 2, 3)), to_days(D(2025, 4, 5))]
    assert held.end.tolist() == [to_days(D(2032, 2, 3)), to_days(D(2026, 4, 5))]
    assert held.ci.dtype == np.int32 and held.occ.dtype == np.int32 and held.end.dtype == np.int32
    assert held.rule.dtype == led.rule_idx.dtype and held.pts.dtype == led.points.dtype
    assert led.points.dtype == np.int16


def test_timeline_of_no_holders_is_empty():
    cp, led, counting = _ledger(ROWS)
    cit, day, ctx = timeline(cp, np.zeros(0, np.int64), led, counting)
    assert len(cit) == 0 and len(day) == 0 and all(len(v) == 0 for v in ctx.values())
