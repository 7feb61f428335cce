"""The linter's findings on the schemes of issue 14, pinned so that a reader can check each
against its legal anchor (see policy/lint.py for the codes and anchors)."""

from __future__ import annotations

import datetime as dt

import pytest

from socialrating.policy.lint import has_errors, lint
from socialrating.policy.load import load_policy

TODAY = dt.date(2026, 6, 1)

EXPECTED = {
    # employers screen candidates out on the trajectory: education data used for employment
    # (AI Act Art. 5(1)(c)(i)) with no person reviewing (152-FZ Art. 16; GDPR Art. 22)
    "digital-profile": [
        ("error", "automated-decision", "consequences[1] employer-screen-out"),
        ("error", "unrelated-context", "consequences[1] employer-screen-out"),
        ("error", "automated-decision", "consequences[2] expulsion-screen-out"),
        ("error", "unrelated-context", "consequences[2] expulsion-screen-out"),
        ("warning", "overdue-against-citizen", "contest"),
    ],
    # a score of everything slows the internet and bars travel; fines alone can reach the
    # travel threshold; the household's standing scores people for others' behaviour
    "china-individual": [
        ("error", "automated-decision", "consequences[0] slow-internet"),
        ("error", "unrelated-context", "consequences[0] slow-internet"),
        ("error", "automated-decision", "consequences[1] no-flights"),
        ("error", "unrelated-context", "consequences[1] no-flights"),
        ("error", "disproportionate-fines", "consequences[1] no-flights"),
        ("error", "automated-decision", "consequences[2] no-fast-rail"),
        ("error", "unrelated-context", "consequences[2] no-fast-rail"),
        ("error", "disproportionate-fines", "consequences[2] no-fast-rail"),
        ("error", "household-points", "rules[9] household-standing"),
        ("warning", "criminal-record", "rules[5] conviction"),
        ("warning", "overdue-against-citizen", "contest"),
    ],
    # payment data for credit is related (Annex III 5(b) high-risk, not prohibited); the
    # refusal is automated and rests on an assumption
    "sesame-style": [
        ("error", "automated-decision", "consequences[2] bnpl-refused"),
        ("warning", "overdue-against-citizen", "contest"),
        ("warning", "unsourced-restriction", "consequences[2] bnpl-refused"),
    ],
    # medical records are special-category data; police and school records decide council services
    "uk-claimed": [
        ("error", "special-category", "rules[6] checkup"),
        ("error", "unrelated-context", "consequences[0] no-council-services"),
        ("warning", "criminal-record", "rules[1] conviction"),
        ("warning", "unsourced-restriction", "consequences[0] no-council-services"),
    ],
    # as modelled (payment records -> a finance restriction, reviewed, contestable) nothing
    # breaches an anchor: the objection to this claim is that it has no source
    "australia-claimed": [],
    "we-platform-stage3": [
        ("error", "special-category", "rules[7] checkup"),
        ("error", "automated-decision", "consequences[3] no-exit-conscription"),
        ("error", "automated-decision", "consequences[4] no-credit"),
        ("error", "unrelated-context", "consequences[4] no-credit"),
        ("error", "automated-decision", "consequences[5] no-tickets"),
        ("error", "unrelated-context", "consequences[5] no-tickets"),
        ("error", "automated-decision", "consequences[6] no-subsidies"),
        ("error", "unrelated-context", "consequences[6] no-subsidies"),
        ("error", "automated-decision", "consequences[7] no-good-jobs"),
        ("error", "unrelated-context", "consequences[7] no-good-jobs"),
        ("error", "automated-decision", "consequences[8] no-study"),
        ("error", "unrelated-context", "consequences[8] no-study"),
        ("warning", "criminal-record", "rules[15] conviction"),
        ("warning", "overdue-against-citizen", "contest"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scheme_findings_pinned(name):
    fs = lint(load_policy(name), today=TODAY)
    got = [(f.severity, f.code, f.target) for f in fs if f.severity != "info"]
    assert got == EXPECTED[name]
    assert has_errors(fs) == any(s == "error" for s, _, _ in EXPECTED[name])


def test_conscription_exit_ban_is_related_to_travel():
    """The exit ban after a summons is itself the travel measure (travel_ban), so the
    restriction keyed on it is not 'unrelated' - only unreviewed."""
    fs = lint(load_policy("we-platform-stage3"), today=TODAY)
    codes = {f.code for f in fs if f.target == "consequences[3] no-exit-conscription"}
    assert codes == {"automated-decision"}


def test_household_points_fires_only_for_household_events():
    from socialrating.policy.load import parse_policy

    base = load_policy("china-individual").model_dump(mode="json", by_alias=True, exclude_none=True)
    base["rules"] = [r for r in base["rules"] if not r["event_type"].startswith("household.")]
    import yaml

    fs = lint(parse_policy(yaml.safe_dump(base, sort_keys=False)), today=TODAY)
    assert not [f for f in fs if f.code == "household-points"]


def test_refused_claims_are_not_rules():
    """The UK claim's social-network and CCTV inputs are noted as refused, never scored."""
    p = load_policy("uk-claimed")
    assert not any(r.event_type.split(".")[0] in {"social_media", "cctv", "face", "biometric"} for r in p.rules)
    assert any("REFUSED" in a and "social-network" in a and "CCTV" in a for a in p.assumptions)


@pytest.mark.parametrize("name", ["uk-claimed", "australia-claimed"])
def test_claims_without_primary_source_say_so(name):
    p = load_policy(name)
    assert "no primary source" in p.title
    assert "no primary source" in (p.references["first-report"].note or "")
