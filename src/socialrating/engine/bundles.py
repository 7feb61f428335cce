"""Named bundles of arrays that the compiled kernels take instead of long argument lists.

A kernel used to take 22 to 31 positional arguments, and a call that passed two int32
columns in the wrong order still compiled and ran. These NamedTuples name the columns
that travel together; numba types a NamedTuple of arrays and scalars as a struct, so a
kernel reads `rules.vfrom[r]` at the cost of `vfrom[r]` (each kernel unpacks the fields
it loops over into locals once, before its loop, so no reference count is taken per row).

Which bundle is built where:
- RuleArrays: once per policy (engine.compiled.CompiledPolicy.rules);
- EventColumns, CitizenIndex, TypeLookup: once per call, from the events table;
- MonthTable: once per call, over the days the entries span (ledger.date_tables);
- Classified, EntryColumns, CapTable: the outputs and working arrays of one call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RuleArrays(NamedTuple):
    """Per rule (index into policy.rules): how it prices an event and when it applies."""

    fixed: np.ndarray     # int16 points of a fixed-points rule (0 for per-unit rules)
    per_unit: np.ndarray  # float64 points per unit of amount (0.0 for fixed rules)
    is_unit: np.ndarray   # bool: priced per unit of the event's amount
    exp_m: np.ndarray     # int32 months an entry counts (0: never expires)
    vfrom: np.ndarray     # int32 first day the rule applies (-NEVER: always)
    vuntil: np.ndarray    # int32 first day it no longer applies (NEVER: never)


class EventColumns(NamedTuple):
    """The events' columns as the kernels read them: values, Arrow validity bitmap (empty
    when the column has no nulls) and the bitmap's bit offset."""

    cid: np.ndarray       # int64 citizen ids
    cid_bits: np.ndarray
    cid_off: int
    codes: np.ndarray     # event-type code per row (index into the sorted categories)
    occ: np.ndarray       # int32 days
    occ_bits: np.ndarray
    occ_off: int
    amount: np.ndarray    # float64
    amt_bits: np.ndarray
    amt_off: int


class CitizenIndex(NamedTuple):
    """Who is rated: dense = n when the ids are 0..n-1 (the id is the index), else -1 and
    the position is found by binary search in the sorted `citizens`."""

    dense: int
    citizens: np.ndarray  # sorted int64 ids


class TypeLookup(NamedTuple):
    """Per event-type code of this events table: its flags (kernels.RULE_TYPE, ...) and
    the rules that score it, one column per slot (-1: none)."""

    cat_flags: np.ndarray  # uint8
    lut: np.ndarray        # int16 (codes, slots)


class Classified(NamedTuple):
    """What classify writes per events row."""

    reason: np.ndarray  # int8 quarantine reason (0: accepted)
    closes: np.ndarray  # bool: an accepted closing record dated on or before as_of
    scored: np.ndarray  # bool: produces at least one entry


class MonthTable(NamedTuple):
    """Civil-month lookup tables over days day_lo.. (see ledger.date_tables)."""

    day_lo: int
    mi_t: np.ndarray    # int32 month index per day
    dom_t: np.ndarray   # int32 day of month (0-based) per day
    m_lo: int           # month index of day_lo
    mstart: np.ndarray  # int32 first day of each month from m_lo on


class EntryColumns(NamedTuple):
    """The ledger entries emit writes (one per (event, rule) that scored)."""

    row: np.ndarray      # int32 events row
    ci: np.ndarray       # int32 citizen index
    rule: np.ndarray     # int16 rule index
    occ: np.ndarray      # int32 day
    raw: np.ndarray      # int16 points before caps
    expires: np.ndarray  # int32 day, NEVER if none
    slot: np.ndarray     # int8 rule slot for the event type


class CapTable(NamedTuple):
    """The capped rules of one call: which rules, which (rule, period) row of the totals
    table each day falls in, and each cap's size and sign."""

    capk: np.ndarray      # int8 per rule: its position among the capped rules, -1 if uncapped
    period_t: np.ndarray  # int32 (capped rules, days from day_lo): row of the totals table
    day_lo: int
    lim: np.ndarray       # int64 |cap.points| per capped rule
    sign: np.ndarray      # int64 sign of cap.points per capped rule


class Holdings(NamedTuple):
    """Compact copies of the counting entries of the citizens under a consequence."""

    ci: np.ndarray    # int32
    rule: np.ndarray
    occ: np.ndarray   # int32
    pts: np.ndarray
    end: np.ndarray   # int32 min(expires, closed)
