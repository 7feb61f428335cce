"""Record numbers: the running number an agency writes in each record's id.

An agency numbers its records as it files them, office by office: a record's id is the
source's prefix, the office (4 digits) and the office's running number (8 digits), e.g.
``BNK-0417 00012345`` written ``BNK-041700012345``. Here the office is the generation block
(under a keyed permutation, so it does not say which block), and the running number follows
the order in which the agency filed its *true* records: by the day reported, and within a
day in a keyed random order.

Why not a random number per record (as the first rounds had): a run's tables are written in
reporting order, so running numbers are nearly consecutive there and Parquet stores them in
a fraction of a byte each, where random ones took about 6 bytes, nearly half of a national
run's folder. What the numbering must keep:

* **The same id in every view.** A true record's number depends on the true records alone,
  never on the error model, so a record no error touched has the same id in the agencies'
  view and in its error-free twin, generated together or apart.
* **No tell of an error.** Records an error adds (duplicates, camera errors, stale renewals)
  are numbered where the agency would have filed them: every true record owns a slot of
  ``SLOT`` numbers and takes a keyed random one of them; a record an error adds goes into
  the slot of the first true record filed after it, at a keyed random free number. A slot
  with two numbers in use does not say which is the error. Records added after the last
  true record continue the sequence, as the agency's next numbers; so would an added record
  that found its slot full (its number then later than its filing day's): none does in 8
  years of a 131,072-person block with the calibrated errors (75,347 records added).
* **Unique**: numbers are distinct within an office, offices distinct within the nation.

Everything is vectorised over the records; nothing here draws from a random stream (the
keys come from the identifier seed, shared by every block).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..identity._permute import derive_keys, permute

__all__ = ["SLOT", "OFFICES", "NUMBERS", "OPAQUE_DOMAIN", "TrueOrder", "true_order", "view_numbers",
           "numbers_of", "office"]

#: numbers a true record's slot holds (it takes one, records an error adds the others).
#: Four: in 8 years of a 131,072-person block (6.1M records, 75,347 added by the calibrated
#: errors) no added record finds its slot full (44 do with three, 1,634 with two), and 1.5M
#: ascending ids take 0.94 bytes each in Parquet (1.59 with eight, 0.48 with two).
SLOT = 4
assert SLOT & (SLOT - 1) == 0, "a true record's residue is the low bits of its opaque number"
#: offices (generation blocks) a source can have: the id's 4 office digits
OFFICES = 10**4
#: running numbers an office can give: the id's 8 number digits
NUMBERS = 10**8
#: the keyed random order of records filed on the same day: a permutation of the record
#: counters in [0, 10**12)
OPAQUE_DOMAIN = 10**12
_DAY_SHIFT = 40  # 2**40 > OPAQUE_DOMAIN: (day << 40) | opaque orders by day, then opaque


@dataclass(frozen=True)
class TrueOrder:
    """A source's true records of one block in filing order (shared by every view)."""

    base: int                 # the block's first counter: true record i has counter base + i
    sorted_keys: np.ndarray   # int64 filing keys of the true records, ascending
    number: np.ndarray        # int32 running number of true record i (< NUMBERS < 2**31)
    order: np.ndarray         # int32 indices of the true records in filing order (< 2**28 a block)

    def residue(self, rank: np.ndarray) -> np.ndarray:
        """The number, mod SLOT, of the true records of these ranks: the low bits of their
        keyed opaque numbers (SLOT is a power of two)."""
        return self.sorted_keys[rank] & (SLOT - 1)


def _filing_keys(reported: np.ndarray, counter: np.ndarray, opaque_key: int) -> np.ndarray:
    """One int64 per record ordering by the day reported, then a keyed random order."""
    opaque = permute(counter, OPAQUE_DOMAIN, opaque_key)
    return (reported.astype(np.int64) << _DAY_SHIFT) | opaque


def true_order(reported: np.ndarray, base: int, opaque_key: int, slot_key: int) -> TrueOrder:
    """Number the true records (counters ``base + arange(len(reported))``) in filing order:
    the record of rank r gets ``r * SLOT`` plus a keyed residue."""
    m = len(reported)
    counter = base + np.arange(m, dtype=np.int64)
    keys = _filing_keys(reported, counter, opaque_key)
    order = np.argsort(keys)  # keys are distinct (the opaque part is a bijection): any sort gives one order
    sorted_keys = keys[order]
    if m and (m + 1) * SLOT >= 2**31:
        raise ValueError(f"{m:,} true records of one source in one generation block: too many to number")
    number = np.empty(m, np.int32)
    number[order] = np.arange(m, dtype=np.int64) * SLOT + (sorted_keys & (SLOT - 1))
    return TrueOrder(base, sorted_keys, number, order.astype(np.int32))


def _true_numbers(counter: np.ndarray, order: TrueOrder) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of the true records among ``counter`` (filled in), and where the others
    are (records an error added)."""
    rel = counter.astype(np.int64) - order.base
    out = np.empty(len(counter), np.int64)
    is_true = (rel >= 0) & (rel < len(order.number))
    out[is_true] = order.number[rel[is_true]]
    return out, np.flatnonzero(~is_true)


def view_numbers(counter: np.ndarray, reported: np.ndarray, order: TrueOrder, opaque_key: int,
                 slot_key: int) -> np.ndarray:
    """The running number of each record of a view (its counters and reported days): a true
    record's from ``order``; a record an error added, a free number in the slot of the first
    true record filed after it (see the module's docstring)."""
    m = len(order.number)
    out, added = _true_numbers(counter, order)
    if added.size == 0:
        return out
    keys = _filing_keys(reported[added], counter[added], opaque_key)
    slot = np.searchsorted(order.sorted_keys, keys)  # true records filed before it
    by = np.lexsort((keys, slot))
    slot, added = slot[by], added[by]
    starts = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]])
    j = np.arange(slot.size) - np.repeat(starts, np.diff(np.r_[starts, slot.size]))
    taken = order.residue(np.minimum(slot, m - 1)) if m else np.zeros(slot.size, np.int64)
    free = SLOT - 1
    start = (derive_keys(slot_key ^ 0x5EED, slot.astype(np.uint64)) % np.uint64(free)).astype(np.int64)
    q = (start + j) % free
    number = slot * SLOT + q + (q >= taken)
    # after the last true record, or no free number left in the slot: the agency's next
    # numbers after every slot, in filing order (``by`` is filing order within and across slots)
    tail = (slot >= m) | (j >= free)
    number[tail] = m * SLOT + np.arange(int(tail.sum()), dtype=np.int64)
    out[added] = number
    return out


def numbers_of(wanted: np.ndarray, counter: np.ndarray, number: np.ndarray, order: TrueOrder) -> np.ndarray:
    """The running numbers of the records with counters ``wanted`` (the originals that
    duplicates copy): a true record's from ``order``, an added one's from the view's
    ``counter`` -> ``number``."""
    out, other = _true_numbers(wanted, order)
    if other.size:
        by = np.argsort(counter)
        at = np.searchsorted(counter[by], wanted[other])
        at = np.minimum(at, max(len(counter) - 1, 0))
        if len(counter) == 0 or np.any(counter[by][at] != wanted[other]):
            raise ValueError("a duplicate copies a record that is not in the view")
        out[other] = number[by[at]]
    return out


def office(block: int, key: int) -> int:
    """The office digits of a generation block: a keyed permutation of the block number."""
    if not 0 <= block < OFFICES:
        raise ValueError(f"generation block {block}: record ids have room for {OFFICES:,} blocks "
                         "(offices); use larger blocks")
    return int(permute(np.array([block], np.int64), OFFICES, key)[0])
