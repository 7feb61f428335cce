"""The world's randomness per generation block (issue #15): a block's records, feedback
records and appeal draws come from the block's own streams, so they do not depend on how
many other blocks there are or which of them share a shard; block 0 keeps the streams of
before blocks had them (the golden test holds runs of one block to that byte for byte)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.simulate.runner import Calendar, appeal_draws, block_stream, feedback_seed
from socialrating.simulate.synthetic_world import synthetic_world

START = dt.date(2024, 1, 1)
BS = 1024


@pytest.fixture(scope="module")
def worlds():
    """The same seed, 2 blocks and 3 blocks (the last one shorter)."""
    return (synthetic_world(2 * BS, START, 1.0, 11, block_size=BS),
            synthetic_world(3 * BS - 300, START, 1.0, 11, block_size=BS))


def test_a_block_s_records_do_not_depend_on_the_other_blocks(worlds):
    small, big = worlds
    first_two = big.truth.filter(pl.col("true_citizen_id") < 2 * BS)
    # the records about the first two blocks' people, as generated (truth, in block order)
    assert big.people.head(2 * BS).equals(small.people)
    mine = small.truth.filter(pl.col("true_citizen_id").is_not_null())
    assert first_two.sort("source", "record_id").equals(mine.sort("source", "record_id"))
    assert big.truth.filter(pl.col("true_citizen_id") >= 2 * BS).height > 1000  # the third block has records


def test_ids_stay_unique_across_blocks(worlds):
    _, big = worlds
    t = big.truth
    assert t.select("source", "record_id").n_unique() == t.height
    # every block numbers its own records and proceedings: three blocks' worth of each
    blocks = t.filter(pl.col("true_citizen_id").is_not_null()).select(pl.col("true_citizen_id") // BS).n_unique()
    assert blocks == 3
    bailiffs = big.seen.filter(pl.col("source") == "bailiffs")
    assert bailiffs.height > 0


def test_the_linkage_is_national(monkeypatch):
    """Every block's records are linked against one register of everybody (so a record can
    go to a namesake in another block), not against their own block's people."""
    import socialrating.simulate.synthetic_world as sw

    seen = []
    real = sw.national_register
    monkeypatch.setattr(sw, "national_register", lambda people: seen.append(people["citizen_id"]) or real(people))
    w = sw.synthetic_world(3 * BS - 300, START, 0.5, 11, block_size=BS)
    assert len(seen) == 1 and seen[0].to_list() == list(range(3 * BS - 300))
    assert w.linkage["records_in == linked + quarantined"]
    assert w.linkage["records_in"] == w.truth.height


def test_block_zero_keeps_the_old_streams():
    cal = Calendar(START, 3, 5, block_size=BS)
    assert block_stream(cal, "feedback", 2, 0).spawn_key == (2, 2)
    assert block_stream(cal, "appeals", 2, 0).spawn_key == (3, 2)
    assert block_stream(cal, "feedback", 2, 4).spawn_key == (5, 4, 2)
    assert block_stream(cal, "appeals", 2, 4).spawn_key == (6, 4, 2)
    assert feedback_seed(cal, 1)(3).spawn_key == (5, 3, 1)
    ids = np.arange(50) * 7 % BS  # one block
    old = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(3, 1))).random((2, 50))
    assert np.array_equal(appeal_draws(cal, 1, ids), old)


def test_appeal_draws_of_a_block_do_not_depend_on_the_batch():
    """A shard's batch holds some blocks' records: each record draws what it draws in the
    whole batch (its block's stream, in its block's order)."""
    cal = Calendar(START, 3, 5, block_size=BS)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4 * BS, 400)
    whole = appeal_draws(cal, 2, ids)
    part = np.flatnonzero((ids // BS == 1) | (ids // BS == 3))
    assert np.array_equal(appeal_draws(cal, 2, ids[part]), whole[:, part])
    # block 1's records alone draw block 1's stream from its start
    b1 = np.flatnonzero(ids // BS == 1)
    own = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(6, 1, 2))).random((2, len(b1)))
    assert np.array_equal(whole[:, b1], own)
    # one block (no block size) is one stream
    assert np.array_equal(appeal_draws(Calendar(START, 3, 5), 2, ids),
                          np.random.default_rng(np.random.SeedSequence(5, spawn_key=(3, 2))).random((2, 400)))


def test_feedback_records_of_a_block_do_not_depend_on_the_others(worlds):
    _, big = worlds
    n = big.people.height
    scale = np.where(np.arange(n) % 3 == 0, 2.0, 0.0)
    seeds = feedback_seed(Calendar(START, 3, 5, block_size=BS), 1)
    whole = big.extra(scale > 0, scale, START, seeds)
    assert whole.filter(pl.col("record_id").str.starts_with("fb-b2-")).height > 0
    mask = (scale > 0) & (np.arange(n) >= 2 * BS)  # the third block alone
    alone = big.extra(mask, scale, START, seeds)
    assert alone.equals(whole.filter(pl.col("citizen_id") >= 2 * BS))


def test_proceeding_numbers_per_block_and_their_limits(monkeypatch):
    """A block numbers its proceedings from block * PROCEEDINGS_PER_BLOCK whatever the run's
    number of blocks; a run of one block has no limit but the 9 digits (so long histories
    still run); a multi-block run refuses a block that overflows, or too many blocks."""
    from socialrating.population.generate import generate_population
    from socialrating.sources.agencies import bailiffs
    from socialrating.sources.synthetic import generate_records

    assert bailiffs.MAX_BLOCKS == 1250 and bailiffs.MAX_BLOCKS * 131_072 >= 146_000_000
    people = generate_population(3000, np.random.SeedSequence(5, spawn_key=(0, 0)), as_of=START)
    one = generate_records(people, START, 2.0, np.random.SeedSequence(5, spawn_key=(0, 1)))
    n = one.records["bailiffs"]["proceeding_id"].n_unique()
    assert n > 50
    monkeypatch.setattr(bailiffs, "PROCEEDINGS_PER_BLOCK", 10)
    again = generate_records(people, START, 2.0, np.random.SeedSequence(5, spawn_key=(0, 1)))
    assert again.records["bailiffs"].equals(one.records["bailiffs"])  # one block: no per-block limit
    with pytest.raises(ValueError, match=r"proceedings in generation block 1, more than the 10 numbers a block has"):
        generate_records(people, START, 2.0, np.random.SeedSequence(5, spawn_key=(0, 1)), block=1, blocks=2)
    with pytest.raises(ValueError, match=r"a run of 1,251 generation blocks"):
        monkeypatch.setattr(bailiffs, "PROCEEDINGS_PER_BLOCK", 800_000)
        generate_records(people, START, 2.0, 5, block=0, blocks=1251)
    with pytest.raises(ValueError, match=r"generation block 3 of a run of 2 blocks"):
        generate_records(people, START, 2.0, 5, block=3, blocks=2)
