"""Each condition kind has one home (policy/conditions.py) that knows every concern.

1. Every registered kind parses its own example from YAML, describes it, evaluates it over
   columns and per citizen (the two agree row by row), shows its numbers, and states the
   facts the linter and recourse use (which match what it really reads).
2. No module but policy/conditions.py names a kind's class: the engine, the reference,
   recourse and the linter ask the kinds instead of testing which class a node is.
3. A kind defined only in this module (`status_between`) is registered at run time and
   then parses inside a whole policy, is described in the consequences table, scored by
   the engine and by the per-event reference alike, linted and explained, without any
   other file knowing of it; unregistered, it is gone again.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from case_runner import events_frame
from socialrating.engine.evaluate import derive, evaluate
from socialrating.engine.recourse import CitizenRecord, with_numbers
from socialrating.engine.reference import reference_score
from socialrating.engine.score import score
from socialrating.policy import conditions as C
from socialrating.policy.lint import lint
from socialrating.policy.load import PolicyError, json_schema, parse_policy

SRC = Path(__file__).resolve().parent.parent / "src" / "socialrating"
BUILTIN_TAGS = ["status", "level", "balance_status", "balance_level", "band", "has_active", "all", "any", "not"]
ROWS = 400


def parse(data: Any) -> C.ConditionKind:
    return TypeAdapter(C.Condition).validate_python(data)


class Recording(Mapping):
    """Columns that remember which of them a condition read."""

    def __init__(self, cols: dict[str, np.ndarray]):
        self.cols, self.read = cols, set()

    def __getitem__(self, key: str) -> np.ndarray:
        self.read.add(key)
        return self.cols[key]

    def __iter__(self):
        return iter(self.cols)

    def __len__(self) -> int:
        return len(self.cols)


def random_columns(cond: C.ConditionKind, names: list[str], seed: int) -> dict[str, np.ndarray]:
    """Every column the tree says it reads, with values spread over every threshold."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for key in set().union(*(n.reads() for n in C.walk(cond))):
        if key in ("status", "level"):
            cols[key] = rng.integers(0, 100, ROWS)
        elif key == "band":
            cols[key] = rng.integers(0, len(names), ROWS).astype(np.int8)
        elif key.startswith(C.flag_column("")):
            cols[key] = rng.integers(0, 4, ROWS)
        else:
            cols[key] = rng.integers(-300, 300, ROWS)
    return cols


def one_citizen(cols: dict[str, np.ndarray], names: list[str], i: int) -> dict[str, Any]:
    return {k: (names[int(v[i])] if k == "band" else int(v[i])) for k, v in cols.items()}


# ---------------------------------------------------------------- 1. every kind, every concern


def test_the_builtin_kinds_are_registered_in_the_documented_order():
    assert list(C.KINDS) == BUILTIN_TAGS


@pytest.mark.parametrize("tag", list(C.KINDS))
def test_every_kind_implements_every_concern(tag):
    kind = C.KINDS[tag]
    assert kind.tag == tag and set(kind.example) == {tag}
    # parse: from YAML text, to this kind, and back through its own dump
    cond = parse(yaml.safe_load(yaml.safe_dump(kind.example)))
    assert type(cond) is kind
    assert parse(cond.model_dump(by_alias=True, exclude_none=True)) == cond
    # describe
    words = C.describe(cond)
    assert isinstance(words, str) and words and "{" not in words
    # evaluate over columns and per citizen: they agree on every row, both outcomes occur
    names = ["A", "B", "C", "D"]
    cols = random_columns(cond, names, seed=len(tag))
    rec = Recording(cols)
    got = cond.holds(rec, names)
    assert got.dtype == bool and got.shape == (ROWS,)
    assert got.any() and not got.all()
    assert got.tolist() == [cond.holds_one(one_citizen(cols, names, i)) for i in range(ROWS)]
    # explain: the numbers, marked as the evaluation says
    for i in range(5):
        text = cond.with_numbers(cols, names, i)
        assert text.endswith("(holds)" if got[i] else "(fails)")
    # lint facts agree with what the evaluation really read
    nodes = list(C.walk(cond))
    reads = set().union(*(n.reads() for n in nodes))
    assert rec.read == reads
    counted = {t for n in nodes for t in n.event_counts()}
    assert {C.flag_column(t) for t in counted} == {k for k in reads if k.startswith(C.flag_column(""))}
    assert {col for n in nodes for col, _ in n.balance_bounds()} <= reads & {"balance_status", "balance_level"}
    assert bool([b for n in nodes for b in n.bands_named()]) == ("band" in reads)
    assert C.reads_score(cond) == bool(reads & C.SCORE_COLUMNS)


@pytest.mark.parametrize("example, words", [
    ({"all": [{"status": {"lt": 50}}, {"any": [{"band": {"in": ["A"]}}, {"not": {"level": {"eq": 3}}}]}]},
     "status below 50 and (band A or not level equal to 3)"),
    ({"has_active": {"event_type": "fine.traffic", "at_least": 2}}, "at least 2 active 'fine.traffic' entries"),
    ({"balance_level": {"gt": -5, "lte": 9}}, "level balance at most 9 and level balance above -5"),
])
def test_descriptions_by_hand(example, words):
    assert C.describe(parse(example)) == words


def test_with_numbers_by_hand():
    cond = parse({"all": [{"status": {"lt": 25}}, {"has_active": "fine.traffic"}, {"band": {"in": ["C"]}}]})
    cols = {"status": np.array([12]), "flag:fine.traffic": np.array([1]), "band": np.array([1])}
    assert with_numbers(cond, cols, ["A", "B", "C"]) == (
        "all of [status 12 < 25 (holds); 1 'fine.traffic' entry in force >= 1 (holds); "
        "band B in {C} (fails)] (fails)")


def test_no_module_but_the_home_names_a_kind():
    classes = [k.__name__ for k in C.KINDS.values()] + ["_Bounded", "_Joined"]
    pattern = re.compile(r"\b(" + "|".join(classes) + r")\b")
    offenders = [str(f.relative_to(SRC)) for f in SRC.rglob("*.py")
                 if f.name != "conditions.py" and pattern.search(f.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_tag_is_registered_once():
    class Imposter(C.StatusCond):
        pass

    with pytest.raises(ValueError, match="'status' is already registered"):
        C.register_kind(Imposter)
    assert C.KINDS["status"] is C.StatusCond


# ---------------------------------------------------------------- 3. a kind from outside


class Span(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    from_: int = Field(alias="from", strict=True, ge=0, le=99)
    to: int = Field(strict=True, ge=0, le=99)


class StatusBetween(C.ConditionKind):
    tag: ClassVar[str] = "status_between"
    example: ClassVar[dict] = {"status_between": {"from": 30, "to": 45}}
    status_between: Span

    def _span(self) -> tuple[int, int]:
        return self.status_between.from_, self.status_between.to

    def describe(self) -> str:
        return "status from {} to {}".format(*self._span())

    def holds(self, cols, band_names=None) -> np.ndarray:
        lo, hi = self._span()
        return (cols["status"] >= lo) & (cols["status"] <= hi)

    def holds_one(self, values) -> bool:
        lo, hi = self._span()
        return lo <= values["status"] <= hi

    def with_numbers(self, cols, band_names, i=0) -> str:
        lo, hi = self._span()
        return f"status {lo} <= {int(cols['status'][i])} <= {hi} ({self.mark(cols, band_names, i)})"

    def reads(self) -> frozenset[str]:
        return frozenset({"status"})


TOY = """
name: toy
version: "1"
title: Toy
description: a policy keyed on a condition kind defined in a test module
effective_from: 2020-01-01
references: {law: {title: Test law, publisher: Test parliament}}
rating:
  status_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
  level_scale: {breakpoints: [{balance: -100, score: 0}, {balance: 100, score: 99}]}
rules:
  - {id: fine, event_type: fine.traffic, category: law, points: -10, expires_after_months: 24, reference: law}
consequences:
  - {id: middling, kind: restriction, context: credit, description: x, human_review: true, reference: law,
     when: {status_between: {from: 30, to: 45}}}
  - {id: nested, kind: privilege, context: leisure, description: y, reference: law,
     when: {not: {any: [{status_between: {from: 0, to: 35}}, {has_active: {event_type: fine.traffic, at_least: 4}}]}}}
"""
AS_OF = dt.date(2025, 1, 1)


@pytest.fixture
def toy_kind():
    C.register_kind(StatusBetween)
    try:
        yield StatusBetween
    finally:
        C.unregister_kind("status_between")


def test_a_new_kind_implements_every_concern(toy_kind):
    test_every_kind_implements_every_concern("status_between")


def _fines() -> list[tuple]:
    """Citizen c has c - 1 fines, a month apart from 1 March 2024."""
    return [(c, "fine.traffic", dt.date(2024, 3 + k, 1), None) for c in range(1, 6) for k in range(c - 1)]


def test_a_new_kind_parses_scores_and_explains_without_other_files(toy_kind):
    policy = parse_policy(TOY, "toy.yaml")
    assert type(policy.consequences[0].when) is StatusBetween
    # status = (balance + 100) * 99 // 200: 0..4 fines give 49, 44, 39, 34, 29
    res = score(events_frame(_fines()), policy, AS_OF, np.arange(1, 6))
    ratings = res.ratings.sort("citizen_id")
    assert ratings["status"].to_list() == [49, 44, 39, 34, 29]
    cons = res.consequences.sort(["consequence_id", "citizen_id"])
    got = {(r["consequence_id"], r["citizen_id"]): r for r in cons.iter_rows(named=True)}
    # middling: status in 30..45 -> 1 to 3 fines; nested: neither status <= 35 nor 4 fines -> 0 to 2 fines
    assert sorted(got) == [("middling", 2), ("middling", 3), ("middling", 4), ("nested", 1), ("nested", 2),
                           ("nested", 3)]
    assert got[("middling", 2)]["because"] == "status from 30 to 45"
    assert got[("nested", 1)]["because"] == "not (status from 0 to 35 or at least 4 active 'fine.traffic' entries)"
    # since: citizen 4 entered 30..45 with the first fine (status 44), citizen 3 likewise
    assert got[("middling", 4)]["since"] == dt.date(2024, 3, 1) == got[("middling", 3)]["since"]
    # the per-event reference agrees
    _, ref_ratings, ref_cons = reference_score(_fines(), policy, AS_OF, list(range(1, 6)))
    assert {(k, c) for c, ks in ref_cons.items() for k in ks} == set(got)
    # explained with its own numbers
    ctx = derive(np.array([-20]), np.array([-20]), {"fine.traffic": np.array([2])}, policy)
    assert evaluate(policy.consequences[0].when, ctx).tolist() == [True]
    assert with_numbers(policy.consequences[1].when, ctx, None) == (
        "not [any of [status 0 <= 39 <= 35 (fails); 2 'fine.traffic' entries in force >= 4 (fails)] (fails)] (holds)")
    led = res.ledger.filter(res.ledger["citizen_id"] == 4)
    assert CitizenRecord(policy, AS_OF, led).holds(policy.consequences[0].when, ctx).tolist() == [True]


def test_a_new_kind_is_linted_through_its_facts(toy_kind):
    policy = parse_policy(TOY, "toy.yaml")
    found = {(f.code, f.target) for f in lint(policy, today=AS_OF)}
    # it reads the status, so every rule feeds it (traffic fines are unrelated to credit) ...
    assert ("unrelated-context", "consequences[0] middling") in found
    # ... and the exhaustive search evaluates it: one -10 fine (minor: <= 10 points) takes 49 to 44
    assert ("disproportionate-single-event", "consequences[0] middling") in found


def test_a_new_kind_errors_name_the_field(toy_kind):
    bad = TOY.replace("{status_between: {from: 30, to: 45}}", "{status_between: {from: 30}}")
    with pytest.raises(PolicyError) as exc:
        parse_policy(bad, "toy.yaml")
    assert str(exc.value) == ("toy.yaml: 1 problem(s) in the policy - "
                              "consequences[0].when.status_between.to: required field is missing")
    unknown = TOY.replace("{status_between: {from: 30, to: 45}}", "{status_within: 3}")
    with pytest.raises(PolicyError, match="one of: status, level, balance_status, balance_level, band, "
                                          "has_active, all, any, not, status_between"):
        parse_policy(unknown, "toy.yaml")
    schema = json_schema()
    assert {"$ref": "#/$defs/StatusBetween"} in schema["$defs"]["Consequence"]["properties"]["when"]["oneOf"]


def test_unregistered_the_new_kind_is_gone():
    before = json_schema()
    C.register_kind(StatusBetween)
    C.unregister_kind("status_between")
    assert json_schema() == before and "StatusBetween" not in str(before)
    with pytest.raises(PolicyError) as exc:
        parse_policy(TOY, "toy.yaml")
    one_of = "a condition is a mapping with exactly one key, one of: " + ", ".join(BUILTIN_TAGS)
    assert str(exc.value) == (f"toy.yaml: 2 problem(s) in the policy - consequences[0].when: {one_of}; "
                              f"consequences[1].when.not.any[0]: {one_of}")
    assert list(C.KINDS) == BUILTIN_TAGS


def test_evaluate_refuses_what_is_not_a_condition():
    from socialrating.engine.evaluate import evaluate

    for bad in ({"status": {"lt": 30}}, "status < 30", None):
        with pytest.raises(TypeError) as e:
            evaluate(bad, {"status": np.array([10], np.int8)})
        assert str(e.value) == f"not a condition: {bad!r}"
