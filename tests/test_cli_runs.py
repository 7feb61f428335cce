"""End to end through the command line: run on PostgreSQL, ingest, compare, audit, report."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from socialrating.cli import app

RUN = ["--people", "2500", "--years", "1", "--seed", "5"]


def cli(*args, code: int = 0):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


def test_run_with_the_store_on_postgresql_then_contest_and_verify(tmp_path, pg_database):
    out = tmp_path / "pg"
    cli("run", "--policy", "we-platform", *RUN, "--out", out, "--db", pg_database)
    m = json.loads((out / "manifest.json").read_text())
    assert not (out / "ledger.duckdb").exists()
    assert m["ledger_store"]["file"].startswith("postgresql://")
    assert "ok:" in cli("verify", out, "--db", pg_database).stdout
    led = pl.read_parquet(out / "ledger.parquet").filter((pl.col("points") < 0) & (pl.col("state") == "active"))
    cid, eid = led["citizen_id"][0], led["entry_id"][0]
    cli("contest", out, "--citizen", cid, "--entry", eid, "--reason", "not me", "--db", pg_database)
    assert "ok:" in cli("verify", out, "--db", pg_database).stdout
    said = " ".join(cli("verify", out, code=2).output.split())  # the store is elsewhere: say where
    assert "the manifest records the ledger store at postgresql://" in said and "--db" in said


def test_compare_audit_report_and_ingest(tmp_path):
    a, b = tmp_path / "we", tmp_path / "bonus"
    cli("run", "--policy", "we-platform", *RUN, "--out", a, "--no-store")
    cli("run", "--policy", "bonus-only", *RUN, "--out", b, "--no-store")
    summary = json.loads(cli("compare", a, b, "--json").stdout)
    assert summary["winners"] + summary["losers"] + summary["unchanged"] == 2500
    assert (tmp_path / f"compare-{a.name}-vs-{b.name}" / "summary.json").exists() and not (b / f"compare-{a.name}").exists()
    fa = summary["figures"]["any-restriction"]["ever"]
    assert fa["label"] == "people ever under any restriction" and fa["b"] == 0  # bonus-only restricts nobody
    head = json.loads(cli("audit", a, "--json").stdout)
    assert head["counts"]["citizens"]["value"] == 2500 and (a / "audit.json").exists()
    assert head["figures"]["any-restriction"]["ever"]["value"] == fa["a"]
    assert set(head["definitions"]) >= {"at_end", "ever", "wrongly", "wrongful_months", "prevented_by_appeals"}
    assert "report.html" in cli("report", a).stdout
    html = (a / "report.html").read_text()
    assert "we-platform" in html and "<script src=\"http" not in html
    # a user's file in the tax service's schema: one good row, one with bad INN check digits
    people = pl.read_parquet(a / "citizens.parquet").filter(pl.col("inn").is_not_null()).head(1)
    inn = people["inn"][0]
    bad = inn + 1 if inn % 10 != 9 else inn - 1
    csv = tmp_path / "tax.csv"
    csv.write_text("record_id,event_type,occurred_on,reported_on,amount,inn\n"
                   f"u1,tax.arrears,2025-03-01,2025-03-05,1200,{inn}\n"
                   f"u2,tax.arrears,2025-03-01,2025-03-05,1200,{bad}\n")
    res = cli("ingest", csv, "--source", "tax", "--into", a)
    assert "accepted (linked)" in res.stdout
    got = pl.read_parquet(a / "ingested" / "tax.parquet")
    assert got["record_id"].to_list() == ["u1"] and got["citizen_id"][0] == people["citizen_id"][0]
    q = pl.read_parquet(a / "ingested" / "tax.quarantine.parquet")
    assert q["record_id"].to_list() == ["u2"] and "check digits" in q["reason"][0]
    cli("ingest", csv, "--source", "tax", "--into", a)  # again: nothing new
    assert pl.read_parquet(a / "ingested" / "tax.parquet").height == 1
    assert "unknown source" in cli("ingest", csv, "--source", "nope", "--into", a, code=2).output
