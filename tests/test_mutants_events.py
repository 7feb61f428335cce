"""engine/events.py pinned word for word (scripts/mutation.py): the checks the events table
passes before anything scores, the dictionary encoding of event types (with and without
nulls, from strings and from an Enum), and the refusal of out-of-scope categories."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.engine.events import EventsError, check_columns, event_type_codes, refuse_categories
from socialrating.policy.refused import RefusedCategoryError

COLUMNS = ["citizen_id", "event_type", "occurred_on", "amount", "source", "record_id"]


def _events(**overrides):
    cols = {"citizen_id": pl.Series([1, 2], dtype=pl.Int64), "event_type": ["fine.traffic", None],
            "occurred_on": [dt.date(2025, 1, 1), dt.date(2025, 2, 1)], "amount": pl.Series([None, 2.5]),
            "source": ["s", "s"], "record_id": ["a", "b"]}
    cols.update(overrides)
    return pl.DataFrame({k: v for k, v in cols.items() if v is not None})


def test_check_columns_accepts_every_integer_id_and_numeric_amount():
    check_columns(_events())
    check_columns(_events(citizen_id=pl.Series([1, 2], dtype=pl.Int32), amount=pl.Series([1, 2], dtype=pl.Int64)))


def test_check_columns_names_what_is_missing_and_what_was_expected():
    with pytest.raises(EventsError) as e:
        check_columns(_events(source=None, record_id=None))
    assert str(e.value) == f"events table is missing column(s) ['source', 'record_id']; expected {COLUMNS}"


# plain lists here, made into Series in the test: nothing of polars runs while pytest collects
# (scripts/mutation.py's mutmut collects, then forks, and polars' threads do not survive a fork)
@pytest.mark.parametrize("col, values, message", [
    ("citizen_id", ["1", "2"], "events.citizen_id: expected integer, got String"),
    ("citizen_id", [1.0, 2.0], "events.citizen_id: expected integer, got Float64"),
    ("occurred_on", ["2025-01-01", "2025-02-01"], "events.occurred_on: expected date, got String"),
    ("occurred_on", [dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)],
     "events.occurred_on: expected date, got Datetime(time_unit='us', time_zone=None)"),
    ("amount", ["1", "2"], "events.amount: expected a number (or null), got String"),
])
def test_check_columns_refuses_wrong_types(col, values, message):
    with pytest.raises(EventsError) as e:
        check_columns(_events(**{col: pl.Series(values)}))
    assert str(e.value) == message


def test_event_type_codes_from_strings_with_a_null():
    codes, cats = event_type_codes(pl.DataFrame({"event_type": ["b.x", None, "a.y", "b.x"]}))
    assert cats == ["", "a.y", "b.x"]  # the null reads as "" (sorted first), never dropped
    assert codes.tolist() == [2, 0, 1, 2] and codes.dtype == np.int32


def test_event_type_codes_from_an_enum_keep_its_order_and_put_nulls_last():
    et = pl.Series(["b.x", None, "a.y"], dtype=pl.Enum(["b.x", "a.y", "c.z"]))
    codes, cats = event_type_codes(pl.DataFrame({"event_type": et}))
    assert cats == ["b.x", "a.y", "c.z", ""]
    assert codes.tolist() == [0, 3, 1] and codes.dtype == np.int32
    codes, cats = event_type_codes(pl.DataFrame({"event_type": et.drop_nulls()}))
    assert (codes.tolist(), cats) == ([0, 1], ["b.x", "a.y", "c.z"])


def test_refuse_categories_lists_each_refused_type_with_its_count_and_reason():
    cats = ["", "fine.traffic", "social_media.post", "speech.protest"]
    refuse_categories(["", "fine.traffic"], np.array([0, 1, 1]))
    with pytest.raises(RefusedCategoryError) as e:
        refuse_categories(cats, np.array([1, 2, 2, 3, 0, 2]))
    assert str(e.value) == (
        "the events name categories socialrating refuses to score (see README, 'Out of scope'):\n"
        "  - 'social_media.post' (3 events): social-media posts are out of scope (no analysis of speech)\n"
        "  - 'speech.protest' (1 events): speech is out of scope: socialrating never scores what people say")


def test_refuse_categories_counts_a_type_with_no_rows():
    with pytest.raises(RefusedCategoryError, match=r"'religion\.x' \(0 events\)"):
        refuse_categories(["a.b", "religion.x"], np.array([0, 0]))


def test_refusal_reason_reads_every_part_of_a_name_in_any_case_and_spelling():
    from socialrating.policy.refused import refusal_reason

    speech = "speech is out of scope: socialrating never scores what people say"
    assert refusal_reason("Speech.Rally") == speech
    assert refusal_reason("citizen.speech") == speech          # any part, not only the first
    assert refusal_reason("Social-Media.likes") == "social-media posts are out of scope (no analysis of speech)"
    assert refusal_reason("cctv") == "CCTV analysis is out of scope (biometrics and surveillance)"
    assert refusal_reason("fine.traffic") is None
    assert refusal_reason("speeches.x") is None and refusal_reason("media.social") is None  # whole parts only
