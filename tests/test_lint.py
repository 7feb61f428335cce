"""Tests for the policy linter: each check fires exactly, a clean policy has no errors."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialrating.policy.lint import (
    Finding,
    _Analyser,
    format_findings,
    has_errors,
    lint,
    scale_scores,
)
from socialrating.policy.load import builtin_names, load_policy, parse_policy
from socialrating.policy.model import Rule

TODAY = dt.date(2025, 6, 1)

# A clean policy: finance rules only feed a credit restriction keyed on the overdue type,
# with human review, expiry, contest path, sourced references.
CLEAN = """
name: clean
version: "1"
title: Clean test policy
description: finance only
effective_from: 2024-01-01
references:
  law: {title: Test law, publisher: Test parliament, url: "https://example.org/law"}
rating:
  base_status: 0
  base_level: 0
  status_scale: {breakpoints: [{balance: -200, score: 0}, {balance: 200, score: 99}]}
  level_scale: {breakpoints: [{balance: -200, score: 0}, {balance: 200, score: 99}]}
rules:
  - {id: loan-overdue, event_type: loan.overdue_90, category: finance, points: -40,
     expires_after_months: 84, reference: law}
  - {id: loan-repaid, event_type: loan.repaid, category: finance, points: 5, reference: law}
consequences:
  - {id: no-new-credit, kind: restriction, context: credit, description: lenders decline,
     when: {has_active: {event_type: loan.overdue_90, at_least: 2}}, human_review: true,
     reference: law}
contest: {allowed: true, review_deadline_days: 30, suspend_while_contested: true}
"""


def base() -> dict:
    return yaml.safe_load(CLEAN)


def build(d: dict):
    return parse_policy(yaml.safe_dump(d, sort_keys=False), known_types=False)  # invented types: the API


def found(findings, code=None):
    return [(f.severity, f.code, f.target) for f in findings if code is None or f.code == code]


def test_clean_policy_has_no_findings():
    fs = lint(parse_policy(CLEAN, known_types=False), today=TODAY)
    assert fs == []
    assert not has_errors(fs)
    assert format_findings(fs) == "no findings"


def test_special_category_health():
    d = base()
    d["rules"].append({"id": "checkup", "event_type": "health.checkup", "category": "civic",
                       "points": 3, "reference": "law"})
    d["rules"].append({"id": "gym", "event_type": "sport.gym_visit", "category": "health",
                       "points": 1, "reference": "law"})
    fs = lint(build(d), today=TODAY)
    assert found(fs, "special-category") == [
        ("error", "special-category", "rules[2] checkup"),
        ("error", "special-category", "rules[3] gym"),
    ]
    f = [f for f in fs if f.code == "special-category"][0]
    assert "152-FZ Art. 10" in f.anchor and "GDPR Art. 9" in f.anchor
    assert "health" in f.message


def test_special_category_refused_type_slipped_past_loader():
    # built without validation, as a buggy caller might
    p = parse_policy(CLEAN, known_types=False)
    bad = Rule.model_construct(**{**p.rules[0].model_dump(), "id": "views",
                                  "event_type": "political.rally"})
    p2 = p.model_copy(update={"rules": [*p.rules, bad]})
    assert ("error", "special-category", "rules[2] views") in found(lint(p2, today=TODAY))


def test_criminal_record_warning():
    d = base()
    d["rules"].append({"id": "conv", "event_type": "court.criminal_conviction", "category": "law",
                       "points": -50, "expires_after_months": 60, "reference": "law"})
    d["rules"][-1]["event_type"] = "court.conviction"
    fs = lint(build(d), today=TODAY)
    assert found(fs, "criminal-record") == [("warning", "criminal-record", "rules[2] conv")]


def test_unrelated_context_score_keyed():
    d = base()
    d["rules"].append({"id": "volunteer", "event_type": "civic.volunteer_hours", "category": "civic",
                       "points_per_unit": 1, "unit": "hours", "cap": {"points": 20},
                       "reference": "law"})
    d["consequences"].append({"id": "no-flights", "kind": "restriction", "context": "travel",
                              "description": "no flights", "when": {"status": {"lt": 20}},
                              "human_review": True, "reference": "law"})
    fs = lint(build(d), today=TODAY)
    assert found(fs, "unrelated-context") == [
        ("error", "unrelated-context", "consequences[1] no-flights")]
    msg = [f for f in fs if f.code == "unrelated-context"][0].message
    assert "every rule feeds" in msg and "volunteer (civic)" in msg and "loan-overdue (finance)" in msg


def test_related_context_via_court_ordered_type_is_fine():
    d = base()
    d["rules"].append({"id": "exit-ban", "event_type": "bailiff.exit_ban", "category": "law",
                       "points": -30, "expires_after_months": 6, "reference": "law"})
    d["consequences"].append({"id": "no-travel-abroad", "kind": "restriction", "context": "travel",
                              "description": "exit ban", "when": {"has_active": "bailiff.exit_ban"},
                              "human_review": True, "reference": "law"})
    d["rules"][-1]["points"] = -5  # minor in points, but it is the court's own measure
    fs = lint(build(d), today=TODAY)
    assert found(fs, "unrelated-context") == []
    assert found(fs, "disproportionate-single-event") == []
    # a traffic fine keying a travel ban is unrelated (law, not a court-ordered measure)
    d["rules"].append({"id": "speeding", "event_type": "fine.traffic", "category": "law",
                       "points": -5, "expires_after_months": 12, "reference": "law"})
    d["consequences"][1]["when"] = {"has_active": {"event_type": "fine.traffic", "at_least": 3}}
    fs = lint(build(d), today=TODAY)
    assert found(fs, "unrelated-context") == [
        ("error", "unrelated-context", "consequences[1] no-travel-abroad")]


def test_unrelated_privilege_is_info():
    d = base()
    d["consequences"].append({"id": "cheap-gym", "kind": "privilege", "context": "leisure",
                              "description": "gym discount", "when": {"status": {"gte": 60}},
                              "reference": "law"})
    fs = lint(build(d), today=TODAY)
    assert found(fs, "unrelated-privilege") == [
        ("info", "unrelated-privilege", "consequences[1] cheap-gym")]


def test_disproportionate_single_minor_event():
    # scale span 400 -> minor means |points| <= 20; status at base is 49; lt 48 needs -5
    d = base()
    d["rules"].append({"id": "late-bill", "event_type": "loan.late_payment", "category": "finance",
                       "points": -8, "expires_after_months": 24, "reference": "law"})
    d["consequences"][0]["when"] = {"status": {"lt": 48}}
    fs = lint(build(d), today=TODAY)
    assert found(fs, "disproportionate-single-event") == [
        ("error", "disproportionate-single-event", "consequences[0] no-new-credit")]
    msg = [f for f in fs if f.code == "disproportionate-single-event"][0].message
    # the least severe triggering event is named with its exact figures
    assert "late-bill (-8): status balance 0 -> -8, status 49 -> 47" in msg
    assert "<= 20" in msg


def test_single_major_event_is_not_flagged():
    d = base()
    d["consequences"][0]["when"] = {"status": {"lt": 45}}  # needs -17 ... only -40 events
    d["rules"][0]["points"] = -40
    fs = lint(build(d), today=TODAY)
    assert found(fs, "disproportionate-single-event") == []


def test_restriction_by_default():
    d = base()
    d["consequences"][0]["when"] = {"status": {"lt": 60}}  # base status is 49
    fs = lint(build(d), today=TODAY)
    assert found(fs, "restriction-by-default") == [
        ("error", "restriction-by-default", "consequences[0] no-new-credit")]


def test_disproportionate_fines_counts_exactly():
    d = base()
    d["rules"].append({"id": "speeding", "event_type": "fine.traffic", "category": "mobility",
                       "points": -5, "expires_after_months": 12, "reference": "law"})
    d["consequences"].append({"id": "no-flights", "kind": "restriction", "context": "travel",
                              "description": "no flights",
                              "when": {"all": [{"has_active": {"event_type": "fine.traffic", "at_least": 3}},
                                               {"balance_status": {"lte": -20}}]},
                              "human_review": True, "reference": "law"})
    fs = lint(build(d), today=TODAY)
    got = [f for f in fs if f.code == "disproportionate-fines"]
    assert [(f.severity, f.target) for f in got] == [("error", "consequences[1] no-flights")]
    # three fines give -15, not enough; four give -20
    assert "4 fine(s) are enough" in got[0].message
    assert "status balance 0 -> -20" in got[0].message


def test_min_events_per_unit_and_band_caps():
    d = base()
    d["rating"]["bands"] = {"cutoffs": [{"band": "A", "min_balance": 0}, {"band": "B", "min_balance": -100},
                                        {"band": "C"}],
                            "caps": [{"when": {"has_active": "court.drunk_driving"}, "band": "C",
                                      "reference": "law"}],
                            "reference": "law"}
    d["rules"].append({"id": "drunk", "event_type": "court.drunk_driving", "category": "law",
                       "points": -50, "expires_after_months": 36, "reference": "law"})
    d["rules"].append({"id": "arrears", "event_type": "housing.arrears_days", "category": "housing",
                       "points_per_unit": -1, "unit": "days", "cap": {"points": -30},
                       "expires_after_months": 36, "reference": "law"})
    d["consequences"].append({"id": "c-band", "kind": "restriction", "context": "services",
                              "description": "x", "when": {"band": {"in": ["C"]}},
                              "human_review": True, "reference": "law"})
    p = build(d)
    an = _Analyser(p)
    when = p.consequences[1].when
    # the drunk-driving cap reaches band C in one event
    n, w = an.min_events(when, [(2, p.rules[2])])
    assert n == 1 and [(r.id, v) for r, v in w] == [("drunk", -50)]
    # arrears (max -30 per event) need 4 events to pass -100
    n, w = an.min_events(when, [(3, p.rules[3])])
    assert n == 4 and sum(v for _, v in w) < -100 and all(-30 <= v <= -1 for _, v in w)
    # positive rules only never reach it
    assert an.min_events(when, [(1, p.rules[1])]) == (None, None)


def test_scale_matches_model_formula():
    p = parse_policy(CLEAN, known_types=False)
    import numpy as np
    s = scale_scores(p.rating.status_scale, np.array([-500, -200, -1, 0, 1, 199, 200, 900]))
    assert s.tolist() == [0, 0, (199 * 99) // 400, (200 * 99) // 400, (201 * 99) // 400, (399 * 99) // 400, 99, 99]


def test_expiry_checks():
    d = base()
    d["rating"]["negative_expiry_bound_months"] = None  # the rules' own expiries, unbounded
    d["rules"][0].pop("expires_after_months")
    d["rules"].append({"id": "old", "event_type": "loan.default", "category": "finance",
                       "points": -60, "expires_after_months": 120, "reference": "law"})
    d["rules"].append({"id": "bk", "event_type": "court.bankruptcy", "category": "finance",
                       "points": -90, "expires_after_months": 120, "reference": "law"})
    d["rules"].append({"id": "bk2", "event_type": "court.bankruptcy_repeat", "category": "finance",
                       "points": -90, "expires_after_months": 121, "reference": "law"})
    fs = lint(build(d), today=TODAY)
    assert found(fs, "no-expiry") == [("error", "no-expiry", "rules[0] loan-overdue")]
    assert found(fs, "expiry-too-long") == [
        ("error", "expiry-too-long", "rules[2] old"),
        ("error", "expiry-too-long", "rules[4] bk2"),
    ]
    # positive rules without expiry are fine
    assert not [f for f in fs if f.target == "rules[1] loan-repaid"]


def test_expiry_judged_on_the_bounded_expiry():
    d = base()  # default bound: 84 months
    d["rules"][0].pop("expires_after_months")
    d["rules"].append({"id": "old", "event_type": "loan.default", "category": "finance",
                       "points": -60, "expires_after_months": 120, "reference": "law"})
    fs = lint(build(d), today=TODAY)
    assert found(fs, "no-expiry") == [] and found(fs, "expiry-too-long") == []
    assert found(fs, "expiry-bounded") == [
        ("info", "expiry-bounded", "rules[0] loan-overdue"),
        ("info", "expiry-bounded", "rules[2] old"),
    ]
    assert "84 months" in [f for f in fs if f.code == "expiry-bounded"][1].message
    # a bound above the limit does not excuse a long rule
    d["rating"]["negative_expiry_bound_months"] = 120
    assert found(lint(build(d), today=TODAY), "expiry-too-long") == [
        ("error", "expiry-too-long", "rules[0] loan-overdue"),
        ("error", "expiry-too-long", "rules[2] old"),
    ]


def test_contest_checks():
    d = base()
    d["contest"] = {"allowed": False}
    assert found(lint(build(d), today=TODAY)) == [("error", "no-contest", "contest")]
    d["contest"] = {"allowed": True, "review_deadline_days": 45, "overdue_resolves_for_citizen": False}
    assert found(lint(build(d), today=TODAY)) == [
        ("warning", "slow-review", "contest"),
        ("warning", "overdue-against-citizen", "contest"),
        ("info", "no-suspension-while-contested", "contest"),
    ]


def test_automated_decision():
    d = base()
    d["consequences"][0]["human_review"] = False
    fs = lint(build(d), today=TODAY)
    assert found(fs) == [("error", "automated-decision", "consequences[0] no-new-credit")]
    assert "152-FZ Art. 16" in fs[0].anchor


def test_household_spillover():
    d = base()
    d["consequences"][0]["applies_to_household"] = True
    fs = lint(build(d), today=TODAY)
    assert found(fs) == [("error", "household-spillover", "consequences[0] no-new-credit")]


def test_unknown_event_type_unsourced_and_expired():
    d = base()
    d["references"]["blog"] = {"title": "Someone said so"}
    d["consequences"][0]["when"] = {"has_active": "loan.overdue_900"}
    d["consequences"][0]["reference"] = "blog"
    d["effective_to"] = "2025-01-01"
    fs = lint(build(d), today=TODAY)
    assert found(fs) == [
        ("warning", "unsourced-restriction", "consequences[0] no-new-credit"),
        ("warning", "unknown-event-type", "consequences[0] no-new-credit"),
        ("warning", "policy-expired", "policy"),
    ]
    assert not has_errors(fs)


def test_format_findings_and_errors_first():
    fs = [Finding("info", "x", "policy", "m1", "a"), Finding("error", "y", "contest", "m2", "b")]
    text = format_findings(fs)
    assert text.index("ERROR") < text.index("INFO")
    assert text.endswith("1 error(s), 0 warning(s), 1 info")
    assert has_errors(fs)


@pytest.mark.parametrize("name", builtin_names() or [pytest.param("none", marks=pytest.mark.skip("no built-in policies yet"))])
def test_builtin_policies_lint_without_crashing(name):
    fs = lint(load_policy(name))
    assert all(isinstance(f, Finding) for f in fs)
    assert isinstance(format_findings(fs), str)


_conds = st.sampled_from([
    {"status": {"lt": 20}},
    {"level": {"gte": 70}},
    {"has_active": "loan.overdue_90"},
    {"not": {"has_active": "loan.repaid"}},
    {"any": [{"balance_status": {"lte": -100}}, {"has_active": "loan.overdue_90"}]},
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conseqs=st.lists(
        st.fixed_dictionaries({
            "kind": st.sampled_from(["privilege", "restriction"]),
            "context": st.sampled_from(["travel", "credit", "housing", "leisure", "family"]),
            "when": _conds,
            "human_review": st.booleans(),
        }),
        min_size=1, max_size=4),
    data=st.data(),
)
def test_household_flag_always_errors(conseqs, data):
    d = base()
    d["consequences"] = [
        {"id": f"c{i}", "description": "x", "reference": "law", **c} for i, c in enumerate(conseqs)
    ]
    k = data.draw(st.integers(0, len(conseqs) - 1))
    d["consequences"][k]["applies_to_household"] = True
    fs = lint(build(d), today=TODAY)
    assert ("error", "household-spillover", f"consequences[{k}] c{k}") in found(fs)
    assert has_errors(fs)
