"""Hand-worked rule tests for every built-in policy (tests/cases/*.yaml)."""

from __future__ import annotations

import datetime as dt

import pytest

from case_runner import load_cases, run_case
from socialrating.policy.refused import RefusedCategoryError

CASES = load_cases()


def _iso(v):
    return v.isoformat() if isinstance(v, dt.date) else v


@pytest.mark.parametrize("policy,case", CASES, ids=[f"{p}: {c['name']}" for p, c in CASES])
def test_case(policy, case):
    exp = case["expect"]
    if "error" in exp:
        with pytest.raises(RefusedCategoryError, match=exp["error"]):
            run_case(policy, case)
        return
    res = run_case(policy, case)
    if "ledger" in exp:
        got = {r["record_id"]: r for r in res.ledger.iter_rows(named=True)}
        assert len(got) == len(exp["ledger"]) or exp.get("ledger_partial"), sorted(got)
        for e in exp["ledger"]:
            row = got[f"r{e['event']}"]
            for k, v in e.items():
                if k == "event":
                    continue
                key = {"rule": "rule_id"}.get(k, k)
                assert _iso(row[key]) == (str(v) if isinstance(v, dt.date) else v) or str(row[key]) == str(v), (e, row)
    for cit, want in exp.get("ratings", {}).items():
        row = res.ratings.filter(res.ratings["citizen_id"] == int(cit)).row(0, named=True)
        for k, v in want.items():
            assert str(row[k]) == str(v), (cit, k, row)
    for cit, want in exp.get("consequences", {}).items():
        rows = res.consequences.filter(res.consequences["citizen_id"] == int(cit))
        got = {str(r["consequence_id"]): r for r in rows.iter_rows(named=True)}
        if isinstance(want, list):
            assert sorted(got) == sorted(want), (cit, sorted(got))
        else:
            assert sorted(got) == sorted(want), (cit, sorted(got))
            for cid, fields in want.items():
                for k, v in (fields or {}).items():
                    assert str(_iso(got[cid][k])) == str(v), (cit, cid, k, got[cid])
    for k, v in exp.get("counts", {}).items():
        assert res.counts[k] == v, (k, res.counts)
