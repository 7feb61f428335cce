"""policy/model.py: every cross-check a policy author can trip, word for word, and the
derived facts the engine reads (expiry months, event types, look-ups).

Each case changes one thing in the built-in bonus-only policy and expects the exact one
line `parse_policy` prints. Written to kill the mutants mutmut made of the model's
validators and helpers (scripts/mutation.py).
"""

from __future__ import annotations

import copy

import pytest
import yaml

from socialrating.policy.load import PolicyError, builtin_path, load_policy, parse_policy

ONE = yaml.safe_load(builtin_path("bonus-only").read_text())
P = "p.yaml: 1 problem(s) in the policy - "


def _err(change) -> str:
    d = copy.deepcopy(ONE)
    change(d)
    with pytest.raises(PolicyError) as exc:
        parse_policy(yaml.safe_dump(d, sort_keys=False), "p.yaml")
    return str(exc.value)


def _ok(change):
    d = copy.deepcopy(ONE)
    change(d)
    return parse_policy(yaml.safe_dump(d, sort_keys=False), "p.yaml")


def rule(d, i=1, **kw):
    d["rules"][i].update(kw)
    for k, v in list(d["rules"][i].items()):
        if v is None:
            del d["rules"][i][k]


BANDS = {"cutoffs": [{"band": "A", "min_balance": 100}, {"band": "B", "min_balance": 0},
                     {"band": "C", "min_balance": None}], "reference": "nesta-2019"}


@pytest.mark.parametrize("change, expected", [
    (lambda d: rule(d, points=None), "rules[1]: give exactly one of 'points' (fixed) or 'points_per_unit'"),
    (lambda d: rule(d, points_per_unit=2, unit="x"),
     "rules[1]: give exactly one of 'points' (fixed) or 'points_per_unit'"),
    (lambda d: rule(d, 0, unit=None), "rules[0]: a per-unit rule needs 'unit' (what the event's amount counts)"),
    (lambda d: rule(d, 0, unit=""), "rules[0]: a per-unit rule needs 'unit' (what the event's amount counts)"),
    (lambda d: rule(d, points=0), "rules[1]: points must not be zero"),
    (lambda d: rule(d, 0, points_per_unit=0), "rules[0]: points must not be zero"),
    (lambda d: rule(d, 0, cap={"points": -100}), "rules[0]: cap.points must have the same sign as the rule's points"),
    (lambda d: rule(d, points=-5, cap={"points": 5}),
     "rules[1]: cap.points must have the same sign as the rule's points"),
    (lambda d: rule(d, cap={"points": 0}),  # a zero cap on a positive rule; a negative rule may have one
     "rules[1]: cap.points must have the same sign as the rule's points"),
    (lambda d: rule(d, valid_from="2024-05-01", valid_until="2024-05-01"), "rules[1]: valid_until must be after valid_from"),
    (lambda d: rule(d, valid_from="2024-05-02", valid_until="2024-05-01"), "rules[1]: valid_until must be after valid_from"),
    (lambda d: d["rating"]["status_scale"]["breakpoints"].insert(1, {"balance": 200, "score": 99}),
     "rating.status_scale.breakpoints: breakpoint balances must increase strictly"),
])
def test_rule_and_scale_checks(change, expected):
    assert _err(change) == P + expected


def test_scale_scores_must_not_decrease():
    msg = _err(lambda d: d["rating"]["status_scale"]["breakpoints"].__setitem__(
        slice(0, 2), [{"balance": 0, "score": 50}, {"balance": 100, "score": 49}, {"balance": 200, "score": 99}]))
    assert msg == P + "rating.status_scale.breakpoints: breakpoint scores must not decrease"
    # equal scores are allowed; balances that fall are refused even where scores rise
    _ok(lambda d: d["rating"]["status_scale"]["breakpoints"].insert(1, {"balance": 100, "score": 0}))
    msg = _err(lambda d: d["rating"]["status_scale"]["breakpoints"].insert(1, {"balance": 300, "score": 50}))
    assert msg == P + "rating.status_scale.breakpoints: breakpoint balances must increase strictly"


def test_valid_dates_one_day_apart_and_rules_per_event_type_at_the_limit():
    p = _ok(lambda d: rule(d, valid_from="2024-05-01", valid_until="2024-05-02"))
    assert str(p.rules[1].valid_from) == "2024-05-01"
    p = _ok(lambda d: d["rules"].extend({**d["rules"][1], "id": f"b{i}"} for i in range(7)))  # 8 rules: allowed
    assert len(p.rules) == 12


def _bands(d, **kw):
    d["rating"]["bands"] = {**copy.deepcopy(BANDS), **kw}


@pytest.mark.parametrize("change, expected", [
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": -5}]),
     "rating.bands: every band but the last needs min_balance; the last has none"),
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": None}, {"band": "B", "min_balance": None}]),
     "rating.bands: every band but the last needs min_balance; the last has none"),
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": 0},
                                  {"band": "C", "min_balance": None}]),
     "rating.bands: band cutoffs must be listed best first, min_balance decreasing"),
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": 100},
                                  {"band": "C", "min_balance": None}]),
     "rating.bands: band cutoffs must be listed best first, min_balance decreasing"),
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": 100}, {"band": "B", "min_balance": 50},
                                  {"band": "C", "min_balance": 60}, {"band": "D", "min_balance": None}]),
     "rating.bands: band cutoffs must be listed best first, min_balance decreasing"),
    (lambda d: _bands(d, cutoffs=[{"band": "A", "min_balance": 0}, {"band": "A", "min_balance": None}]),
     "rating.bands: band names must be unique"),
    (lambda d: _bands(d, caps=[{"when": {"status": {"lt": 5}}, "band": "Z", "reference": "nesta-2019"}]),
     "rating.bands: cap names unknown band 'Z'; bands are ['A', 'B', 'C']"),
    (lambda d: _bands(d, caps=[{"when": {"band": {"in": ["A"]}}, "band": "B", "reference": "nesta-2019"}]),
     "rating.bands: a band cap's condition cannot itself depend on the band"),
    (lambda d: _bands(d, reference="nowhere"), "rating.bands.reference: 'nowhere' is not in references"),
    (lambda d: _bands(d, caps=[{"when": {"status": {"lt": 5}}, "band": "C", "reference": "nesta-2019"},
                               {"when": {"status": {"lt": 1}}, "band": "C", "reference": "nowhere"}]),
     "rating.bands.caps[1].reference: 'nowhere' is not in references"),
])
def test_band_checks(change, expected):
    assert _err(change) == P + expected


def test_cross_checks():
    cons = lambda d, i=0, **kw: d["consequences"][i].update(kw)  # noqa: E731
    assert _err(lambda d: rule(d, id="volunteering")) == P + "rules[1].id: 'volunteering' is used twice"
    assert _err(lambda d: cons(d, 2, id="heroic-act")) == P + "consequences[2].id: 'heroic-act' is used twice"
    assert _err(lambda d: d.__setitem__("closures", [{"id": "gto-badge", "event_type": "award.state",
                                                      "closes": ["award.state"], "reference": "nesta-2019"}])) \
        == P + "closures[0].id: 'gto-badge' is used twice"
    known = "['assumption', 'nesta-2019', 'press-stages', 'sesame-thresholds']"
    assert _err(lambda d: rule(d, 3, reference="nowhere")) == \
        P + f"rules[3].reference: 'nowhere' is not a key of references (known: {known})"
    assert _err(lambda d: cons(d, 1, reference="x")) == \
        P + f"consequences[1].reference: 'x' is not a key of references (known: {known})"
    assert _err(lambda d: cons(d, 1, when={"band": {"in": ["A"]}})) == \
        P + "consequences[1].when: uses 'band' but the policy defines no bands"
    assert _err(lambda d: (_bands(d), cons(d, 1, when={"band": {"in": ["A", "E"]}}))) == \
        P + "consequences[1].when: unknown band 'E' (bands: ['A', 'B', 'C'])"
    assert _err(lambda d: d.__setitem__("effective_to", "2024-01-01")) == \
        P + "effective_to must be after effective_from"
    assert _err(lambda d: d.__setitem__("effective_to", "2023-12-31")) == \
        P + "effective_to must be after effective_from"
    p = _ok(lambda d: d.__setitem__("effective_to", "2024-01-02"))
    assert str(p.effective_to) == "2024-01-02"
    p = _ok(lambda d: (_bands(d), cons(d, 1, when={"band": {"in": ["A", "C"]}})))
    assert p.rating.bands.names == ["A", "B", "C"]


def test_policy_helpers_on_a_built_in():
    p = load_policy("bonus-only")
    assert p.scored_event_types == ["award.state", "civic.blood_donation", "civic.heroic_act", "sport.gto_badge",
                                    "volunteer.hours"]
    assert p.rule("heroic-act").points == 50
    assert p.consequence("deposit-free-bikes").when is not None and p.consequence("deposit-free-bikes").id == \
        "deposit-free-bikes"
    with pytest.raises(KeyError) as e:
        p.rule("nope")
    assert e.value.args == ("nope",)
    with pytest.raises(KeyError) as e:
        p.consequence("no-such")
    assert e.value.args == ("no-such",)
    assert p.flag_event_types == []
    assert [r.sign for r in p.rules] == [1, 1, 1, 1, 1]


def test_expiry_months_bounded_for_negative_rules_only():
    def neg(d, own, bound):
        rule(d, 1, points=-5, expires_after_months=own)
        rule(d, 2, expires_after_months=own)  # positive: never bounded
        d["rating"]["negative_expiry_bound_months"] = bound
    for own, bound, want_neg, want_pos in [(24, 84, 24, 24), (100, 84, 84, 100), (84, 84, 84, 84),
                                          (None, 84, 84, None), (None, None, None, None), (30, None, 30, 30)]:
        p = _ok(lambda d: neg(d, own, bound))
        assert (p.expiry_months(p.rules[1]), p.expiry_months(p.rules[2])) == (want_neg, want_pos), (own, bound)
        assert p.rules[1].sign == -1 and p.rules[2].sign == 1
    p = _ok(lambda d: rule(d, 0, points_per_unit=-0.5, cap=None))
    assert p.rules[0].sign == -1 and p.expiry_months(p.rules[0]) == 24


def test_flag_event_types_from_consequences_and_band_caps():
    def change(d):
        _bands(d, caps=[{"when": {"has_active": "award.state"}, "band": "C", "reference": "nesta-2019"}])
        d["consequences"][0]["when"] = {"any": [{"has_active": "civic.heroic_act"},
                                                {"has_active": {"event_type": "award.state", "at_least": 2}}]}
        d["consequences"][1]["when"] = {"not": {"has_active": "sport.gto_badge"}}
    assert _ok(change).flag_event_types == ["award.state", "civic.heroic_act", "sport.gto_badge"]
    only_caps = _ok(lambda d: _bands(d, caps=[{"when": {"has_active": "civic.heroic_act"}, "band": "B",
                                               "reference": "nesta-2019"}]))
    assert only_caps.flag_event_types == ["civic.heroic_act"]


def test_iso_date_wording_and_its_first_and_last_day():
    import datetime as dt

    from socialrating.policy.model import FIRST_DAY, LAST_DAY, _iso_date

    wording = "expected a date written YYYY-MM-DD, e.g. 2024-07-01"
    for bad in ("2024-7-1", "1 July 2024", 20240701, dt.datetime(2024, 7, 1)):
        with pytest.raises(ValueError) as exc:
            _iso_date(bad)
        assert str(exc.value) == wording, bad
    assert (FIRST_DAY, LAST_DAY) == (dt.date(1900, 1, 1), dt.date(2199, 12, 31))
    assert _iso_date("1900-01-01") == FIRST_DAY and _iso_date("2199-12-31") == LAST_DAY
    assert _iso_date(dt.date(1900, 1, 1)) == FIRST_DAY and _iso_date(LAST_DAY) == LAST_DAY
    for outside in ("1899-12-31", "2200-01-01"):
        with pytest.raises(ValueError) as exc:
            _iso_date(outside)
        assert str(exc.value) == "expected a date from 1900-01-01 to 2199-12-31"
