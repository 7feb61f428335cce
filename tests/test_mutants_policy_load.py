"""policy/load.py: the rest of what a policy author or an analyst reads, exactly.

The one-line errors of tests/test_policy_errors.py, plus: more than five problems at
once, a text too long, a byte-order mark, YAML merge keys, the first- and top-level
wording, the hash of a policy recomputed from its canonical JSON, the JSON Schema's
header; and the YAML limits at their exact boundaries (100,000 values, 100 levels,
aliases as keys and values), the cuts of long text (60, 200, 300 characters) and the
path of an empty condition. Written to kill the mutants mutmut made of this module (scripts/mutation.py).
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


# ---- the YAML limits at their exact boundaries (scripts/mutation.py, issue #17) ----

P1 = "p.yaml: 1 problem(s) in the policy - "
LIST = "p.yaml: expected a mapping at the top level, got list"
DEEP = ("p.yaml: line {}: nested more than 100 levels deep (aliases included); a policy is at most 100 "
        "(a condition at most 32)")
BUDGET = ("p.yaml: line {}: the document expands to more than 100,000 values (aliases included); a policy is far "
          "smaller: is this an alias bomb?")


def _zeros(k: int) -> str:
    return "[" + ", ".join(["0"] * k) + "]"


def _sized(m: int) -> str:
    """A list (line 1) of 0 and a mapping (line 2) of 99 keys sharing one list of 998 zeros
    plus `z`, a list of m zeros: the mapping expands to 1 + 99 * (1 + 999) + (1 + 1 + m)
    = 99,003 + m values, the whole document to 99,005 + m."""
    pairs = [f"k0: &a {_zeros(998)}"] + [f"k{i}: *a" for i in range(1, 99)] + [f"z: {_zeros(m)}"]
    return "- 0\n- {" + ", ".join(pairs) + "}\n"


def _values(x) -> int:
    """Independent count of the values a loaded document holds (each alias counted again)."""
    if isinstance(x, dict):
        return 1 + sum(1 + _values(v) for v in x.values())
    if isinstance(x, list):
        return 1 + sum(_values(v) for v in x)
    return 1


def test_the_node_budget_is_exactly_100000_values():
    assert _values(yaml.safe_load(_sized(995))) == 100_000
    assert _err(_sized(995)) == LIST  # exactly the budget: read
    assert _err(_sized(996)) == BUDGET.format(1)  # one more, in the top-level list
    assert _err(_sized(998)) == BUDGET.format(2)  # the mapping alone is 100,001


def test_a_list_of_exactly_100000_values():
    doc = lambda k: f"[&a {_zeros(999)}, " + ", ".join(["*a"] * 98) + ", " + ", ".join(["0"] * k) + "]"
    assert _values(yaml.safe_load(doc(999))) == 100_000  # 1 + 1,000 + 98 * 1,000 + 999
    assert _err(doc(999)) == LIST
    assert _err(doc(1000)) == BUDGET.format(1)


def test_nesting_of_exactly_100_levels_is_read():
    # a value at depth 100 (99 lists around it), a mapping at depth 99 (its key and value at 100),
    # and 99 mappings one in another: read; one level more is refused while composing
    assert _err("[" * 99 + "1" + "]" * 99) == LIST
    assert _err("[" * 98 + "{a: 1}" + "]" * 98) == LIST
    assert _err("[" + "{a: " * 98 + "1" + "}" * 98 + "]") == LIST
    assert _err("[" * 100 + "1" + "]" * 100) == \
        "p.yaml: line 1, column 101: nested more than 100 levels deep; a policy is at most 100 (a condition at most 32)"


def test_aliases_count_their_whole_height_as_keys_and_values():
    # x is 99 high at depth 2 (its innermost value at depth 100): read; as a key or a value
    # one level further down (depth 3), it would reach depth 101
    x = "- &x " + "[" * 98 + "1" + "]" * 98 + "\n"
    assert _err(x + "- [2]\n") == LIST
    assert _err(x + "- {? *x : 1}\n") == DEEP.format(1)
    assert _err(x + "- [*x]\n") == DEEP.format(1)
    # the same with mappings: y is 98 mappings, 99 high
    y = "- &y " + "{a: " * 98 + "1" + "}" * 98 + "\n"
    assert _err(y + "- [2]\n") == LIST
    assert _err(y + "- [*y]\n") == DEEP.format(1)


def test_a_graph_deeper_than_the_limit_is_refused_even_if_composed(monkeypatch):
    """The node check bounds its own walk: given a graph the composer did not bound (here
    PyYAML's own composer), it refuses at depth 101 instead of recursing on."""
    from socialrating.policy import load

    monkeypatch.setattr(load._PolicyLoader, "compose_node", yaml.composer.Composer.compose_node)
    assert _err("\n" + "[" * 150 + "]" * 150) == DEEP.format(2)


def test_an_alias_to_the_whole_document_or_to_a_mapping_used_as_its_own_key():
    assert _err("&a {*a : 1}\n") == "p.yaml: line 1: the document contains an alias to itself"
    assert _err("a: &a {*a : 1}\n") == "p.yaml: line 1: a contains an alias to itself"


def test_a_list_as_a_key_and_two_merge_keys():
    assert _err("? [a, b]\n: 1\n") == \
        "p.yaml: line 1, column 3: not valid YAML: while constructing a mapping found unhashable key"
    # `<<` may be given twice in one mapping (not a duplicate key); the later merge wins
    two = TEXT.replace("  nesta-2019:\n", "  nesta-2019: &n\n", 1).replace(
        "  sesame-thresholds:\n", "  sesame-thresholds: &s\n", 1).replace(
        "  press-stages:\n", "  merged:\n    <<: *n\n    <<: *s\n  press-stages:\n", 1)
    p = parse_policy(two, "m.yaml")
    assert p.references["merged"] == p.references["sesame-thresholds"]
    assert p.references["merged"].publisher == "Shanghai library and Suzhou city sites"


def test_a_long_duplicate_key_is_cut_to_60_characters():
    k = "k" * 70
    assert _err(f"{k}: 1\n{k}: 2\n") == (
        f"p.yaml: line 2, column 1: duplicate key '{'k' * 57}...' in the top level (first at line 1, column 1); "
        "give each key once")


def test_a_bad_character_is_named_with_its_line():
    said = "p.yaml: line {}: character U+000{} is not allowed in YAML (is this a binary file?)"
    assert _err("\nname: \x00x\n") == said.format(2, 0)
    assert _err("a: 1\n\nb: \x01\n") == said.format(3, 1)


def test_yaml_errors_are_cut_to_200_characters():
    head = "p.yaml: not valid YAML: invalid literal for int() with base 10: '"
    assert _err("a: !!int " + "x" * 158 + "\n") == head + "x" * 158 + "'"  # 200 characters: whole
    assert _err("a: !!int " + "x" * 159 + "\n") == head + "x" * 156 + "..."  # 201: cut to 197 and ...


def test_yaml_errors_without_a_position(monkeypatch):
    """PyYAML's errors carry a position today; one without (a marked error with no mark, or a
    plain YAMLError) still gives one line. Simulated where it would be raised."""
    from socialrating.policy import load

    def raising(exc):
        def get_single_node(self):
            raise exc
        return get_single_node

    monkeypatch.setattr(load._PolicyLoader, "get_single_node",
                        raising(yaml.MarkedYAMLError(context="while reading\n a value", problem="found   nothing")))
    assert _err("a: 1\n") == "p.yaml: not valid YAML: while reading a value found nothing"
    monkeypatch.setattr(load._PolicyLoader, "get_single_node", raising(yaml.YAMLError("the  stream\nbroke")))
    assert _err("a: 1\n") == "p.yaml: not valid YAML: the stream broke"


def test_validation_messages_are_cut_to_300_characters():
    def cap_band(name):
        d = copy.deepcopy(ONE)
        d["rating"]["bands"] = {"cutoffs": [{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": None}],
                                "caps": [{"when": {"status": {"lt": 5}}, "band": name, "reference": "nesta-2019"}],
                                "reference": "nesta-2019"}
        return yaml.safe_dump(d, sort_keys=False, width=10_000)

    # "cap names unknown band '" (24) + name + "'; bands are ['A', 'B']" (23): 300 whole, 301 cut to 297 + ...
    head = P1 + "rating.bands: cap names unknown band '"
    assert _err(cap_band("b" * 253)) == head + "b" * 253 + "'; bands are ['A', 'B']"
    assert _err(cap_band("b" * 254)) == head + "b" * 254 + "'; bands are ['A', ..."

    def reference(name):
        d = copy.deepcopy(ONE)
        d["rules"][1]["reference"] = name
        return yaml.safe_dump(d, sort_keys=False, width=10_000)

    # a finding of the whole policy has no path: "rules[1].reference: '" (21) + name + tail (103)
    tail = "' is not a key of references (known: ['assumption', 'nesta-2019', 'press-stages', 'sesame-thresholds'])"
    assert len(tail) == 103
    assert _err(reference("r" * 176)) == P1 + "rules[1].reference: '" + "r" * 176 + tail
    assert _err(reference("r" * 177)) == P1 + "rules[1].reference: '" + "r" * 177 + tail[:99] + "..."


def test_an_empty_condition_is_named_where_it_is_empty():
    # `has_active:` left empty is at fault itself: not `when.has_active.has_active.str`
    assert _err(TEXT.replace("when: {status: {gte: 30}}", "when: {has_active: }")) == (
        "p.yaml: 2 problem(s) in the policy - consequences[0].when.has_active: Input should be a valid string "
        "(got None); consequences[0].when.has_active: Input should be a valid dictionary or instance of "
        "HasActiveSpec (got None)")
    assert _err(TEXT.replace("when: {status: {gte: 30}}", "when: {all: [{status: {gte: 30}}, {not: }]}")) == (
        P1 + "consequences[0].when.all[1].not: a condition is a mapping with exactly one key, one of: status, "
        "level, balance_status, balance_level, band, has_active, all, any, not (got None)")
    assert _err(TEXT.replace("when: {status: {gte: 30}}", "when: {status: }")) == (
        P1 + "consequences[0].when.status: Input should be a valid dictionary or instance of Compare (got None)")


def test_a_number_as_a_key_is_named_as_a_key_not_an_index():
    # YAML reads the key 7 as a number: the path goes through the mapping by that key (`.7`,
    # not the list index `[7]`), and pydantic's part for the key itself follows
    assert _err(TEXT.replace("references:\n", "references:\n  7: {title: seven}\n", 1)) == \
        P1 + "references.7.[key]: Input should be a valid string (got 7)"
