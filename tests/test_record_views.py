"""The agencies' view and its error-free twin from one run of the agency models
(sources.synthetic.true_records + records_view) equal what two full generations give
(generate_records with the calibrated errors, and with none and no identifiers)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.population.generate import generate_population
from socialrating.simulate.synthetic_world import block_records, record_seed
from socialrating.sources.errors import ErrorModel
from socialrating.sources.synthetic import generate_records, records_view, true_records

START = dt.date(2022, 1, 1)


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(3_000, np.random.SeedSequence(11), as_of=dt.date(2024, 1, 1), block_size=3_000)


def same(a, b) -> None:
    assert list(a.records) == list(b.records)
    for src in a.records:
        assert a.records[src].equals(b.records[src]), src
    assert a.truth.equals(b.truth)
    assert a.not_loaded == b.not_loaded


def keep_recent(types: pl.Series, occurred: np.ndarray, reported: np.ndarray) -> np.ndarray:
    return occurred >= (dt.date(2023, 1, 1) - dt.date(1970, 1, 1)).days


@pytest.mark.parametrize("keep", [None, keep_recent])
def test_block_records_equal_two_separate_generations(people, keep):
    seen, twin = block_records(people, START, 2.0, 5, 0, keep)
    own, keys = record_seed(5, 0), record_seed(5, 0)
    same(seen, generate_records(people, START, 2.0, own, keep=keep, keys=keys))
    same(twin, generate_records(people, START, 2.0, own, error_model=ErrorModel.none(), identities=False,
                                keep=keep, keys=keys))
    assert seen.truth["erroneous"].sum() > 0 and twin.truth["erroneous"].sum() == 0
    if keep is not None:
        assert seen.not_loaded > 0 and twin.not_loaded > 0


def test_a_view_leaves_the_true_records_as_they_were(people):
    true = true_records(people, START, 2.0, 9)
    twin_first = records_view(true, ErrorModel.none(), identities=False)
    seen = records_view(true)  # corrupts a copy
    same(records_view(true, ErrorModel.none(), identities=False), twin_first)
    same(records_view(true), seen)
    # the views differ where the errors are (else the test above proves nothing)
    assert seen.truth.height != twin_first.truth.height or not seen.truth.equals(twin_first.truth)


@pytest.mark.parametrize("keep", [None, keep_recent])
def test_every_view_is_in_reporting_order_then_record_number(people, keep):
    """Both views list each source's records by the day reported, then by the running number
    in their ids (the twin takes the true records' filing order instead of sorting)."""
    seen, twin = block_records(people, START, 2.0, 5, 0, keep)
    for view in (seen, twin):
        for src, frame in view.records.items():
            key = frame.select("reported_on", pl.col("record_id").str.slice(4).cast(pl.Int64).alias("n"))
            assert key.equals(key.sort("reported_on", "n")), src
            assert frame["record_id"].is_unique().all(), src
