"""Calibration: the run against the published figures (issue 10).

A 200,000-person, 1-year run (2 years of records on file before it) must show every
anchored quantity within 1.25x of its published figure; the error-model rates must come
from ``error_rates`` (one place each rate lives); ``socialrating calibration`` must work at
80 columns, piped and as JSON; every built-in policy's references must resolve inside the
repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from socialrating import cli as cli_mod
from socialrating.audit.calibration import TOLERANCE, Anchored, calibration_section, calibration_table
from socialrating.policy.load import builtin_names, load_policy, read_policy_text
from socialrating.population.calibration import DEFAULT_PATH, load_calibration, parse_calibration
from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.sources.errors import ErrorModel, derived_rates

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 200_000


@pytest.fixture(scope="module")
def run200k(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "run"
    simulate(SimConfig(policy="we-platform", people=PEOPLE, years=1.0, seed=20240701, world="synthetic",
                       store=False, history_years=2.0), out)
    return out


def test_every_anchored_quantity_within_tolerance(run200k):
    rows = calibration_table(run200k)
    assert len(rows) == 15
    off = [f"{r.key}: run {r.run_value:,.4g} vs published {r.published:,.4g} (ratio {r.ratio:.2f})"
           for r in rows if not r.within]
    assert not off, "outside 1.25x: " + "; ".join(off)


def test_table_values_against_an_independent_count(run200k):
    """Households and licence holders recounted here from citizens.parquet, scaled by hand."""
    rows = {r.key: r for r in calibration_table(run200k)}
    c = pl.read_parquet(run200k / "citizens.parquet")
    scale = 146_203_613 / c.height
    households = c["household_id"].n_unique()
    assert rows["households"].run_value == pytest.approx(households * scale)
    singles = (c.group_by("household_id").len()["len"] == 1).sum() / households
    assert rows["single_person_household_share"].run_value == pytest.approx(singles)
    adults = c.filter(pl.col("age") >= 18)
    assert rows["licence_holders_share_adults"].run_value == pytest.approx(adults["driver"].mean())
    # published values are the calibration file's
    assert rows["households"].published == 66_100_000
    assert rows["enforcement_new_bank_debt_per_year"].published == 15_400_000
    assert rows["enforcement_debtors"].published == 18_900_000
    assert rows["drunk_driving_per_year"].published == 550_000
    assert rows["name_check_false_positive"].published == pytest.approx(0.055)


def test_the_check_fails_when_a_quantity_is_off(run200k):
    """Halve a published figure: the run is now 2x off and the check must say so."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["base_rates"]["drunk_driving_per_year"]["value"] = 275_000
    raw["base_rates"]["households"]["value"] = 40_000_000
    rows = {r.key: r for r in calibration_table(run200k, calibration=parse_calibration(raw))}
    assert not rows["drunk_driving_per_year"].within and rows["drunk_driving_per_year"].ratio > 1.9
    assert not rows["households"].within
    assert rows["traffic_fines_per_year"].within


def test_tolerance_bounds():
    def a(run):
        return Anchored("k", "k", run, 100.0, "cases", "s")

    assert TOLERANCE == 1.25
    assert a(125.0).within and a(80.0).within
    assert not a(125.1).within and not a(79.9).within


def test_error_rates_are_read_by_the_error_model():
    """FTC: 5.2% moved to a worse tier, 26% with a material error, over 7 years of records:
    per borrower-year 1 - 0.948^(1/7) = 0.0075997 and 1 - 0.74^(1/7) - that = 0.0421030 - 0.0075997;
    cameras 25% unusable x 10% still fined = 2.5%; BJS 5.5% for courts and bailiffs."""
    em = ErrorModel.default()
    assert em.bank_false_overdue == pytest.approx(0.0075997, abs=1e-7)
    assert em.bank_detail_error == pytest.approx(0.0421030 - 0.0075997, abs=2e-7)
    assert em.camera_error_share == pytest.approx(0.025)
    assert em.name_false_match == {"courts": pytest.approx(0.055), "bailiffs": pytest.approx(0.055)}
    assert "FTC" in em.anchors["bank_false_overdue"] and "BJS" in em.anchors["name_false_match"]
    # change the published figure: the model follows (the rate lives in one place)
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["error_rates"]["name_check_false_positive"]["value"] = 0.10
    raw["error_rates"]["credit_report_worse_tier"]["value"] = 0.0
    rates, _ = derived_rates(parse_calibration(raw))
    assert rates["name_false_match"]["courts"] == pytest.approx(0.10)
    assert rates["bank_false_overdue"] == 0.0
    cal = load_calibration()
    assert "bank_false_overdue" not in cal.source_errors and "camera_error_share" not in cal.source_errors


def test_new_proceedings_not_on_hand():
    from socialrating.sources.agencies.bailiffs import proceedings_per_year

    assert proceedings_per_year(load_calibration()) == pytest.approx(15_400_000 / 0.27)


# ----------------------------------------------------------------------------- the command


runner = CliRunner()


def test_cli_table_at_80_columns(run200k, monkeypatch):
    con = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(cli_mod, "console", con)
    res = runner.invoke(cli_mod.app, ["calibration", str(run200k)])
    assert res.exit_code == 0, res.output
    text = con.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for label in ("new bank-debt proceedings a year", "households", "drunk drivers caught a year"):
        assert label in text
    assert "15 of 15 within 1.25x" in text
    assert "FSSP report via Verstka" in text and "VCIOM" in text and "BJS" in text


def test_cli_piped_and_json(run200k):
    res = runner.invoke(cli_mod.app, ["calibration", str(run200k), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["all_within"] is True and data["scaled_to"] == 146_203_613
    keys = {q["key"] for q in data["quantities"]}
    assert {"enforcement_new_per_year", "credit_report_material_error", "single_person_household_share"} <= keys
    for q in data["quantities"]:
        assert q["source"] and q["ratio"] == pytest.approx(q["run_value"] / q["published"], abs=1e-4)
    plain = runner.invoke(cli_mod.app, ["calibration", str(run200k)])
    assert plain.exit_code == 0 and "ratio" in plain.stdout


def test_cli_bad_folder_one_line(tmp_path):
    res = runner.invoke(cli_mod.app, ["calibration", str(tmp_path / "nope")])
    assert res.exit_code == 2
    out = " ".join(res.output.split())  # the error console wraps long paths
    assert "not a run folder" in out and "Traceback" not in out
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text("{}")
    res = runner.invoke(cli_mod.app, ["calibration", str(tmp_path / "r")])
    assert res.exit_code == 2 and "basic world" in " ".join(res.output.split())


def test_report_section(run200k, tmp_path):
    html = calibration_section(run200k)
    assert html.count("<tr>") == 16  # header + 15 quantities
    assert "All 15 quantities are within 1.25x" in html
    assert "No calibration check" in calibration_section(tmp_path)


# ------------------------------------------------------------------- policy references


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_every_policy_reference_resolves_in_the_repository(name):
    text, _ = read_policy_text(name)
    assert "shared/" not in text and "../" not in text
    policy = load_policy(name)
    anchors = _anchors()
    for key, ref in policy.references.items():
        m = re.search(r"figures: docs/sources\.md#([a-z0-9-]+)", ref.note or "")
        assert m, f"{name}: reference {key} has no docs/sources.md note"
        assert m.group(1) in anchors, f"{name}: reference {key} -> #{m.group(1)} not in docs/sources.md"
    used = [r.reference for r in policy.rules] + [c.reference for c in policy.consequences] + \
           [c.reference for c in policy.closures]
    assert set(used) <= set(policy.references)


def test_calibration_file_cites_only_the_repository():
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert "/work/" not in text and "shared/" not in text
    assert "docs/sources.md" in text


def test_the_report_includes_the_calibration_table(tmp_path):
    from socialrating.report.html import write_report

    out = tmp_path / "r"
    simulate(SimConfig(policy="we-platform", people=3000, years=0.5, seed=4, world="synthetic", store=False,
                       history_years=1.0), out)
    text = write_report(out, replicates=20).read_text(encoding="utf-8")
    assert '<section id="calibration">' in text
    body = text[text.index('<section id="calibration">'):]
    body = body[:body.index("</section>")]
    for label in ("new bank-debt proceedings a year", "households", "court and bailiff records linked"):
        assert label in body
