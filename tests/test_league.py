"""The league: every built-in scheme on the same synthetic nation, one page and one table.

One small league (3,000 people, 1 year) is run once for the module; its figures are
checked against the run folders' own tables, hand-made cases pin the group and rule
formatting, and the page is loaded in headless Chromium (skipped locally without it,
FAILS in CI).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
from html.parser import HTMLParser

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from socialrating.audit.league import (
    MIN_AFFECTED,
    most_affected,
    read_league,
    rule_line,
    run_league,
)
from socialrating.policy.load import builtin_names, load_policy
from socialrating.report.league import write_league_page


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    out = tmp_path_factory.mktemp("league") / "lg"
    rows = run_league(out, people=3000, years=1, seed=11)
    page = write_league_page(out)
    return out, rows, page


def test_one_row_and_one_run_folder_per_builtin_policy(league):
    out, rows, _ = league
    assert [r.name for r in rows] == builtin_names()
    for name in builtin_names():
        assert (out / name / "manifest.json").exists()
    params, again = read_league(out)
    assert params["people"] == 3000 and params["seed"] == 11 and params["start"] == "2026-01-01"
    assert again == rows


def test_every_scheme_runs_on_the_same_people(league):
    out, _, _ = league
    digests = {hashlib.sha256(pl.read_parquet(out / n / "citizens.parquet").write_csv().encode()).hexdigest()
               for n in builtin_names()}
    assert len(digests) == 1


def test_figures_match_the_run_folders(league):
    out, rows, _ = league
    for r in rows:
        d = out / r.name
        cur = pl.read_parquet(d / "current_consequences.parquet").filter(pl.col("kind") == "restriction")
        spells = pl.read_parquet(d / "consequences.parquet").filter(
            (pl.col("kind") == "restriction") & (pl.col("scenario") == "actual"))
        w = pl.read_parquet(d / "wrongful.parquet").filter(pl.col("kind") == "restriction")
        assert r.people == 3000
        assert r.restricted_end == cur["citizen_id"].n_unique()
        assert r.restricted_ever == spells["citizen_id"].n_unique()
        assert r.wrongful == w.filter(pl.col("wrongful_months") > 0)["citizen_id"].n_unique()
        assert 0 <= r.restricted_end <= r.restricted_ever <= r.people
        assert r.wrongful <= r.restricted_ever
        lint = json.loads((d / "manifest.json").read_text())["lint"]
        assert r.lint_errors == sum(f["severity"] == "error" for f in lint)
        assert len(r.rules) == len(load_policy(r.name).rules)


def test_a_rewards_only_scheme_restricts_nobody(league):
    _, rows, _ = league
    bonus = next(r for r in rows if r.name == "bonus-only")
    assert (bonus.restricted_end, bonus.restricted_ever, bonus.wrongful) == (0, 0, 0)
    assert bonus.group is None and bonus.feedback_share is None and bonus.lint_errors == 0


def test_new_schemes_restrict_through_their_own_sources(league):
    """China's household standing and the marketplace reach people in the simulation."""
    out, rows, _ = league
    ev = pl.read_parquet(out / "china-individual" / "events.parquet")
    assert ev.filter(pl.col("event_type").cast(pl.String) == "household.member_sanctioned").height > 0
    led = pl.read_parquet(out / "sesame-style" / "ledger.parquet")
    assert led.filter(pl.col("rule_id").cast(pl.String) == "orders").height > 0
    stage3 = pl.read_parquet(out / "we-platform-stage3" / "ledger.parquet")
    assert stage3.filter(pl.col("rule_id").cast(pl.String).str.starts_with("conscription")).height > 0


def _citizens(n_per_decile: int) -> pl.DataFrame:
    n = 10 * n_per_decile
    return pl.DataFrame({
        "citizen_id": list(range(n)),
        "district": ["Volga"] * n,
        "age": [40] * n,
        "sex": ["F", "M"] * (n // 2),
        "income_decile": [1 + i // n_per_decile for i in range(n)],
        "urban": [True] * n,
    })


def test_most_affected_group_by_hand():
    # 1,000 people, 100 per decile; 30 restricted in decile 1, 10 in decile 2:
    # overall 40/1000 = 4%, decile 1 30/100 = 30% -> ratio 7.5 (sex: 20 F / 20 M -> 1.0)
    cit = _citizens(100)
    hit = pl.Series(list(range(30)) + list(range(100, 110)))
    assert most_affected(cit, hit) == ("decile 1", 7.5)


def test_most_affected_needs_enough_people():
    cit = _citizens(100)
    assert most_affected(cit, pl.Series(list(range(MIN_AFFECTED - 1)))) == (None, None)
    assert most_affected(cit, pl.Series(list(range(MIN_AFFECTED))))[0] == "decile 1"


def test_most_affected_skips_small_groups():
    # deciles of 50 people are below the 100-person minimum: only sex, age, district, area remain
    cit = _citizens(50)
    g, ratio = most_affected(cit, pl.Series(list(range(0, 40, 2))))  # 20 women (even ids are F)
    assert (g, ratio) == ("sex F", 2.0)


def test_rule_lines_by_hand():
    p = load_policy("china-individual")
    assert rule_line(p, p.rule("traffic-fine")) == "traffic-fine: fine.traffic -3, cap -15/12 mo, 12 mo"
    assert rule_line(p, p.rule("volunteering")) == "volunteering: volunteer.hours +1/hours, cap +10/12 mo, 24 mo"
    s3 = load_policy("we-platform-stage3")
    assert rule_line(s3, s3.rule("conscription-exit-ban")) == (
        "conscription-exit-ban: conscription.travel_ban -20, 6 mo, from 2026-01-01")


class _Refs(HTMLParser):
    FETCH = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"),
             ("embed", "src"), ("object", "data"), ("image", "href")}

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.fetches += [v for k, v in attrs if (tag, k) in self.FETCH and v]


def test_page_is_self_contained_and_lists_every_scheme(league):
    _, rows, page = league
    text = page.read_text(encoding="utf-8")
    p = _Refs()
    p.feed(text)
    assert [v for v in p.fetches if not v.startswith(("data:", "#"))] == []
    assert "Simulation on synthetic data" in text
    for r in rows:
        assert f'<section id="s-{r.name}">' in text
        assert f'<a href="#s-{r.name}">{r.name}</a>' in text
        for line in r.rules:
            assert line in text
    assert "no primary source" in text


def test_terminal_table_fits_80_columns(league, monkeypatch):
    from socialrating import cli

    _, rows, _ = league
    buf = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buf, width=200))
    cli.print_league(rows)
    lines = buf.getvalue().splitlines()
    assert max(len(x) for x in lines) <= 80
    text = buf.getvalue()
    for r in rows:
        assert r.name in text
    assert "conscription-exit-ban: conscription.travel_ban -20, 6 mo" in text


def test_cli_bad_start_is_one_clear_line(tmp_path):
    from socialrating.cli import app

    res = CliRunner().invoke(app, ["league", "--people", "10", "--start", "2026-13-01", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "--start: expected a date YYYY-MM-DD" in res.output
    assert "Traceback" not in res.output


def test_page_draws_in_chromium(league, tmp_path):
    from test_report import _chromium

    exe = _chromium()
    if exe is None:
        msg = "headless Chromium not found (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    _, rows, page = league
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom",
           page.resolve().as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    dom = out.stdout
    assert out.returncode == 0 and "</html>" in dom, out.stderr[-2000:]
    chart = dom[dom.index('id="chart-league"'):]
    assert 'class="main-svg"' in chart  # plotly drew the chart
    assert len(re.findall(r'class="point"', chart)) >= 1  # bars were drawn
    table = dom[dom.index('id="league-table"'):dom.index("</table>", dom.index('id="league-table"'))]
    assert table.count("<tr>") == len(rows) + 1
