"""Bad policies fail with errors that name the file, the field and what was expected."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from socialrating.policy.load import PolicyError, builtin_names, builtin_path, json_schema, parse_policy
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
