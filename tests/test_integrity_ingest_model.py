"""Hypothesis: any sequence of re-sends, edits and broken rows ingested into one folder
matches a simple model of what is on file, and records in = accepted + quarantined +
already present every time. The model: an id never seen is accepted (or quarantined if
broken); seen with the same content it is already present; with other content it is a
conflict if it was accepted, or validated afresh (a correction) if it was quarantined."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage_fixture import make_records
from socialrating.population.generate import generate_population
from socialrating.sources.ingest import CONFLICT, ingest_file

AS_OF = dt.date(2025, 6, 1)
N = 8


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    people = generate_population(800, seed=4)
    recs, _ = make_records(people, seed=3, error_rate=0.0, foreign_rate=0.0, sources=["tax"])
    base = recs["tax"].head(N).with_columns(record_id=pl.format("t{}", pl.int_range(pl.len())),
                                            occurred_on=pl.lit(dt.date(2025, 3, 1)),
                                            reported_on=pl.lit(dt.date(2025, 3, 2)))
    assert base.height == N
    return d, people, base


send = st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, 2), st.booleans()), min_size=1, max_size=N,
                unique_by=lambda t: t[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sends=st.lists(send, min_size=1, max_size=3))
def test_ingest_matches_the_model(setup, tmp_path_factory, sends):
    d, people, base = setup
    run = tmp_path_factory.mktemp("r")
    people.write_parquet(run / "citizens.parquet")
    on_file: dict[str, tuple[str, tuple]] = {}  # record_id -> (outcome, content)
    for k, rows in enumerate(sends):
        sel = [i for i, _, _ in rows]
        frame = base[sel].with_columns(
            amount=pl.col("amount") * pl.Series([1.0 + m for _, m, _ in rows]),
            occurred_on=pl.when(pl.Series([b for _, _, b in rows])).then(pl.lit(dt.date(2030, 1, 1)))
            .otherwise(pl.col("occurred_on")))
        path = run / f"send{k}.csv"
        frame.write_csv(path)
        rep = ingest_file("tax", path, run, as_of=AS_OF)
        want = {"accepted": 0, "present": 0, "conflict": 0, "quarantined": 0}
        for i, m, broken in rows:
            rid, content = f"t{i}", (m, broken)
            prior = on_file.get(rid)
            if prior is not None and prior[1] == content:
                want["present"] += 1
            elif prior is not None and prior[0] == "accepted":
                want["conflict"] += 1
            else:
                outcome = "quarantined" if broken else "accepted"
                want[outcome] += 1
                on_file[rid] = (outcome, content)
        assert rep.records_in == rep.accepted + rep.quarantined_total + rep.already_present == len(rows)
        assert (rep.accepted, rep.already_present, rep.quarantined.get(CONFLICT, 0)) == \
            (want["accepted"], want["present"], want["conflict"])
        assert rep.quarantined_total - rep.quarantined.get(CONFLICT, 0) == want["quarantined"]
    ev = run / "ingested" / "tax.parquet"
    got = pl.read_parquet(ev)["record_id"].to_list() if ev.exists() else []
    assert len(got) == len(set(got))  # accepted once, never twice
    assert set(got) == {r for r, (o, _) in on_file.items() if o == "accepted"}
    shutil.rmtree(run)
