"""policy/load.py: the rest of what a policy author or an analyst reads, exactly.

The one-line errors of tests/test_policy_errors.py, plus: more than five problems at
once, a text too long, a byte-order mark, YAML merge keys, the first- and top-level
wording, the hash of a policy recomputed from its canonical JSON, the JSON Schema's
header. Written to kill the mutants mutmut made of this module (scripts/mutation.py).
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import yaml

from socialrating.policy.load import (
    MAX_POLICY_BYTES, PolicyError, builtin_names, builtin_path, decode_policy_bytes, json_schema, load_policy,
    parse_policy, policy_hash, read_policy_text,
)

TEXT = builtin_path("bonus-only").read_text()
ONE = yaml.safe_load(TEXT)


def _err(text: str, origin: str = "p.yaml", **kw) -> str:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, origin, **kw)
    return str(exc.value)


def test_builtin_names_and_paths():
    names = builtin_names()
    assert names == sorted(names) and "bonus-only" in names and "we-platform" in names
    assert all(not n.endswith(".yaml") for n in names)
    assert builtin_path("bonus-only").name == "bonus-only.yaml" and builtin_path("bonus-only").is_file()
    text, origin = read_policy_text("bonus-only")
    assert text == TEXT and origin == str(builtin_path("bonus-only"))
    assert load_policy("bonus-only") == parse_policy(TEXT)


def test_a_file_by_path(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())  # a byte-order mark is allowed
    text, origin = read_policy_text(f)
    assert text == TEXT and origin == str(f)
    assert load_policy(f).name == "bonus-only"
    exactly = tmp_path / "max.yaml"
    exactly.write_bytes(b"#" * MAX_POLICY_BYTES)  # at the limit: read, then empty
    assert read_policy_text(exactly)[0] == "#" * MAX_POLICY_BYTES


def test_no_such_file_without_a_near_name(tmp_path):
    with pytest.raises(PolicyError) as exc:
        read_policy_text(tmp_path / "zzzzzzzzzz.yaml")
    assert str(exc.value) == (f"{tmp_path / 'zzzzzzzzzz.yaml'}: no such policy file, and not a built-in policy "
                              f"(built-in: {', '.join(builtin_names())})")


def test_not_utf8_names_the_line_and_byte():
    with pytest.raises(PolicyError) as exc:
        decode_policy_bytes(b"name: a\nb: c\n\xff\n", "x.yaml")
    assert str(exc.value) == "x.yaml: line 3: not UTF-8 text (byte 0xff); save the policy as UTF-8"
    with pytest.raises(PolicyError) as exc:
        decode_policy_bytes(b"\x80", "x.yaml")
    assert str(exc.value) == "x.yaml: line 1: not UTF-8 text (byte 0x80); save the policy as UTF-8"
    assert decode_policy_bytes("é".encode(), "x.yaml") == "é"


def test_text_too_long():
    assert _err("#" * (MAX_POLICY_BYTES + 1)) == \
        "p.yaml: 1,048,577 characters; a policy file is at most 1,048,576 bytes"
    assert _err("#" * MAX_POLICY_BYTES) == \
        "p.yaml: the file is empty; expected a policy (a mapping with name, rules, ...)"


def test_more_than_five_problems_are_counted():
    d = copy.deepcopy(ONE)
    for r in d["rules"]:
        del r["category"]
    d["rules"][0]["colour"] = "red"
    d["contest"]["allowed"] = "yes"
    msg = _err(yaml.safe_dump(d, sort_keys=False))
    assert msg == ("p.yaml: 7 problem(s) in the policy - rules[0].category: required field is missing; "
                   "rules[0].colour: unknown field (check the spelling; see `socialrating policy schema`) (got 'red'); "
                   "rules[1].category: required field is missing; rules[2].category: required field is missing; "
                   "rules[3].category: required field is missing; and 2 more")
    d = copy.deepcopy(ONE)
    for r in d["rules"]:
        del r["category"]
    assert _err(yaml.safe_dump(d, sort_keys=False)).endswith("rules[4].category: required field is missing")


def test_literal_and_top_level_value_errors():
    d = copy.deepcopy(ONE)
    d["schema_version"] = 2
    assert _err(yaml.safe_dump(d, sort_keys=False)) == \
        "p.yaml: 1 problem(s) in the policy - schema_version: expected 1 (got 2)"
    d = copy.deepcopy(ONE)
    d["effective_to"] = "2023-01-01"
    assert _err(yaml.safe_dump(d, sort_keys=False)) == \
        "p.yaml: 1 problem(s) in the policy - effective_to must be after effective_from"
    d = copy.deepcopy(ONE)
    del d["rating"]
    assert _err(yaml.safe_dump(d, sort_keys=False)) == \
        "p.yaml: 1 problem(s) in the policy - rating: required field is missing"


def test_long_values_are_cut_to_one_short_line():
    d = copy.deepcopy(ONE)
    d["rules"][1]["points"] = "x" * 100
    assert _err(yaml.safe_dump(d, sort_keys=False)) == (
        "p.yaml: 1 problem(s) in the policy - rules[1].points: Input should be a valid integer (got '"
        + "x" * 56 + "...)")
    d = copy.deepcopy(ONE)
    d["rules"][1]["event_type"] = "zz." + "q" * 100
    assert _err(yaml.safe_dump(d, sort_keys=False)) == (
        "p.yaml: 1 problem(s) in the policy - rules[1].event_type: unknown event type '"
        + "zz." + "q" * 74 + "...', which no source reports (known types begin with alimony., award., benefit., "
        "bills., civic., conscription., court., education., enforcement., family., fine., health., household., "
        "loan., market., public_office., public_order., sport., tax., taxi., traffic., volunteer.)")


def test_duplicate_keys_at_the_top_and_merge_keys():
    assert _err("name: a\nversion: '1'\nname: b\n") == \
        "p.yaml: line 3, column 1: duplicate key 'name' in the top level (first at line 1, column 1); give each key once"
    # a merge key (<<) may repeat and share a mapping; the expanded document validates
    merged = TEXT.replace("  nesta-2019:\n", "  nesta-2019: &n\n", 1).replace(
        "  press-stages:\n    title:", "  press-stages:\n    <<: *n\n    title:", 1)
    p = parse_policy(merged, "m.yaml")
    assert p.references["press-stages"].publisher == "news reports on the We platform (secondary)"
    assert _err("a: &a {b: *a}\n") == "p.yaml: line 1: a.b contains an alias to itself"
    assert _err("&a [*a]\n") == "p.yaml: line 1: [0] contains an alias to itself"


def test_unknown_event_types_in_closures_and_band_caps():
    d = copy.deepcopy(ONE)
    d["closures"] = [{"id": "c", "event_type": "award.stat", "closes": ["award.state", "civic.heroic_ac"],
                      "reference": "nesta-2019"}]
    d["rating"]["bands"] = {"cutoffs": [{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": None}],
                            "caps": [{"when": {"has_active": "sport.gto_badg"}, "band": "B",
                                      "reference": "nesta-2019"}], "reference": "nesta-2019"}
    assert _err(yaml.safe_dump(d, sort_keys=False)) == (
        "p.yaml: 3 problem(s) in the policy - closures[0].event_type: unknown event type 'award.stat', which no "
        "source reports (did you mean 'award.state'?); closures[0].closes[1]: unknown event type 'civic.heroic_ac', "
        "which no source reports (did you mean 'civic.heroic_act'?); rating.bands.caps[0].when: unknown event type "
        "'sport.gto_badg', which no source reports (did you mean 'sport.gto_badge'?)")
    assert parse_policy(yaml.safe_dump(d, sort_keys=False), known_types=False).closures[0].event_type == "award.stat"


def test_default_origin():
    with pytest.raises(PolicyError) as exc:
        parse_policy("- 1\n")
    assert str(exc.value) == "<string>: expected a mapping at the top level, got list"


def test_policy_hash_is_the_sha256_of_the_canonical_json():
    p = load_policy("bonus-only")
    canon = json.dumps(p.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    assert policy_hash(p) == hashlib.sha256(canon.encode()).hexdigest()
    # the same rules written differently give the same hash; a changed number another one
    reordered = yaml.safe_dump(ONE, sort_keys=True)
    assert policy_hash(parse_policy(reordered)) == policy_hash(p)
    d = copy.deepcopy(ONE)
    d["rules"][1]["points"] = 11
    assert policy_hash(parse_policy(yaml.safe_dump(d))) != policy_hash(p)


def test_json_schema_header():
    s = json_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["title"] == "socialrating policy"
    assert "rules" in s["properties"] and "rating" in s["required"]


def test_several_type_errors_are_all_listed():
    d = copy.deepcopy(ONE)
    d["version"] = 7
    d["title"] = 5
    assert _err(yaml.safe_dump(d, sort_keys=False)) == (
        "p.yaml: 2 problem(s) in the policy - version: Input should be a valid string (got 7); "
        "title: Input should be a valid string (got 5)")


def test_not_utf8_after_a_leading_newline():
    with pytest.raises(PolicyError) as exc:
        decode_policy_bytes(b"\n\xff", "x.yaml")
    assert str(exc.value) == "x.yaml: line 2: not UTF-8 text (byte 0xff); save the policy as UTF-8"


def test_unknown_event_type_in_a_consequence_of_a_policy_with_bands():
    d = copy.deepcopy(ONE)
    d["rating"]["bands"] = {"cutoffs": [{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": None}],
                            "reference": "nesta-2019"}
    d["consequences"][0]["when"] = {"has_active": "civic.heroic_ac"}
    assert _err(yaml.safe_dump(d, sort_keys=False)) == (
        "p.yaml: 1 problem(s) in the policy - consequences[0].when: unknown event type 'civic.heroic_ac', which no "
        "source reports (did you mean 'civic.heroic_act'?)")


def test_hash_and_schema_use_the_names_a_policy_file_uses():
    # rongcheng's conditions say `band: {in: [...]}`: the field is in_ in Python, `in` in the file
    p = load_policy("rongcheng")
    canon = json.dumps(p.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    assert '"in":' in canon and '"in_"' not in canon
    assert policy_hash(p) == hashlib.sha256(canon.encode()).hexdigest()
    defs = json_schema()["$defs"]
    assert list(defs["BandSet"]["properties"]) == ["in"] and list(defs["NotCond"]["properties"]) == ["not"]


def test_an_unreadable_file_says_why(tmp_path, monkeypatch):
    """Root reads any file, so the operating system's refusal is simulated where it happens."""
    path = tmp_path / "p.yaml"
    path.write_text(TEXT)

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(PolicyError) as exc:
        read_policy_text(path)
    assert str(exc.value) == f"{path}: cannot be read: Permission denied"

    def refuse_without_words(self):
        raise OSError("the disk went away")

    monkeypatch.setattr(type(path), "read_bytes", refuse_without_words)
    with pytest.raises(PolicyError) as exc:
        read_policy_text(path)
    assert str(exc.value) == f"{path}: cannot be read: the disk went away"
