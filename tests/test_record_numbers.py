"""Record numbers (sources/record_numbers.py): unique, the same for a true record in every
view, in filing order, and with no tell of the records an error adds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialrating.sources.record_numbers import (NUMBERS, OFFICES, SLOT, _filing_keys, numbers_of, office,
                                                 true_order, view_numbers)

OPAQUE, SLOTKEY, BASE = 12345, 678, 3 << 28


def _view(true_reported, added_reported, keep_true=None):
    """Counters and reported days of a view: the kept true records, then added ones."""
    m = len(true_reported)
    keep = np.arange(m) if keep_true is None else np.asarray(keep_true, np.int64)
    counter = np.r_[BASE + keep, BASE + m + np.arange(len(added_reported))].astype(np.int64)
    reported = np.r_[np.asarray(true_reported, np.int32)[keep], np.asarray(added_reported, np.int32)].astype(np.int32)
    return counter, reported


days = st.lists(st.integers(17_000, 17_060), max_size=60)


@settings(max_examples=150, deadline=None)
@given(true_days=days, added_days=days, data=st.data())
def test_numbers_are_unique_and_a_true_records_never_depends_on_the_view(true_days, added_days, data):
    order = true_order(np.asarray(true_days, np.int32), BASE, OPAQUE, SLOTKEY)
    m = len(true_days)
    keep = sorted(data.draw(st.sets(st.integers(0, max(m - 1, 0)), max_size=m))) if m else []
    counter, reported = _view(true_days, added_days, keep)
    number = view_numbers(counter, reported, order, OPAQUE, SLOTKEY)
    assert len(set(number.tolist())) == len(number)
    # the kept true records have the numbers of the error-free view (all true records, none added)
    alone = view_numbers(*_view(true_days, []), order, OPAQUE, SLOTKEY)
    assert number[:len(keep)].tolist() == alone[keep].tolist()
    # numbers_of finds any record's number from its counter
    assert numbers_of(counter, counter, number, order).tolist() == number.tolist()


@settings(max_examples=100, deadline=None)
@given(true_days=days, added_days=days)
def test_true_records_are_numbered_in_filing_order_and_added_ones_in_the_slot_after_them(true_days, added_days):
    reported_t = np.asarray(true_days, np.int32)
    order = true_order(reported_t, BASE, OPAQUE, SLOTKEY)
    m = len(true_days)
    # rank by day, then the keyed order: slot r holds the r-th true record filed
    keys_t = _filing_keys(reported_t, BASE + np.arange(m), OPAQUE)
    rank = np.argsort(np.argsort(keys_t))
    assert (order.number // SLOT).tolist() == rank.tolist()
    counter, reported = _view(true_days, added_days)
    number = view_numbers(counter, reported, order, OPAQUE, SLOTKEY)
    added_keys = _filing_keys(reported[m:], counter[m:], OPAQUE)
    slot = np.array([(keys_t < k).sum() for k in added_keys], np.int64)  # true records filed before it
    in_slot = number[m:] < m * SLOT
    assert (number[m:][in_slot] // SLOT).tolist() == slot[in_slot].tolist()
    # after every slot: the records filed after the last true one, and those of a slot with
    # more added records than free numbers, in filing order
    for s in np.unique(slot[~in_slot]):
        assert s == m or (slot == s).sum() > SLOT - 1
    tail = np.flatnonzero(~in_slot)
    by_filing = tail[np.lexsort((added_keys[tail], slot[tail]))]
    assert number[m:][by_filing].tolist() == list(range(m * SLOT, m * SLOT + tail.size))


def test_a_full_slot_and_the_records_after_the_last_true_one_continue_the_sequence():
    # 20 records added on a day before the only true record (its slot has SLOT - 1 free
    # numbers), 2 after it: the rest numbered after it, the earlier-filed first
    order = true_order(np.array([100], np.int32), BASE, OPAQUE, SLOTKEY)
    counter, reported = _view([100], [50] * 20 + [150, 151])
    number = view_numbers(counter, reported, order, OPAQUE, SLOTKEY)
    assert sorted(number[1:21] // SLOT).count(0) == SLOT - 1
    assert sorted(number[1:21].tolist())[SLOT - 1:] == list(range(SLOT, SLOT + 21 - SLOT))
    assert number[21:].tolist() == [SLOT + 21 - SLOT, SLOT + 22 - SLOT]
    assert len(set(number.tolist())) == 23


def test_no_tell_the_added_records_numbers_look_like_the_true_ones():
    """Over many slots, an added record's place in its slot (its number mod SLOT, and
    whether it is below the true record's) is distributed as the true record's."""
    rng = np.random.default_rng(0)
    m, k = 200_000, 40_000
    true_days = rng.integers(0, 3_000, m).astype(np.int32)
    added_days = rng.integers(0, 3_000, k).astype(np.int32)
    order = true_order(true_days, BASE, OPAQUE, SLOTKEY)
    counter, reported = _view(true_days, added_days)
    number = view_numbers(counter, reported, order, OPAQUE, SLOTKEY)
    for part in (number[:m], number[m:]):
        share = np.bincount(part % SLOT, minlength=SLOT) / part.size
        assert np.abs(share - 1 / SLOT).max() < 0.01
    # in the slots holding one true and one added record, the added one is the lower about half the time
    slot_of_added = number[m:] // SLOT
    ones = np.flatnonzero(np.bincount(slot_of_added, minlength=m + 1)[slot_of_added] == 1)
    ones = ones[slot_of_added[ones] < m]
    true_at = np.empty(m, np.int64)
    true_at[order.number // SLOT] = order.number
    lower = number[m:][ones] < true_at[slot_of_added[ones]]
    assert abs(lower.mean() - 0.5) < 0.02


def test_numbers_of_refuses_a_counter_not_in_the_view():
    order = true_order(np.array([1, 2], np.int32), BASE, OPAQUE, SLOTKEY)
    counter, reported = _view([1, 2], [3])
    number = view_numbers(counter, reported, order, OPAQUE, SLOTKEY)
    assert numbers_of(np.array([BASE + 2]), counter, number, order).tolist() == [number[2]]
    with pytest.raises(ValueError, match="not in the view"):
        numbers_of(np.array([BASE + 3]), counter, number, order)


def test_offices_are_a_permutation_of_the_blocks_and_refuse_more():
    got = [office(b, 99) for b in range(OFFICES)]
    assert sorted(got) == list(range(OFFICES)) and got != list(range(OFFICES))
    with pytest.raises(ValueError, match="10,000 blocks"):
        office(OFFICES, 99)
    assert NUMBERS == 10**8  # 4 office digits + 8 number digits: the ids' 12
