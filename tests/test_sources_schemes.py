"""The sources added for issue 14: the residence register's household standing, the
conscription register, the online marketplace (with its own error model) and the
education trajectory records. Each is checked against an independent recomputation from
the population and the other agencies' records, or against its documented behaviour.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from socialrating.population.generate import generate_population
from socialrating.sources.errors import ErrorModel
from socialrating.sources.schemas import SCHEMAS
from socialrating.sources.synthetic import generate_records

N = 30_000
START = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(N, 7, as_of=START)


@pytest.fixture(scope="module")
def clean(people):
    return generate_records(people, START, 2.0, 8, error_model=ErrorModel.none())


@pytest.fixture(scope="module")
def noisy(people):
    return generate_records(people, START, 2.0, 8)


def _truth(batch, source: str) -> pl.DataFrame:
    return batch.truth.filter(pl.col("source") == source).with_columns(pl.col("event_type").cast(pl.String))


def test_new_sources_registered_with_their_keys():
    assert SCHEMAS["marketplace"].required_keys == ("phone",)
    assert SCHEMAS["conscription"].required_keys == ("snils",)
    assert SCHEMAS["residence"].required_keys == ("passport",)
    assert set(SCHEMAS["residence"].event_types) == {"household.member_sanctioned"}
    assert {"education.term_result", "education.expelled", "education.honours"} <= set(SCHEMAS["education"].event_types)


def test_household_standing_equals_a_recomputation_from_the_courts(people, clean):
    """Every other adult (with a passport) of a household gets one event per calendar year in
    which an adult of it was convicted or listed, dated on the year's first such event."""
    p = people.select("citizen_id", "household_id", "age", "passport")
    courts = (_truth(clean, "courts")
              .filter(pl.col("event_type").is_in(["court.conviction", "court.dishonest_debtor"]))
              .join(p, left_on="true_citizen_id", right_on="citizen_id")
              .filter(pl.col("age") >= 18)
              .with_columns(year=pl.col("occurred_on").dt.year()))
    groups = courts.group_by("household_id", "year").agg(day=pl.col("occurred_on").min(),
                                                          sanctioned=pl.col("true_citizen_id").unique())
    expected = (groups.join(p.filter((pl.col("age") >= 18) & pl.col("passport").is_not_null()), on="household_id")
                .filter(~pl.col("citizen_id").is_in(pl.col("sanctioned")))
                .select(pl.col("citizen_id"), pl.col("day"))
                .sort("citizen_id", "day"))
    got = (_truth(clean, "residence").select(pl.col("true_citizen_id").alias("citizen_id"), pl.col("occurred_on").alias("day"))
           .sort("citizen_id", "day"))
    assert got.height > 50
    assert got.equals(expected)


def test_conscription_register(people, clean):
    t = _truth(clean, "conscription").join(people.select("citizen_id", "sex", "age"),
                                           left_on="true_citizen_id", right_on="citizen_id")
    assert t.height > 100
    assert (t["sex"].cast(pl.String) == "M").all()
    bans = t.filter(pl.col("event_type") == "conscription.travel_ban")
    assert bans["age"].min() >= 18 and bans["age"].max() <= 30
    no_show = t.filter(pl.col("event_type") == "conscription.failure_to_appear")
    # a failure to appear follows a summons (an exit ban) of the same man 14 days earlier
    prior = no_show.with_columns(ban_day=pl.col("occurred_on") - pl.duration(days=14)).join(
        bans.select("true_citizen_id", pl.col("occurred_on").alias("ban_day")), on=["true_citizen_id", "ban_day"],
        how="semi")
    assert prior.height == no_show.height > 0


def test_marketplace_yearly_statements_and_plans(clean):
    t = _truth(clean, "marketplace")
    rec = clean.records["marketplace"].with_columns(pl.col("event_type").cast(pl.String))
    orders = rec.filter(pl.col("event_type") == "market.order_completed")
    assert orders.height > 1000 and (orders["amount"] >= 1).all()
    # at most one yearly statement per account and calendar window year
    per = t.filter(pl.col("event_type") == "market.order_completed").group_by("true_citizen_id").len()
    assert per["len"].max() <= 3  # 2 years: an anniversary offset gives 2, at most 3 statements
    assert rec.filter(pl.col("event_type") == "market.bnpl_default").height > 0
    assert rec["account"].str.starts_with("MP").all()


def test_marketplace_error_model(noisy, people):
    t = _truth(noisy, "marketplace")
    recycled = t.filter(pl.col("error_kind").cast(pl.String) == "recycled_phone")
    assert recycled.height > 0 and recycled["erroneous"].all()
    # the record carries the phone of another person: the true person's phone is not on it
    rec = noisy.records["marketplace"].join(recycled.select("record_id", "true_citizen_id"), on="record_id")
    own = rec.join(people.select("citizen_id", "phone"), left_on="true_citizen_id", right_on="citizen_id")
    assert (own["phone"] != own["phone_right"]).all()
    wrong = t.filter(pl.col("error_kind").cast(pl.String) == "wrong_status")
    assert wrong.height > 0 and (wrong["event_type"] == "market.bnpl_default").all()


def test_trajectory_records(people, clean):
    t = _truth(clean, "education").join(people.select("citizen_id", "age"), left_on="true_citizen_id",
                                        right_on="citizen_id")
    traj = t.filter(pl.col("event_type").is_in(["education.term_result", "education.exam_failed",
                                                "education.expelled", "education.olympiad_win",
                                                "education.honours"]))
    assert traj.height > 1000
    assert traj["age"].min() >= 12 and traj["age"].max() <= 22
    for et in ("education.term_result", "education.exam_failed", "education.resit_passed",
               "education.olympiad_win", "education.honours", "education.expelled"):
        assert t.filter(pl.col("event_type") == et).height > 0, et
    grades = clean.records["education"].filter(pl.col("event_type").cast(pl.String) == "education.term_result")["amount"]
    assert grades.min() >= 2.0 and grades.max() <= 5.0
