"""policy/conditions.py: the cases mutation testing showed no other test pins.

Exact wording (errors a policy author reads, explanations a citizen reads), the tagged
union's choice of kind for every shape of input, explanations of a row other than the
first, band names passed down through `not`, and a model registered as a holder at run
time. Each case is worked by hand; scripts/mutation.py lists the mutants it kills.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from socialrating.policy import conditions as C

ONE_OF = ("a condition is a mapping with exactly one key, one of: status, level, balance_status, "
          "balance_level, band, has_active, all, any, not")
NAMES = ["A", "B", "C"]


def parse(data) -> C.ConditionKind:
    return TypeAdapter(C.Condition).validate_python(data)


def refused(data) -> dict:
    with pytest.raises(ValidationError) as exc:
        parse(data)
    errors = exc.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("data", [
    {"status": {"lt": 3}, "level": {"gt": 1}},  # two keys, the first a kind
    {"nope": 1, "status": {"lt": 3}},            # two keys, the second a kind
    {},                                          # no key
    {"nope": 1},                                 # one key, not a kind
    "status", 3, None, ["status"],               # not a mapping
])
def test_anything_but_one_known_key_is_the_one_condition_error(data):
    err = refused(data)
    assert (err["type"], err["msg"], err["loc"]) == ("condition", ONE_OF, ())


def test_a_parsed_condition_is_accepted_as_itself_but_not_an_unregistered_subclass():
    cond = C.StatusCond(status=C.Compare(lt=3))
    assert parse(cond) is cond
    nested = C.NotCond(**{"not": C.BandCond(band=C.BandSet(**{"in": ["A"]}))})
    assert parse({"all": [nested]}).parts() == (nested,)

    class Imposter(C.StatusCond):
        pass

    assert refused(Imposter(status=C.Compare(lt=3)))["type"] == "condition"


def test_event_type_errors_word_for_word():
    with pytest.raises(ValueError) as exc:
        C.check_event_type("Fine.Traffic")
    assert str(exc.value) == "expected a dotted lower-case event type such as 'fine.traffic'"
    err = refused({"has_active": "traffic"})
    assert err["msg"] == "Value error, expected a dotted lower-case event type such as 'fine.traffic'"
    assert err["loc"] == ("has_active", "has_active")
    assert C.check_event_type("fine.traffic") == "fine.traffic"


def test_not_a_condition_names_the_value():
    with pytest.raises(TypeError) as exc:
        C.describe({"status": {"lt": 3}})
    assert str(exc.value) == "not a condition: {'status': {'lt': 3}}"


def test_band_words_one_and_several():
    assert C.describe(parse({"band": {"in": ["C"]}})) == "band C"
    assert C.describe(parse({"band": {"in": ["C", "D"]}})) == "band in C, D"
    assert C.describe(parse({"band": {"in": ["A", "B", "C"]}})) == "band in A, B, C"


def test_uses_band_only_when_a_band_is_read():
    assert C.uses_band(parse({"any": [{"status": {"lt": 3}}, {"not": {"band": {"in": ["A"]}}}]})) is True
    assert C.uses_band(parse({"any": [{"status": {"lt": 3}}, {"balance_level": {"gt": 0}}]})) is False


def test_balance_bounds_of_raw_balances_only():
    assert parse({"balance_status": {"lte": -100, "gt": -500}}).balance_bounds() == [
        ("balance_status", -100), ("balance_status", -500)]
    assert parse({"balance_level": {"eq": 7}}).balance_bounds() == [("balance_level", 7)]
    assert parse({"status": {"lt": 20}}).balance_bounds() == []


# Two citizens who differ in everything: an explanation without a row is the first one's.
COLS = {"status": np.array([12, 60]), "level": np.array([3, 80]), "band": np.array([2, 0]),
        "flag:fine.traffic": np.array([1, 3])}


@pytest.mark.parametrize("data, first, second", [
    ({"status": {"gte": 10, "lt": 25}}, "status 12 < 25 and 12 >= 10 (holds)", "status 60 < 25 and 60 >= 10 (fails)"),
    ({"band": {"in": ["A", "C"]}}, "band C in {A, C} (holds)", "band A in {A, C} (holds)"),
    ({"band": {"in": ["B"]}}, "band C in {B} (fails)", "band A in {B} (fails)"),
    ({"has_active": "fine.traffic"}, "1 'fine.traffic' entry in force >= 1 (holds)",
     "3 'fine.traffic' entries in force >= 1 (holds)"),
    ({"not": {"band": {"in": ["A"]}}}, "not [band C in {A} (fails)] (holds)", "not [band A in {A} (holds)] (fails)"),
    ({"any": [{"level": {"gt": 50}}, {"band": {"in": ["A"]}}]},
     "any of [level 3 > 50 (fails); band C in {A} (fails)] (fails)",
     "any of [level 80 > 50 (holds); band A in {A} (holds)] (holds)"),
])
def test_with_numbers_of_the_first_row_by_default_and_of_any_row(data, first, second):
    cond = parse(data)
    assert cond.with_numbers(COLS, NAMES) == first == cond.with_numbers(COLS, NAMES, 0)
    assert cond.with_numbers(COLS, NAMES, 1) == second


def test_not_passes_the_band_names_down():
    cond = parse({"not": {"band": {"in": ["C"]}}})
    assert cond.holds(COLS, NAMES).tolist() == [False, True]
    assert cond.holds_one({"band": "C"}) is False and cond.holds_one({"band": "A"}) is True


def test_the_base_kind_says_which_concern_a_new_kind_lacks():
    class Bare(C.ConditionKind):
        tag: ClassVar[str] = "bare"

    bare = Bare()
    for call, words in ((lambda: bare.describe(), "cannot describe itself"),
                        (lambda: bare.holds(COLS, NAMES), "cannot evaluate columns"),
                        (lambda: bare.holds_one({}), "cannot evaluate one citizen"),
                        (lambda: bare.with_numbers(COLS, NAMES), "cannot show its numbers")):
        with pytest.raises(NotImplementedError) as exc:
            call()
        assert str(exc.value) == f"Bare {words}"
    assert (bare.parts(), bare.reads(), bare.event_counts(), bare.balance_bounds(), bare.bands_named()) == (
        (), frozenset(), {}, [], [])


class Holder(BaseModel):
    when: C.Condition


def test_a_holder_registered_at_run_time_parses_a_kind_registered_later():
    class StatusIs(C.ConditionKind):
        tag: ClassVar[str] = "status_is"
        status_is: int

        def holds(self, cols, band_names=None):
            return cols["status"] == self.status_is

    C.register_holders(Holder)
    try:
        C.register_kind(StatusIs)
        try:
            got = Holder.model_validate({"when": {"status_is": 12}}).when
            assert type(got) is StatusIs and got.holds(COLS).tolist() == [True, False]
        finally:
            C.unregister_kind("status_is")
        with pytest.raises(ValidationError) as exc:
            Holder.model_validate({"when": {"status_is": 12}})
        assert exc.value.errors()[0]["msg"] == ONE_OF
    finally:
        C._HOLDERS.remove(Holder)
        C._rebuild()
