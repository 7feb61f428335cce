"""The command line end to end on small runs: run -> explain -> contest -> resolve ->
verify -> tamper -> verify; policy lint and policy check."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.store.ledger_store import LedgerStore
from store_tamper import edit_entries

runner = CliRunner()


def cli(*args, code=0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, (args, res.exit_code, res.output, res.exception)
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    out = {}
    for name in ("bonus-only", "we-platform"):
        cli("run", "--policy", name, "--people", 2000, "--out", base / name)
        out[name] = base / name
    return out


def explain_json(folder, citizen):
    return json.loads(cli("explain", folder, "--citizen", citizen, "--json").stdout)


def _citizen_with(folder, positive: bool):
    led = pl.read_parquet(folder / "ledger.parquet").filter(
        (pl.col("state") == "active") & ((pl.col("points") > 0) if positive else (pl.col("points") < 0)))
    row = led.sort("entry_id").row(0, named=True)
    return row["citizen_id"], row["entry_id"], row["points"]


def _entry(x, eid):
    return next(e for e in x["entries"] if e["entry_id"] == eid)


def test_suspending_policy_flow(runs):
    folder = runs["bonus-only"]  # contest.suspend_while_contested: true
    cid, eid, pts = _citizen_with(folder, positive=True)
    before = explain_json(folder, cid)
    e = _entry(before, eid)
    assert {"source", "record_id", "rule_id", "reference", "points", "occurred_on", "expires_on", "state"} <= set(e)
    res = cli("contest", folder, "--citizen", cid, "--entry", eid, "--reason", "I was not there")
    assert "suspended at once" in res.stdout
    mid = explain_json(folder, cid)
    assert _entry(mid, eid)["state"] == "contested" and not _entry(mid, eid)["counts_in_status"]
    assert mid["recomputed"]["balance_status"] == before["recomputed"]["balance_status"] - pts
    assert mid["matches_rating_on_file"] is True
    res = cli("resolve", folder, "--entry", eid, "--overturned", "--reviewer", "A. Reviewer", "--reason", "no record")
    assert "state now: overturned" in res.stdout
    after = explain_json(folder, cid)
    assert _entry(after, eid)["state"] == "overturned"
    assert after["recomputed"]["balance_status"] == before["recomputed"]["balance_status"] - pts
    assert "ok:" in cli("verify", folder).stdout
    # errors exit 1 with a message
    assert "already overturned" in cli("contest", folder, "--citizen", cid, "--entry", eid, "--reason", "x",
                                       code=1).output
    assert "exactly one of" in cli("resolve", folder, "--entry", eid, "--reviewer", "r", "--reason", "x",
                                   code=2).output
    # tamper with the store behind its back: verify names the entry
    with LedgerStore.open(folder / "ledger.duckdb") as s:  # its entry segments rewritten
        edit_entries(s, f"UPDATE ledger_entries SET points = points + 5 WHERE entry_id = {eid}")
    res = cli("verify", folder, code=1)
    assert f"entry:{eid}" in res.stdout
    v = json.loads(cli("verify", folder, "--json", code=1).stdout)
    assert v["ok"] is False and v["first_bad"] == f"entry:{eid}"


def test_non_suspending_policy_flow(runs):
    folder = runs["we-platform"]  # contest.suspend_while_contested: false
    cid, eid, pts = _citizen_with(folder, positive=False)
    before = explain_json(folder, cid)
    res = cli("contest", folder, "--citizen", cid, "--entry", eid, "--reason", "paid", "--json")
    assert json.loads(res.stdout)["review_deadline"] == "2026-07-30"
    mid = explain_json(folder, cid)
    assert _entry(mid, eid)["state"] == "contested" and _entry(mid, eid)["counts_in_status"]
    assert mid["recomputed"] == before["recomputed"]  # points stay until the review
    cli("resolve", folder, "--entry", eid, "--overturned", "--reviewer", "B", "--reason", "paid in time")
    after = explain_json(folder, cid)
    assert after["recomputed"]["balance_status"] == before["recomputed"]["balance_status"] - pts
    assert "ok:" in cli("verify", folder).stdout
    # the rendered record shows entries and, per restriction, the way out
    out = cli("explain", folder, "--citizen", cid).stdout
    assert str(eid) in out and "overturned" in out


def test_explain_renders_recourse(runs):
    folder = runs["we-platform"]
    cons = pl.read_parquet(folder / "current_consequences.parquet").filter(
        (pl.col("kind") == "restriction") & pl.col("via_citizen_id").is_null())
    cid = cons["citizen_id"][0]
    x = explain_json(folder, cid)
    r = [c for c in x["consequences"] if c["kind"] == "restriction"][0]["recourse"]
    assert "(holds)" in r["condition"] and "lifts_without_new_events" in r and "overturn" in r
    out = cli("explain", folder, "--citizen", cid).stdout
    assert "(a) with no new events" in out and "(b)" in out and "(c)" in out


def test_policy_lint():
    res = cli("policy", "lint", "we-platform", code=1)
    assert "error" in res.stdout and "special-category" in res.stdout
    j = json.loads(cli("policy", "lint", "we-platform", "--json", code=1).stdout)
    assert j["counts"]["error"] > 0
    assert {"severity", "code", "target", "message", "anchor"} == set(j["findings"][0])
    assert "0 error(s)" in cli("policy", "lint", "bonus-only").stdout
    assert json.loads(cli("policy", "lint", "bonus-only", "--json").stdout)["counts"]["error"] == 0


def test_policy_check_names_file_and_field(tmp_path):
    f = tmp_path / "broken.yaml"
    from socialrating.policy.load import builtin_path

    f.write_text(builtin_path("bonus-only").read_text().replace("points: 10,", "points: ten,", 1))
    res = cli("policy", "check", f, code=2)
    assert str(f) in res.output and "rules[1].points" in res.output
    assert "ok: bonus-only" in cli("policy", "check", "bonus-only").stdout
    assert cli("policy", "lint", f, code=2).output.count("rules[1].points") == 1
