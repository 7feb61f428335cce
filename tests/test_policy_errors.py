"""Bad policies fail with errors that name the file, the field and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from socialrating.cli import app

from socialrating.policy.load import (PolicyError, builtin_names, builtin_path, json_schema, parse_policy,
                                      read_policy_text)
from socialrating.policy.refused import RefusedCategoryError

DOCS = {n: yaml.safe_load(builtin_path(n).read_text()) for n in builtin_names()}
REQUIRED_RULE = ["id", "event_type", "category", "reference"]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(DOCS)), st.data())
def test_missing_rule_field_names_file_and_path(name, data):
    doc = copy.deepcopy(DOCS[name])
    i = data.draw(st.integers(0, len(doc["rules"]) - 1))
    field = data.draw(st.sampled_from(REQUIRED_RULE))
    del doc["rules"][i][field]
    with pytest.raises(PolicyError) as exc:
        parse_policy(yaml.safe_dump(doc, sort_keys=False), f"{name}-broken.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"{name}-broken.yaml:")
    assert f"rules[{i}].{field}" in msg and "required field is missing" in msg


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(DOCS)), st.data())
def test_wrong_type_names_the_field_and_the_value(name, data):
    doc = copy.deepcopy(DOCS[name])
    i = data.draw(st.integers(0, len(doc["consequences"]) - 1))
    doc["consequences"][i]["kind"] = "punishment"
    with pytest.raises(PolicyError) as exc:
        parse_policy(yaml.safe_dump(doc, sort_keys=False), "p.yaml")
    msg = str(exc.value)
    assert f"consequences[{i}].kind" in msg and "'privilege' or 'restriction'" in msg and "punishment" in msg


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(DOCS)), st.sampled_from(["speech.post", "social_media.like", "religion.attendance",
                                                        "biometric.face_match", "location.ping", "political.rally"]))
def test_refused_event_types_are_refused_with_the_reason(name, etype):
    doc = copy.deepcopy(DOCS[name])
    doc["rules"][0]["event_type"] = etype
    with pytest.raises(PolicyError) as exc:
        parse_policy(yaml.safe_dump(doc, sort_keys=False), "p.yaml")
    assert "rules[0].event_type" in str(exc.value) and "refused" in str(exc.value)


def test_unknown_field_and_bad_reference_and_yaml():
    doc = copy.deepcopy(DOCS["we-platform"])
    doc["rules"][2]["pionts"] = 5
    with pytest.raises(PolicyError, match=r"rules\[2\]\.pionts: unknown field"):
        parse_policy(yaml.safe_dump(doc), "p.yaml")
    doc = copy.deepcopy(DOCS["we-platform"])
    doc["consequences"][0]["reference"] = "nowhere"
    with pytest.raises(PolicyError, match=r"consequences\[0\]\.reference: 'nowhere' is not a key of references"):
        parse_policy(yaml.safe_dump(doc), "p.yaml")
    with pytest.raises(PolicyError, match=r"^p.yaml: line 1, column 9: not valid YAML: while parsing a flow node expected the node content, but found .<stream end>.$"):
        parse_policy("rules: [", "p.yaml")


def test_json_schema_describes_the_policy():
    s = json_schema()
    assert s["title"] == "socialrating policy"
    assert {"name", "version", "rules", "rating", "references"} <= set(s["required"])


def test_refused_error_is_a_value_error():
    assert issubclass(RefusedCategoryError, ValueError)


# ---- every bad policy of issue #11: one exact line naming the file, the field, what was expected ----


TEXT = builtin_path("bonus-only").read_text()
ONE = yaml.safe_load(TEXT)


def _mut(f) -> str:
    d = copy.deepcopy(ONE)
    f(d)
    return yaml.safe_dump(d, sort_keys=False)


def _nested(n: int) -> dict:
    c = {"status": {"lt": 20}}
    for _ in range(n):
        c = {"not": c}
    return c


# the classic "billion laughs": 9 aliases a level, 9 levels: 387,420,489 strings when expanded
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f'{chr(98 + i)}: &{chr(98 + i)} [' + ",".join([f'*{chr(97 + i)}'] * 9) + "]\n" for i in range(8))
P = " 1 problem(s) in the policy - "
BAD = {  # name: (policy text, the exact error after "<name>.yaml:")
    "bomb": (BOMB, " line 6: the document expands to more than 100,000 values (aliases included); a policy is far "
                   "smaller: is this an alias bomb?"),
    "deep3000": (TEXT.replace("when: {status: {gte: 30}}", "when: " + "{not: " * 3000 + "{status: {lt: 20}}" + "}" * 3000),
                 " line 53, column 693: nested more than 100 levels deep; a policy is at most 100 (a condition at most 32)"),
    "deep33": (_mut(lambda d: d["consequences"][0].__setitem__("when", _nested(32))),
               P + "consequences[0].when: condition nested 33 levels deep; at most 32"),
    "chain": ("x0: &x0 [1]\n" + "".join(f"x{i}: &x{i} [*x{i - 1}]\n" for i in range(1, 200)),
              " line 98: nested more than 100 levels deep (aliases included); a policy is at most 100 (a condition at most 32)"),
    "recursive": ("a: &a [1, *a]\n", " line 1: a[1] contains an alias to itself"),
    "feb30": (TEXT.replace("effective_from: 2024-01-01", "effective_from: 2024-02-30"),
              P + "effective_from: no such day: day is out of range for month (got '2024-02-30')"),
    "ts_tag": (TEXT.replace("effective_from: 2024-01-01", "effective_from: !!timestamp 2024-02-30"),
               P + "effective_from: no such day: day is out of range for month (got '2024-02-30')"),
    "month13": (_mut(lambda d: d["rules"][1].__setitem__("valid_from", "2024-13-01")),
                P + "rules[1].valid_from: no such day: month must be in 1..12 (got '2024-13-01')"),
    "year1": (TEXT.replace("effective_from: 2024-01-01", "effective_from: 0001-01-01"),
              P + "effective_from: expected a date from 1900-01-01 to 2199-12-31 (got '0001-01-01')"),
    "dateint": (TEXT.replace("effective_from: 2024-01-01", "effective_from: 20240101"),
                P + "effective_from: expected a date written YYYY-MM-DD, e.g. 2024-07-01 (got 20240101)"),
    "base1e20": (TEXT.replace("base_status: 0", "base_status: 100000000000000000000"),
                 P + "rating.base_status: Input should be less than or equal to 1000000000 (got 100000000000000000000)"),
    "cap1e20": (TEXT.replace("cap: {points: 100,", "cap: {points: 100000000000000000000,"),
                P + "rules[0].cap.points: Input should be less than or equal to 1000000 (got 100000000000000000000)"),
    "scale1e20": (TEXT.replace("{balance: 200, score: 99}", "{balance: 100000000000000000000, score: 99}"),
                  P + "rating.status_scale.breakpoints[1].balance: Input should be less than or equal to 1000000000 "
                      "(got 100000000000000000000)"),
    "compare1e20": (TEXT.replace("{status: {gte: 30}}", "{balance_status: {gte: 100000000000000000000}}"),
                    P + "consequences[0].when.balance_status.gte: Input should be less than or equal to 1000000000 "
                        "(got 100000000000000000000)"),
    "at_least": (TEXT.replace("{status: {gte: 30}}", "{has_active: {event_type: award.state, at_least: 10000000000}}"),
                 P + "consequences[0].when.has_active.at_least: Input should be less than or equal to 1000000 "
                     "(got 10000000000)"),
    "dupkey": (TEXT.replace("  base_level: 0\n", "  base_level: 0\n  base_status: 5\n"),
               " line 37, column 3: duplicate key 'base_status' in rating (first at line 35, column 3); give each key once"),
    "dupflow": (TEXT.replace("points: 10, expires", "points: 10, points: 20, expires"),
                " line 48, column 89: duplicate key 'points' in rules[1] (first at line 48, column 77); give each key once"),
    "points_true": (TEXT.replace("points: 10, expires", "points: true, expires"),
                    P + "rules[1].points: Input should be a valid integer (got True)"),
    "points_float": (TEXT.replace("points: 10, expires", "points: 2.5, expires"),
                     P + "rules[1].points: Input should be a valid integer (got 2.5)"),
    "points_text": (TEXT.replace("points: 10, expires", "points: '10', expires"),
                    P + "rules[1].points: Input should be a valid integer (got '10')"),
    "per_unit_inf": (TEXT.replace("points_per_unit: 2,", "points_per_unit: .inf,"),
                     P + "rules[0].points_per_unit: Input should be a finite number (got inf)"),
    "per_unit_nan": (TEXT.replace("points_per_unit: 2,", "points_per_unit: .nan,"),
                     P + "rules[0].points_per_unit: Input should be a finite number (got nan)"),
    "flag_int": (TEXT.replace("allowed: true", "allowed: 1"), P + "contest.allowed: Input should be a valid boolean (got 1)"),
    "share_nan": (TEXT.replace("overdue_resolves_for_citizen: true",
                               "overdue_resolves_for_citizen: true\n  simulation: {reviewer_accuracy: .nan}"),
                  P + "contest.simulation.reviewer_accuracy: Input should be a finite number (got nan)"),
    "gps": (TEXT.replace("{status: {gte: 30}}", "{has_active: location.gps_ping}"),
            P + "consequences[0].when.has_active: event type 'location.gps_ping' is refused: locating people is out of "
                "scope (no 'radar') (got 'location.gps_ping')"),
    "speech_nested": (TEXT.replace("{status: {gte: 30}}", "{all: [{status: {gte: 30}}, {not: {has_active: "
                                                          "{event_type: speech.post, at_least: 2}}}]}"),
                      P + "consequences[0].when.all[1].not.has_active.event_type: event type 'speech.post' is refused: "
                          "speech is out of scope: socialrating never scores what people say (got 'speech.post')"),
    "closes_refused": (_mut(lambda d: d.__setitem__("closures", [{"id": "c", "event_type": "award.state",
                                                                  "closes": ["social_media.post"], "reference": "nesta-2019"}])),
                       P + "closures[0].closes: event type 'social_media.post' is refused: social-media posts are out of "
                           "scope (no analysis of speech)"),
    "closure_refused": (_mut(lambda d: d.__setitem__("closures", [{"id": "c", "event_type": "religion.attendance",
                                                                   "closes": ["award.state"], "reference": "nesta-2019"}])),
                        P + "closures[0].event_type: event type 'religion.attendance' is refused: religious beliefs are "
                            "out of scope (special category, 152-FZ Art. 10) (got 'religion.attendance')"),
    "trafic": (TEXT.replace("event_type: civic.blood_donation", "event_type: fine.trafic"),
               P + "rules[1].event_type: unknown event type 'fine.trafic', which no source reports (did you mean "
                   "'fine.traffic'?)"),
    "debtr": (TEXT.replace("{status: {gte: 30}}", "{has_active: court.dishonest_debtr}"),
              P + "consequences[0].when: unknown event type 'court.dishonest_debtr', which no source reports (did you "
                  "mean 'court.dishonest_debtor'?)"),
    "nowhere": (TEXT.replace("event_type: civic.blood_donation", "event_type: zzz.qqq"),
                P + "rules[1].event_type: unknown event type 'zzz.qqq', which no source reports (known types begin with "
                    "alimony., award., benefit., bills., civic., conscription., court., education., enforcement., family., "
                    "fine., health., household., loan., market., public_office., public_order., sport., tax., taxi., "
                    "traffic., volunteer.)"),
    "nine_rules": (_mut(lambda d: d["rules"].extend({**d["rules"][1], "id": f"b{i}"} for i in range(8))),
                   P + "rules: more than 8 rules score 'civic.blood_donation'; the engine allows at most 8 per event type"),
    "syntax": (TEXT + "rules: [\n", " line 63, column 1: not valid YAML: while parsing a flow node expected the node "
                                    "content, but found '<stream end>'"),
    "syntax_colon": (TEXT.replace("title: Voluntary", "title: : : Voluntary"),
                     " line 6, column 8: not valid YAML: mapping values are not allowed here"),
    "python_tag": (TEXT.replace("base_status: 0", "base_status: !!python/object:os.system ls"),
                   " line 35, column 16: not valid YAML: could not determine a constructor for the tag "
                   "'tag:yaml.org,2002:python/object:os.system'"),
    "int_tag": (TEXT.replace("base_status: 0", "base_status: !!int abc"),
                " not valid YAML: invalid literal for int() with base 10: 'abc'"),
    "nul": ("name: \x00x\n", " line 1: character U+0000 is not allowed in YAML (is this a binary file?)"),
    "list": ("- a\n- b\n", " expected a mapping at the top level, got list"),
    "empty": ("# nothing\n", " the file is empty; expected a policy (a mapping with name, rules, ...)"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_policy_is_one_exact_line(name):
    text, expected = BAD[name]
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, f"{name}.yaml")
    assert str(exc.value) == f"{name}.yaml:{expected}"


def test_the_alias_bomb_is_small_and_the_limits_are_exact():
    assert len(BOMB) < 4000
    ok = _mut(lambda d: d["consequences"][0].__setitem__("when", _nested(31)))  # 32 levels: the limit
    assert parse_policy(ok, "ok.yaml").consequences[0].when is not None
    shared = TEXT.replace("  nesta-2019:\n", "  nesta-2019: &n\n", 1).replace(
        "  sesame-thresholds:\n    title:", "  sesame-thresholds: *n\n  unused:\n    title:", 1)
    assert parse_policy(shared, "alias.yaml").references["sesame-thresholds"].publisher == "Nesta"  # aliases allowed


def test_unreadable_policy_files(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(TEXT.replace("title: Voluntary", "title: Jos\u00e9").encode("latin-1"))
    (tmp_path / "adir.yaml").mkdir()
    (tmp_path / "big.yaml").write_bytes(b"#" * (1 << 20 + 1))
    cases = {
        "latin1.yaml": "line 6: not UTF-8 text (byte 0xe9); save the policy as UTF-8",
        "adir.yaml": "is a directory; expected a policy YAML file",
        "big.yaml": "2,097,152 bytes; a policy file is at most 1,048,576 bytes",
    }
    for name, expected in cases.items():
        with pytest.raises(PolicyError) as exc:
            read_policy_text(tmp_path / name)
        assert str(exc.value) == f"{tmp_path / name}: {expected}"


def test_api_may_name_its_own_event_types():
    own = TEXT.replace("event_type: civic.blood_donation", "event_type: club.visit")
    assert parse_policy(own, "own.yaml", known_types=False).rules[1].event_type == "club.visit"


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})


@pytest.mark.parametrize("name", ["bomb", "deep3000", "dupkey", "cap1e20", "trafic", "gps", "syntax", "nul"])
def test_cli_prints_one_line_and_exits_2(tmp_path, name):
    text, expected = BAD[name]
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    line = f"error: {f}:{expected}\n"
    for args in (("policy", "check", f), ("policy", "lint", f), ("policy", "show", f),
                 ("run", "--policy", f, "--people", 10, "--out", tmp_path / "run")):
        res = _cli(*args)
        assert (res.exit_code, res.output) == (2, line), args
    assert not (tmp_path / "run").exists()  # nothing written
    assert Path(f).read_text() == text


def test_lint_of_a_policy_a_billion_points_wide_is_quick_and_says_what_it_skipped():
    """Found by the fuzz suite: base_status 1e9 made lint's exact search allocate 2e9 flags."""
    from socialrating.policy.lint import lint

    d = copy.deepcopy(DOCS["we-platform"])
    d["rating"]["base_status"] = 10**9
    p = parse_policy(yaml.safe_dump(d, sort_keys=False), "wide.yaml")
    found = [f for f in lint(p) if f.code == "proportionality-unchecked"]
    restrictions = [f"consequences[{i}] {c.id}" for i, c in enumerate(p.consequences) if c.kind == "restriction"]
    assert [f.target for f in found] == restrictions and restrictions
    assert all(f.severity == "warning" and "100,000" in f.message for f in found)


def test_misspelt_builtin_name_suggests_the_nearest():
    with pytest.raises(PolicyError) as exc:
        read_policy_text("we-platfrom")
    assert str(exc.value) == ("we-platfrom: no such policy file, and not a built-in policy (did you mean 'we-platform'? "
                              "built-in: australia-claimed, bonus-only, china-individual, court-blacklist, digital-profile, "
                              "rongcheng, sesame-style, uk-claimed, we-platform, we-platform-stage3)")
