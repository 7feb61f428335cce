"""The analyst's path on the command line: find people, read one record, at 80 columns.

Each listing is checked against an independent computation over the run folder's tables
(polars, written here), and every printed line against the 80-column limit, with nothing
a person needs (entry ids, full dates, source, record id) cut.
"""

from __future__ import annotations

import json
import os
import re

import polars as pl
import pytest
from typer.testing import CliRunner

from socialrating.cli import app

RUN = ["--people", "3000", "--years", "1", "--seed", "11"]


def cli(*args, code: int = 0, columns: int = 80):
    res = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    assert res.exit_code == code, res.output
    return res


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyst") / "run"
    cli("run", *RUN, "--out", out)
    return out


def _fits(text: str, width: int = 80) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} line(s) wider than {width}: {long[:2]}"


def test_run_folder_tables_join_without_casts(run):
    cur = pl.read_parquet(run / "current_consequences.parquet")
    wrong = pl.read_parquet(run / "wrongful.parquet")
    spells = pl.read_parquet(run / "consequences.parquet")
    for a, b in ((cur, wrong), (spells, wrong), (cur, spells)):
        for col in set(a.columns) & set(b.columns):
            assert a.schema[col] == b.schema[col], col
    assert cur.join(wrong, on=["citizen_id", "consequence_id", "kind"]).height > 0


def test_citizens_lists_exactly_the_restricted_people(run):
    out = json.loads(cli("citizens", run, "--limit", "100000", "--json").stdout)
    cur = pl.read_parquet(run / "current_consequences.parquet").filter(pl.col("kind") == "restriction")
    want = sorted(cur["citizen_id"].unique().to_list())
    assert [c["citizen_id"] for c in out["citizens"]] == want and out["matching"] == len(want)
    rated = pl.read_parquet(run / "current_ratings.parquet")
    first = out["citizens"][0]
    assert first["status"] == rated.filter(pl.col("citizen_id") == first["citizen_id"])["status"][0]


def test_citizens_wrongly_matches_the_wrongful_table(run):
    out = json.loads(cli("citizens", run, "--wrongly", "--consequence", "no-credit", "--limit", "100000",
                         "--json").stdout)
    w = pl.read_parquet(run / "wrongful.parquet").filter(
        (pl.col("consequence_id") == "no-credit") & (pl.col("months_actual") > 0)
        & (pl.col("months_perfect_data") == 0))
    assert [c["citizen_id"] for c in out["citizens"]] == sorted(w["citizen_id"].to_list())
    assert all(c["matched"] == "no-credit" for c in out["citizens"])


def test_citizens_group_status_and_ever_filters(run):
    out = json.loads(cli("citizens", run, "--everyone", "--group", "sex=F", "--group", "age_band=25-34",
                         "--status-max", "49", "--limit", "100000", "--json").stdout)
    people = pl.read_parquet(run / "citizens.parquet").join(pl.read_parquet(run / "current_ratings.parquet"),
                                                          on="citizen_id")
    want = people.filter((pl.col("sex") == "F") & pl.col("age").is_between(25, 34) & (pl.col("status") <= 49))
    assert out["matching"] == want.height and out["matching"] > 0
    ever = json.loads(cli("citizens", run, "--ever", "--scenario", "perfect_data", "--consequence", "no-exit",
                          "--limit", "100000", "--json").stdout)
    spells = pl.read_parquet(run / "consequences.parquet").filter(
        (pl.col("scenario") == "perfect_data") & (pl.col("consequence_id") == "no-exit"))
    assert ever["matching"] == spells["citizen_id"].n_unique()


@pytest.mark.parametrize("args, fragment", [
    (["--consequence", "no-such"], "not in this run's policy"),
    (["--group", "planet=Mars"], "unknown dimension"),
    (["--group", "district=Atlantis"], "unknown group"),
    (["--group", "district"], "expected DIMENSION=GROUP"),
    (["--ever", "--scenario", "utopia"], "not in this run"),
])
def test_citizens_bad_filters_give_one_clear_line(run, args, fragment):
    res = cli("citizens", run, *args, code=2)
    assert fragment in " ".join(res.output.split()) and "Traceback" not in res.output


def test_citizens_table_fits_80_columns(run):
    res = cli("citizens", run, "--limit", "5")
    _fits(res.stdout)
    first = json.loads(cli("citizens", run, "--limit", "1", "--json").stdout)["citizens"][0]["citizen_id"]
    assert f"explain {run} --citizen {first}" in " ".join(res.stdout.split())


def test_explain_at_80_columns_cuts_nothing(run):
    led = pl.read_parquet(run / "ledger.parquet")
    who = led.group_by("citizen_id").len().sort(["len", "citizen_id"], descending=[True, False])["citizen_id"][0]
    text = cli("explain", run, "--citizen", who).stdout
    _fits(text)
    flat = " ".join(text.split())
    for row in led.filter(pl.col("citizen_id") == who).iter_rows(named=True):
        assert f"entry {row['entry_id']} " in flat
        assert row["occurred_on"].isoformat() in flat
        assert f"source {row['source']}, record {row['record_id']}" in flat
    assert len(re.findall(r"^\d+\. entry \d+", text, flags=re.M)) == led.filter(pl.col("citizen_id") == who).height


def test_explain_shows_each_entrys_contest_history(run):
    led = pl.read_parquet(run / "ledger.parquet").filter((pl.col("points") < 0) & (pl.col("state") == "active"))
    cid, eid = led["citizen_id"][0], led["entry_id"][0]
    cli("contest", run, "--citizen", cid, "--entry", eid, "--reason", "not my debt")
    cli("resolve", run, "--entry", eid, "--overturned", "--reviewer", "R. Reviewer", "--reason", "namesake")
    x = json.loads(cli("explain", run, "--citizen", cid, "--json").stdout)
    hist = x["contest_history"][str(eid)]
    assert [h["new_state"] for h in hist][-2:] == ["contested", "overturned"]
    assert hist[-1]["actor"] == "reviewer R. Reviewer" and hist[-1]["reason"] == "namesake"
    flat = " ".join(cli("explain", run, "--citizen", cid).stdout.split())
    assert "overturned by reviewer R. Reviewer: namesake" in flat and f"contested by citizen {cid}" in flat


def test_help_and_version_fit_80_columns():
    _fits(cli("--help").stdout)
    text = cli("run", "--help").stdout
    _fits(text)
    for flag in ("--employment-feedback", "--household-spillover", "--credit-feedback"):
        assert flag in text
    assert re.fullmatch(r"socialrating \d+\.\d+\.\d+\n", cli("--version").stdout)


def test_contest_and_resolve_print_what_changed_for_this_citizen(tmp_path_factory):
    out = tmp_path_factory.mktemp("act") / "run"
    cli("run", *RUN, "--out", out)
    led = pl.read_parquet(out / "ledger.parquet")
    cur = pl.read_parquet(out / "current_consequences.parquet")
    # a person under no-exit because of exactly one active exit-ban entry: overturning it lifts no-exit
    bans = led.filter((pl.col("event_type") == "enforcement.exit_ban") & (pl.col("state") == "active"))
    one = bans.group_by("citizen_id").len().filter(pl.col("len") == 1).join(
        cur.filter(pl.col("consequence_id") == "no-exit"), on="citizen_id").sort("citizen_id")
    assert one.height > 0
    cid = one["citizen_id"][0]
    eid = bans.filter(pl.col("citizen_id") == cid)["entry_id"][0]
    before = cur.filter(pl.col("citizen_id") == cid)["consequence_id"].cast(pl.String).to_list()
    c = json.loads(cli("contest", out, "--citizen", cid, "--entry", eid, "--reason", "not me", "--json").stdout)
    assert c["for_this_citizen"]["consequences_added"] == []
    text = cli("resolve", out, "--entry", eid, "--overturned", "--reviewer", "A", "--reason", "namesake").stdout
    _fits(text)
    after = pl.read_parquet(out / "current_consequences.parquet").filter(pl.col("citizen_id") == cid)
    lifted = sorted(set(before) - set(after["consequence_id"].cast(pl.String).to_list()))
    assert "no-exit" in lifted
    flat = " ".join(text.split())
    assert f"consequences lifted: {', '.join(lifted)}" in flat
    assert f"entry {eid}: exit-ban -20" in flat and "now overturned" in flat
    rated = pl.read_parquet(out / "current_ratings.parquet").filter(pl.col("citizen_id") == cid)
    assert f"-> {rated['status'][0]:02d}" in flat or f"status {rated['status'][0]:02d}" in flat


def _threshold_35(tmp_path) -> "Path":
    """we-platform with its 'status below 25' restrictions moved to 'below 35' (the README's example)."""
    from socialrating.policy.load import builtin_path

    text = builtin_path("we-platform").read_text(encoding="utf-8")
    assert text.count("lt: 25") >= 1
    p = tmp_path / "we35.yaml"
    p.write_text(text.replace("lt: 25", "lt: 35"), encoding="utf-8")
    return p


def test_compare_page_leads_with_restricted_counts(run, tmp_path):
    b = tmp_path / "we35"
    cli("run", *RUN, "--out", b, "--policy", _threshold_35(tmp_path), "--no-store")
    before = sorted(p.name for p in b.iterdir())
    res = cli("compare", run, b, "--out", tmp_path / "cmp")
    assert sorted(p.name for p in b.iterdir()) == before  # run folders are not written into
    _fits(res.stdout)

    def at_end(folder):
        s = pl.read_parquet(folder / "consequences.parquet").filter(
            (pl.col("scenario") == "actual") & (pl.col("kind") == "restriction") & pl.col("end_month").is_null())
        return s["citizen_id"].n_unique()

    na, nb = at_end(run), at_end(b)
    assert nb > na  # a higher threshold restricts more people
    line = next(x for x in res.stdout.splitlines() if x.strip().startswith("any-restriction"))
    assert line.split()[1:3] == [f"{na:,}", f"{nb:,}"]
    page = (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")
    assert f"<b>{nb - na:,}</b> more" in page and f"({na:,} against {nb:,})" in page
    assert "Simulation on synthetic data" in page and 'src="http' not in page
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["winners"] + summary["losers"] + summary["unchanged"] == 3000


def test_compare_page_draws_in_chromium(run, tmp_path):
    from test_report import _chromium, _dump_dom

    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium not found")
        pytest.skip("headless Chromium not found")
    b = tmp_path / "bonus"
    cli("run", *RUN, "--out", b, "--policy", "bonus-only", "--no-store")
    cli("compare", run, b, "--out", tmp_path / "cmp")
    dom = _dump_dom(exe, tmp_path / "cmp" / "compare.html", tmp_path / "profile", 1100)
    charts = re.findall(r'<div id="(chart-[^"]+)" class="plotly-graph-div', dom)
    assert len(charts) == 2 and dom.count('class="main-svg"') >= 2
    assert "People by change in status" in dom and "95% intervals" in dom


def test_policy_lint_reads_at_80_columns():
    from socialrating.policy.lint import lint
    from socialrating.policy.load import load_policy

    text = cli("policy", "lint", "we-platform", code=1).stdout
    _fits(text)
    findings = lint(load_policy("we-platform"))
    blocks = re.findall(r"^(\d+)\. (error|warning|info) ([a-z-]+): ", text, flags=re.M)
    assert [(s, c) for _, s, c in blocks] == [(f.severity, f.code) for f in findings]
    assert text.count("   anchor: ") == len(findings)


def test_audit_figures_are_written_as_quoted():
    from socialrating.report.summary import figure_value

    assert figure_value("seed", 20240701) == "20240701"
    assert figure_value("still_in_worst_band_share", None) == "n/a"
    assert figure_value("restricted_share", 0.04723) == "4.72%"
    assert figure_value("restriction_spells", 7155) == "7,155"
