"""Each kind of bad record goes to quarantine with exactly its own reason (issue #17).

Membership in the set of allowed reasons is not enough: a valid identifier that is not in
the register must say so, not "missing required key", or the operator looks for the
wrong fault. Hand-made records, one per kind, and a generated batch whose truth says
which records belong to people outside the register.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from case_runner import events_frame
from linkage_fixture import digit_typo, make_records
from socialrating.engine.score import score
from socialrating.identity import inn as _inn
from socialrating.identity import snils as _snils
from socialrating.identity.linkage import (
    INVALID_CHECK, INVALID_FORMAT, MISSING_REQUIRED, NO_CANDIDATE, NOT_IN_REGISTER,
)
from socialrating.sources.link import link_records
from socialrating.identity.register import build_register
from socialrating.policy.load import load_policy
from socialrating.population.generate import generate_population
from socialrating.sources.schemas import SCHEMAS

D = dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(1500, seed=3)


@pytest.fixture(scope="module")
def register(people) -> pl.DataFrame:
    return build_register(people)


def _records(source: str, key: str, values: list, dtype=pl.Int64) -> pl.DataFrame:
    """One record per identifier value, record_id r0, r1, ... (other key columns empty)."""
    sch = SCHEMAS[source]
    n = len(values)
    cols = {"record_id": [f"r{i}" for i in range(n)], "event_type": [sch.event_types[0]] * n,
            "occurred_on": [D] * n, "reported_on": [D] * n, "amount": [100.0] * n}
    schema = dict(sch.columns)
    for c in schema:
        cols.setdefault(c, [None] * n)
    cols[key] = values
    schema[key] = dtype
    return pl.DataFrame(cols, schema=schema)


def _reasons(res) -> dict[str, str]:
    return dict(res.quarantine.select("record_id", "reason").iter_rows())


def _unused(register, key: str, make) -> int:
    """A well-formed identifier (valid check digits) that nobody in the register holds."""
    held = set(register[key].drop_nulls().to_list())
    for v in make():
        if int(v) not in held:
            return int(v)
    raise AssertionError("every candidate is taken")


def test_tax_records_each_get_their_own_reason(people, register):
    inn = people["inn"].drop_nulls()
    good = int(inn[0])
    foreign = _unused(register, "inn", lambda: _inn.make_inn(np.full(50, 99), np.full(50, 98), np.arange(50)))
    assert _inn.validate_inn(np.array([foreign]))[0]  # well-formed: only the register can reject it
    typo = int(digit_typo(np.array([int(inn[1])]), 12, np.random.default_rng(1))[0])
    assert not _inn.validate_inn(np.array([typo]))[0]
    res = link_records("tax", _records("tax", "inn", [good, None, typo, foreign]), register)
    assert res.linked["record_id"].to_list() == ["r0"]
    assert res.linked["citizen_id"].to_list() == people.filter(pl.col("inn") == good)["citizen_id"].to_list()
    assert _reasons(res) == {"r1": MISSING_REQUIRED, "r2": INVALID_CHECK, "r3": NOT_IN_REGISTER}


def test_identifiers_written_as_text(people, register):
    inn = int(people["inn"].drop_nulls()[0])
    foreign = _unused(register, "inn", lambda: _inn.make_inn(np.full(50, 99), np.full(50, 97), np.arange(50)))
    values = [f"{inn:012d}", "", "12ab", f"{foreign:012d}", "1234567890123"]
    res = link_records("tax", _records("tax", "inn", values, pl.String), register)
    assert res.linked["record_id"].to_list() == ["r0"]
    # an INN that is not twelve digits fails its check like a wrong check digit
    assert _reasons(res) == {"r1": MISSING_REQUIRED, "r2": INVALID_CHECK, "r3": NOT_IN_REGISTER,
                             "r4": INVALID_CHECK}


def test_snils_and_phone_sources(people, register):
    snils = int(people["snils"][0])
    foreign = _unused(register, "snils", lambda: _snils.make_snils(np.arange(990_000_000, 990_000_050)))
    typo = int(digit_typo(np.array([snils]), 11, np.random.default_rng(2))[0])
    res = link_records("medical", _records("medical", "snils", [snils, typo, foreign, None]), register)
    assert res.linked["record_id"].to_list() == ["r0"]
    assert _reasons(res) == {"r1": INVALID_CHECK, "r2": NOT_IN_REGISTER, "r3": MISSING_REQUIRED}

    phone = int(people["phone"].drop_nulls()[0])
    held = set(register["phone"].drop_nulls().to_list())
    foreign_phone = next(p for p in range(7_990_000_0000, 7_990_000_0100) if p not in held)
    res = link_records("volunteering", _records("volunteering", "phone", [phone, 12345, foreign_phone]), register)
    assert res.linked["record_id"].to_list() == ["r0"]
    assert _reasons(res) == {"r1": INVALID_FORMAT, "r2": NOT_IN_REGISTER}


def test_names_of_nobody_have_no_candidate(register):
    rec = _records("police", "surname", ["Щщщщщщ"], pl.String).with_columns(
        given_name=pl.lit("Ъъъъъ"), birth_date=pl.lit(dt.date(1901, 1, 1)))
    res = link_records("police", rec, register)
    assert _reasons(res) == {"r0": NO_CANDIDATE}


@pytest.mark.parametrize("source", ["tax", "medical", "volunteering", "public_office", "social_fund"])
def test_records_of_people_outside_the_register_say_so(people, register, source):
    recs, truth = make_records(people, seed=5, rates={source: 0.2}, error_rate=0.0, foreign_rate=0.1,
                               sources=[source])
    res = link_records(source, recs[source], register)
    foreign = set(truth.filter(pl.col("true_citizen_id").is_null())["record_id"].to_list())
    assert len(foreign) > 5
    assert _reasons(res) == {rid: NOT_IN_REGISTER for rid in foreign}
    got = res.linked.join(truth, on="record_id").select(pl.col("citizen_id") == pl.col("true_citizen_id"))
    assert got.to_series().all() and res.linked.height == recs[source].height - len(foreign)


def test_engine_quarantine_reasons_in_the_order_they_are_tested():
    rows = [
        (1, "volunteer.hours", D, 5.0),     # accepted
        (None, "volunteer.hours", D, 5.0),  # missing citizen_id
        (1, "volunteer.hours", None, 5.0),  # missing occurred_on
        (9, "volunteer.hours", D, 5.0),     # unknown citizen_id
        (1, None, D, 5.0),                  # missing event_type
        (1, "volunteer.hours", D, None),    # per-unit rule, no amount
        (1, "volunteer.hours", D, -1.0),    # per-unit rule, negative amount
        (None, None, None, None),           # everything missing: the first test wins
        (9, "volunteer.hours", D, None),    # unknown citizen before the amount
    ]
    res = score(events_frame(rows), load_policy("we-platform"), dt.date(2025, 6, 1), np.array([1, 2]))
    got = dict(res.quarantine.select("record_id", "reason").iter_rows())
    assert got == {
        "r1": "missing citizen_id", "r2": "missing occurred_on", "r3": "unknown citizen_id",
        "r4": "missing event_type", "r5": "per-unit rule needs a non-negative amount",
        "r6": "per-unit rule needs a non-negative amount", "r7": "missing citizen_id",
        "r8": "unknown citizen_id",
    }
    assert res.counts["events_in"] == 9 and res.counts["accepted"] == 1 and res.counts["quarantined"] == 8
