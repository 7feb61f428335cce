"""A realistic start (issue 10): the years before the start are generated from the same
model over one continuous window and loaded as the records on file in the first month;
the policy's own dates still decide what counts; the perfect-data twin gets its history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.policy.load import load_policy
from socialrating.simulate.simulation import (
    SimConfig, countable_months, history_start, history_years, make_world, records_on_file, simulate,
)

START = dt.date(2024, 7, 1)


def test_default_history_is_the_longest_expiry_at_most_7_years():
    # we-platform: state awards and diplomas expire after 120 months -> capped at 7 years
    assert history_years(load_policy("we-platform"), None) == 7.0
    # bonus-only: the longest expiry is a state award's 60 months
    assert history_years(load_policy("bonus-only"), None) == 5.0
    # court-blacklist and rongcheng: 24 months
    assert history_years(load_policy("court-blacklist"), None) == 2.0
    assert history_years(load_policy("rongcheng"), None) == 2.0
    assert history_years(load_policy("rongcheng"), 1.5) == 1.5
    assert history_years(load_policy("rongcheng"), 0.04) == 0.0  # whole months: 0.48 of a month -> 0
    with pytest.raises(ValueError, match="history_years"):
        history_years(load_policy("rongcheng"), -1.0)


def test_history_start():
    assert history_start(START, 7.0) == dt.date(2017, 7, 1)
    assert history_start(dt.date(2024, 7, 15), 1.5) == dt.date(2023, 1, 1)
    assert history_start(START, 0.25) == dt.date(2024, 4, 1)


def test_countable_months_of_we_platform():
    m = countable_months(load_policy("we-platform"))
    assert m["fine.traffic"] == 12
    assert m["loan.overdue_90d"] == 84
    assert m["enforcement.exit_ban"] == 6
    # paying the debt closes proceedings (24 months) and exit bans (6): as long as the longer
    assert m["enforcement.debt_paid"] == 24
    assert "court.dishonest_debtor" not in m  # not used by this policy


def _frame(rows):
    return pl.DataFrame(rows, schema={"event_type": pl.String, "occurred_on": pl.Date, "reported_on": pl.Date},
                        orient="row")


def test_records_on_file_keeps_what_can_still_count():
    pol = load_policy("we-platform")
    f = _frame([
        ("fine.traffic", dt.date(2023, 6, 30), dt.date(2023, 7, 2)),   # 12 months end 2024-06-30: gone
        ("fine.traffic", dt.date(2023, 7, 2), dt.date(2023, 7, 3)),    # ends 2024-07-02: still counts
        ("court.dishonest_debtor", dt.date(2024, 6, 1), dt.date(2024, 6, 2)),  # not used: not loaded
        ("fine.traffic", dt.date(2020, 1, 1), dt.date(2024, 7, 1)),    # reported from the start on: kept
        ("award.state", dt.date(2015, 1, 1), dt.date(2015, 2, 1)),     # 120 months: ends 2025-01-01
        ("enforcement.debt_paid", dt.date(2022, 8, 1), dt.date(2022, 8, 5)),  # 24 months: ends 2024-08-01
        ("enforcement.debt_paid", dt.date(2022, 6, 30), dt.date(2022, 7, 5)),  # ended 2024-06-30
    ])
    kept = records_on_file(f, pol, START)
    assert kept["occurred_on"].to_list() == [dt.date(2023, 7, 2), dt.date(2020, 1, 1), dt.date(2015, 1, 1),
                                             dt.date(2022, 8, 1)]


def test_on_file_mask_reads_codes_as_it_reads_strings():
    """The records come as Enum codes (sources/synthetic.py); the mask is the one the
    strings give, on the hand-worked rows above (an unused type in the Enum included)."""
    from socialrating.simulate.simulation import on_file_mask

    pol = load_policy("we-platform")
    types = ["fine.traffic", "court.dishonest_debtor", "award.state", "enforcement.debt_paid", "never.seen"]
    rows = [("fine.traffic", dt.date(2023, 6, 30), dt.date(2023, 7, 2)),
            ("fine.traffic", dt.date(2023, 7, 2), dt.date(2023, 7, 3)),
            ("court.dishonest_debtor", dt.date(2024, 6, 1), dt.date(2024, 6, 2)),
            ("fine.traffic", dt.date(2020, 1, 1), dt.date(2024, 7, 1)),
            ("award.state", dt.date(2015, 1, 1), dt.date(2015, 2, 1)),
            ("enforcement.debt_paid", dt.date(2022, 8, 1), dt.date(2022, 8, 5)),
            ("enforcement.debt_paid", dt.date(2022, 6, 30), dt.date(2022, 7, 5))]
    f = _frame(rows)
    occ, rep = (f[c].cast(pl.Int32).to_numpy() for c in ("occurred_on", "reported_on"))
    keep = on_file_mask(pol, START)
    want = [False, True, False, True, True, True, False]
    assert keep(f["event_type"], occ, rep).tolist() == want
    assert keep(f["event_type"].cast(pl.Enum(types)), occ, rep).tolist() == want
    assert keep(f["event_type"].cast(pl.Categorical), occ, rep).tolist() == want


@pytest.fixture(scope="module")
def world():
    cfg = SimConfig(policy="we-platform", people=4000, years=1.0, seed=5, world="synthetic", store=False)
    return make_world(cfg, 2.0)


def test_history_records_pass_the_error_model_and_linkage(world):
    d0 = pl.lit(START)
    truth = world.truth
    hist = truth.filter(pl.col("occurred_on") < d0)
    assert hist.height > world.truth.height * 0.5  # two years before, one in the run
    kinds = set(hist.filter(pl.col("erroneous"))["error_kind"].cast(pl.String).unique())
    assert {"namesake_merge", "false_name_match", "wrong_status", "duplicate", "stale_unpaid"} <= kinds
    assert world.seen.filter(pl.col("reported_on") < d0).height > 0
    # everything generated was linked or quarantined (linkage report counts the history too)
    assert world.linkage["records_in == linked + quarantined"] is True
    assert world.linkage["records_in"] == truth.height


def test_the_perfect_twin_gets_its_error_free_history(world):
    d0 = pl.lit(START)
    perfect = world.perfect.filter(pl.col("reported_on") < d0)
    assert perfect.height > 0
    # the twin's records are the true events: none of the added erroneous records are in it,
    # and each is attached to the person it is about
    added = world.truth.filter(pl.col("error_kind").cast(pl.String).is_in(["duplicate", "camera_error"]))
    assert perfect.join(added.select("record_id"), on="record_id").height == 0
    t = world.truth.filter(pl.col("true_citizen_id").is_not_null()).select("record_id", "true_citizen_id")
    j = perfect.join(t, on="record_id")
    assert (j["citizen_id"] == j["true_citizen_id"]).all()
    # the only true records the agencies' view lacks are payments that never arrived (stale debts)
    lost = perfect.join(t, on="record_id", how="anti")
    assert lost.height < perfect.height * 0.01
    assert set(lost["event_type"].cast(pl.String).unique()) <= {"enforcement.debt_paid"}


def test_the_first_month_starts_with_records_on_file(tmp_path):
    """A policy without dates: exit bans ruled before the start are in force on day one.
    Without history nobody is banned in the first month but those banned within it."""
    import yaml

    from socialrating.policy.load import read_policy_text

    raw = yaml.safe_load(read_policy_text("we-platform")[0])
    raw["name"] = "bans"
    raw["rules"] = [dict(r, valid_from=None) for r in raw["rules"] if r["id"] == "exit-ban"]
    raw["consequences"] = [c for c in raw["consequences"] if c["id"] == "no-exit"]
    raw["closures"] = []
    pol = tmp_path / "bans.yaml"
    pol.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    held = {}
    for h in (0.0, 1.0):
        out = tmp_path / f"h{h}"
        m = simulate(SimConfig(policy=str(pol), people=6000, years=0.25, seed=3, world="synthetic", store=False,
                               history_years=h), out)
        c = pl.read_parquet(out / "consequences.parquet").filter(
            (pl.col("scenario") == "actual") & (pl.col("start_month") == dt.date(2024, 7, 31)))
        held[h] = c.height
        assert m["history"]["years"] == h
    assert m["history"]["records_on_file_at_start"] > 0
    assert m["history"]["start"] == "2023-07-01"
    assert held[1.0] > 3 * max(held[0.0], 1)


def test_valid_from_still_decides_what_counts(tmp_path):
    out = tmp_path / "we"
    m = simulate(SimConfig(policy="we-platform", people=3000, years=0.5, seed=9, world="synthetic", store=False,
                           history_years=1.0), out)
    ev = pl.read_parquet(out / "events.parquet")
    early = ev.filter((pl.col("event_type").cast(pl.String) == "enforcement.proceeding")
                      & (pl.col("occurred_on") < dt.date(2024, 7, 1)))
    assert early.height > 0  # on file ...
    led = pl.read_parquet(out / "ledger.parquet")
    assert led.filter((pl.col("rule_id").cast(pl.String) == "enforcement")
                      & (pl.col("occurred_on") < dt.date(2025, 1, 1))).height == 0  # ... but not counted
    # stage-1 bonuses from before the start do count
    assert led.filter((pl.col("points") > 0) & (pl.col("occurred_on") < dt.date(2024, 7, 1))).height > 0
    # history no rule can count any more is not loaded, and is reported as such
    assert m["history"]["records_not_loaded"] > 0 and m["history"]["records_on_file_at_start"] > 0
    link = json.loads((out / "linkage.json").read_text())
    assert link["records_in == linked + quarantined"] is True
    assert "(0,) world" in m["seed_scheme"] and "one window from history_start" in m["seed_scheme"]


def test_cli_history_option(tmp_path):
    res = CliRunner().invoke(app, ["run", "--people", "1500", "--years", "0.25", "--history-years", "0.5",
                                   "--no-store", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["history"]["years"] == 0.5 and m["history"]["start"] == "2024-01-01"
    bad = CliRunner().invoke(app, ["run", "--people", "100", "--history-years", "-1", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "history-years" in bad.output


def test_same_seed_same_files_with_history(tmp_path):
    """Deterministic from the seed, history included: two runs give byte-identical files."""
    import hashlib

    cfg = SimConfig(policy="we-platform", people=2000, years=0.25, seed=21, world="synthetic", store=False,
                    history_years=1.0)
    for d in ("a", "b"):
        simulate(cfg, tmp_path / d)
    names = sorted(p.name for p in (tmp_path / "a").iterdir() if p.suffix in (".parquet", ".json"))
    assert "truth.parquet" in names and "events.parquet" in names
    for n in names:
        a = hashlib.sha256((tmp_path / "a" / n).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / "b" / n).read_bytes()).hexdigest()
        assert a == b, n
