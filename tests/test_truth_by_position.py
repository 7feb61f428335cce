"""The generator's truth taken by position (merge_batches' truth_rows, LinkResult's row
positions) gives exactly what the join on record_id gives: the flagged records and the
linkage report, over two generation blocks with the calibrated errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.identity.linkage import linkage_report
from socialrating.population.generate import generate_population
from socialrating.simulate.synthetic_world import block_records, blocks_of, flagged, merge_batches, national_register
from socialrating.sources.link import link_sources

START = dt.date(2022, 1, 1)


@pytest.fixture(scope="module")
def linked():
    people = generate_population(4_000, np.random.SeedSequence(21), as_of=dt.date(2024, 1, 1), block_size=2_048)
    parts = blocks_of(people, 2_048)
    assert len(parts) == 2  # the truth rows' offsets cross a block
    batch = merge_batches([block_records(p, START, 2.0, 4, b, None, len(parts))[0] for b, p in parts])
    return batch, link_sources(batch.records, national_register(people))


def test_truth_rows_point_at_each_records_truth(linked):
    batch, _ = linked
    for src, frame in batch.records.items():
        got = batch.truth["record_id"].gather(batch.truth_rows[src])
        assert got.equals(frame["record_id"].cast(pl.String), check_names=False), src
    assert sum(len(v) for v in batch.truth_rows.values()) == batch.truth.height


def test_flagged_by_position_equals_the_join(linked):
    batch, results = linked
    by_join, by_position = flagged(results, batch.truth), flagged(results, batch.truth, batch.truth_rows)
    assert by_position.equals(by_join)
    assert by_join["erroneous"].sum() > 0 and (~by_join["erroneous"]).sum() > 0


def test_linkage_report_by_position_equals_the_join(linked):
    batch, results = linked
    by_join = linkage_report(results, batch.truth)
    by_position = linkage_report(results, batch.truth, truth_rows=batch.truth_rows)
    assert by_position == by_join
    assert by_join["overall"]["quarantined"] > 0 and by_join["overall"]["wrongly_linked"] > 0
    assert by_join["overall"]["records_without_truth"] == 0


def test_positions_that_do_not_match_are_refused(linked):
    batch, results = linked
    src = next(s for s, r in results.items() if r.linked.height > 1)
    wrong = {**batch.truth_rows, src: batch.truth_rows[src][::-1].copy()}
    with pytest.raises(AssertionError, match="by position"):
        flagged(results, batch.truth, wrong)
    with pytest.raises(AssertionError, match="by position"):
        linkage_report(results, batch.truth, truth_rows=wrong)
