"""The audit: hand-worked values on a ten-person run, fairlearn cross-check, bootstrap.

The tiny run (4 months, Jan-Apr 2025; built by `tiny_run`):

citizen district age sex decile area   status by month   no-credit (actual)        work-priority
 1      Central  30  F   1      urban  10 10 30 30       months 0-1                 -
 2      Central  30  F   1      urban  10 10 10 10       months 1-3 (+ via row 1)   -
 3      Central  40  M   2      rural  30 10 10 10       month 0; months 2-3        -
 4      Central  50  M   2      rural  50 50 50 50       -                          -
 5      Volga    30  F   3      urban  50 50 30 30       month 3                    -
 6      Volga    20  M   3      urban  70 90 90 90       -                          -
 7      Volga    70  F   4      rural  90 90 90 90       -                          -
 8      Volga    10  M   4      urban  50 50 50 50       -                          -
 9      Central  60  F   5      urban  90 70 70 70       -                          months 0-3
10      Volga    40  M   5      rural  70 70 70 70       -                          months 1-2
"""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import polars as pl
import pytest

from socialrating.audit import RunMismatchError, audit_run, compare_runs, load_run
from socialrating.audit._run import merge_spells, person_totals
from audit_fixture import synthetic_run, write_run
from socialrating.audit.groups import group_table

MONTHS = [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31), dt.date(2025, 4, 30)]
STATUS = {1: [10, 10, 30, 30], 2: [10, 10, 10, 10], 3: [30, 10, 10, 10], 4: [50] * 4, 5: [50, 50, 30, 30],
          6: [70, 90, 90, 90], 7: [90] * 4, 8: [50] * 4, 9: [90, 70, 70, 70], 10: [70] * 4}
NC = "no-credit"
WP = "work-priority"


def _spell(cid, scen, cons, t0, months, n_months=4, via=None):
    kind = "restriction" if cons == NC else "privilege"
    ctx = "credit" if cons == NC else "employment"
    end = None if t0 + months >= n_months else MONTHS[t0 + months]
    return {"citizen_id": cid, "scenario": scen, "consequence_id": cons, "kind": kind, "context": ctx,
            "start_month": MONTHS[t0], "end_month": end, "months": months, "via_citizen_id": via}


def tiny_run(path, status=STATUS, spells=None, seed=7, people=10):
    citizens = pl.DataFrame({
        "citizen_id": list(range(1, 11)),
        "district": ["Central"] * 4 + ["Volga"] * 4 + ["Central", "Volga"],
        "age": [30, 30, 40, 50, 30, 20, 70, 10, 60, 40],
        "sex": ["F", "F", "M", "M", "F", "M", "F", "M", "F", "M"],
        "income_decile": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
        "urban": [True, True, False, False, True, True, False, True, True, False],
    })
    ratings = pl.DataFrame({
        "citizen_id": [c for c in status for _ in MONTHS], "month": MONTHS * len(status),
        "balance_status": [0] * 40, "balance_level": [0] * 40,
        "status": [s for c in status for s in status[c]], "level": [s for c in status for s in status[c]],
    })
    if spells is None:
        spells = [
            _spell(1, "actual", NC, 0, 2), _spell(2, "actual", NC, 1, 3), _spell(2, "actual", NC, 1, 1, via=1),
            _spell(3, "actual", NC, 0, 1), _spell(3, "actual", NC, 2, 2), _spell(5, "actual", NC, 3, 1),
            _spell(9, "actual", WP, 0, 4), _spell(10, "actual", WP, 1, 2),
            _spell(1, "perfect_data", NC, 0, 2), _spell(3, "perfect_data", NC, 2, 2),
            _spell(5, "perfect_data", NC, 3, 1),
            _spell(9, "perfect_data", WP, 0, 4), _spell(10, "perfect_data", WP, 1, 2),
            _spell(1, "no_feedback", NC, 0, 1), _spell(2, "no_feedback", NC, 1, 3), _spell(3, "no_feedback", NC, 0, 1),
            _spell(9, "no_feedback", WP, 0, 4), _spell(10, "no_feedback", WP, 1, 2),
        ]
    wrongful = pl.DataFrame({
        "citizen_id": [1, 2, 3, 5, 9, 10], "consequence_id": [NC, NC, NC, NC, WP, WP],
        "months_actual": [2, 3, 3, 1, 4, 2], "months_perfect_data": [2, 0, 2, 1, 4, 2],
        "months_no_feedback": [1, 3, 1, 0, 4, 2], "wrongful_months": [0, 3, 1, 0, 0, 0],
        "feedback_months": [1, 0, 2, 1, 0, 0], "error_sources": ["", "bank,courts", "bank", "", "", ""],
    })
    manifest = {"people": people, "months": 4, "start": "2025-01-01", "as_of": "2025-05-01", "seed": seed,
                "policy": {"name": "tiny", "version": "1", "sha256": "0" * 64}, "counts": {},
                "lint": [{"severity": "warning", "code": "x", "target": "t", "message": "m", "anchor": "a"}]}
    return write_run(path, citizens=citizens, ratings=ratings, consequences=pl.DataFrame(spells),
                     wrongful=wrongful, manifest=manifest)


def row(t: pl.DataFrame, cid: str, dim: str, group: str) -> dict:
    r = t.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == dim) & (pl.col("group") == group))
    assert r.height == 1, (cid, dim, group, r)
    return r.row(0, named=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_audit(tiny):
    return audit_run(tiny, min_group_size=1, replicates=200)


# ---------------------------------------------------------------- reading
def test_schema_contract_written_types(tiny):
    s = pl.read_parquet_schema(tiny / "consequences.parquet")
    assert s["scenario"] == pl.Enum(["actual", "perfect_data", "no_feedback", "no_appeals"])
    assert s["months"] == pl.Int16 and s["consequence_id"] == pl.String
    c = pl.read_parquet_schema(tiny / "citizens.parquet")
    assert c["income_decile"] == pl.Int8 and c["household_id"] == pl.Int32 and isinstance(c["district"], pl.Enum)


def test_missing_column_is_a_clear_error(tmp_path):
    p = tiny_run(tmp_path / "r")
    pl.read_parquet(p / "ratings.parquet").drop("status").write_parquet(p / "ratings.parquet")
    with pytest.raises(ValueError, match="ratings.parquet: missing column 'status'"):
        load_run(p)


def test_unreadable_files_are_one_clear_error(tmp_path):
    from typer.testing import CliRunner

    from socialrating.cli import app

    p = tiny_run(tmp_path / "r")
    (p / "consequences.parquet").write_bytes(b"not parquet")
    res = CliRunner().invoke(app, ["audit", str(p)])
    assert res.exit_code == 2 and res.exception is None or isinstance(res.exception, SystemExit)
    out = " ".join(res.output.split())
    assert "consequences.parquet: not a readable Parquet file" in out and "Traceback" not in out
    (p / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match=r"manifest.json: not valid JSON"):
        load_run(p)


def test_merge_spells_overlap_and_any():
    s = pl.DataFrame({"k": [1, 1, 1, 2], "t0": [0, 1, 5, 0], "t1": [3, 2, 6, 1]})
    m = merge_spells(s, ["k"])
    assert m.rows() == [(1, 0, 3), (1, 5, 6), (2, 0, 1)]


def test_person_totals_merge_household_duplicate(tiny):
    run = load_run(tiny)
    t = person_totals(run.consequences).filter(pl.col("consequence_id") == NC).sort("citizen_id")
    assert t.select("citizen_id", "months").rows() == [(1, 2), (2, 3), (3, 3), (5, 1)]


# ---------------------------------------------------------------- groups
def test_overall_and_headline(tiny_audit):
    g = tiny_audit["groups"]
    o = row(g, NC, "overall", "all")
    assert (o["n"], o["affected"], o["rate"], o["mean_months"]) == (10, 4, 0.4, 2.25)
    assert o["ratio_overall"] == 1.0 and o["four_fifths"] is None and o["harm_flag"] is None
    h = tiny_audit.headline
    # no child (citizen 8) is under any restriction in their own right: adults are the denominator
    assert h["restricted_people"] == 4 and h["restricted_share"] == 4 / 9 and h["privileged_people"] == 2
    assert h["restricted_share_of"] == "adults" and h["restricted_at_end_people"] == 3


def test_figures_by_hand(tiny_audit):
    """Every figure of audit/figures.py on the tiny run, worked out from the table above:
    no-credit in the actual run: 1 in months 0-1, 2 in 1-3 (own and via 1), 3 in 0 and 2-3,
    5 in 3; with correct records: 1 in 0-1, 3 in 2-3, 5 in 3; without feedback: 1 in 0,
    2 in 1-3, 3 in 0."""
    f = tiny_audit["figures"].filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (f["at_end"], f["at_end_via_household"], f["ever"], f["person_months"]) == (3, 0, 4, 9)
    assert (f["wrongly"], f["wrongful_months"]) == (1, 3)  # citizen 2, never under it with correct records
    assert (f["longer"], f["longer_months"]) == (1, 1)  # citizen 3, month 0
    assert f["feedback_months"] == 4  # 1: month 1; 3: months 2, 3; 5: month 3
    assert f["prevented_by_appeals"] is None  # the run has no no-appeals scenario
    assert f["adult_only"] and f["population"] == 9
    w = tiny_audit["figures"].filter(pl.col("consequence_id") == WP).row(0, named=True)
    assert (w["at_end"], w["ever"], w["person_months"], w["wrongly"], w["feedback_months"]) == (1, 2, 6, 0, 0)
    j = tiny_audit.figures["consequences"][NC]
    assert j["wrongly"] == {"value": 1, "label": "people wrongly under no-credit"}
    assert tiny_audit.figures["consequences"]["any-restriction"]["ever"]["label"] == \
        "people ever under any restriction"
    ot = tiny_audit["wrongly_over_time"].filter(pl.col("consequence_id") == NC).sort("t")
    assert ot["people"].to_list() == [1, 1, 1, 1]  # 3 in month 0, then 2 in months 1-3


def test_via_household_at_end(tmp_path):
    spells = [_spell(1, "actual", NC, 0, 4), _spell(2, "actual", NC, 2, 2, via=1), _spell(3, "actual", NC, 3, 1),
              _spell(3, "actual", NC, 3, 1, via=1)]
    a = audit_run(tiny_run(tmp_path / "r", spells=spells), min_group_size=1, replicates=10, write=False)
    f = a["figures"].filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (f["at_end"], f["at_end_via_household"], f["ever"], f["person_months"]) == (3, 1, 3, 7)


def test_district_rates_ratios_flags(tiny_audit):
    g = tiny_audit["groups"]
    c, v = row(g, NC, "district", "Central"), row(g, NC, "district", "Volga")
    assert (c["n"], c["affected"], c["rate"]) == (5, 3, 0.6)
    assert (v["n"], v["affected"], v["rate"]) == (5, 1, 0.2)
    assert c["ratio_overall"] == pytest.approx(1.5) and v["ratio_overall"] == pytest.approx(0.5)
    # standard rule on the favourable outcome (free of it): 0.4 / 0.8 and 0.8 / 0.8
    assert c["impact_ratio"] == pytest.approx(0.5) and c["four_fifths"] is True
    assert v["impact_ratio"] == pytest.approx(1.0) and v["four_fifths"] is False
    # harm test: lowest rate 0.2; Central 0.6 / 0.2 = 3, flagged since 0.2 < 0.8 * 0.6
    assert c["harm_ratio"] == pytest.approx(3.0) and c["harm_flag"] is True
    assert v["harm_ratio"] == pytest.approx(1.0) and v["harm_flag"] is False
    assert c["mean_months"] == pytest.approx(8 / 3) and v["mean_months"] == 1.0
    # privilege: both districts 1 of 5
    pc, pv = row(g, WP, "district", "Central"), row(g, WP, "district", "Volga")
    assert pc["rate"] == pv["rate"] == 0.2 and pc["impact_ratio"] == 1.0 and pc["four_fifths"] is False


def test_age_bands_children_and_zero_reference(tiny_audit):
    g = tiny_audit["groups"]
    groups = g.filter((pl.col("consequence_id") == NC) & (pl.col("dimension") == "age_band"))["group"].to_list()
    assert groups == ["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    a = row(g, NC, "age_band", "25-34")
    assert (a["n"], a["affected"], a["rate"]) == (3, 3, 1.0)
    assert row(g, NC, "age_band", "35-44")["rate"] == 0.5
    # lowest adult rate is 0: the ratio is undefined, the flag still fires for any rate above 0
    assert a["harm_ratio"] is None and a["harm_flag"] is True
    assert row(g, NC, "age_band", "45-54")["harm_flag"] is False
    # favourable rates: best is 1.0 (nobody restricted); 25-34 has 0 -> impact 0, 35-44 -> 0.5
    assert a["impact_ratio"] == 0.0 and row(g, NC, "age_band", "35-44")["impact_ratio"] == 0.5
    child = row(g, NC, "age_band", "under 18")
    assert child["n"] == 1 and child["rate"] == 0.0


def test_intersection_sex_by_age(tiny_audit):
    g = tiny_audit["groups"]
    r = row(g, NC, "sex x age_band", "F x 25-34")
    assert (r["n"], r["affected"], r["rate"]) == (3, 3, 1.0)
    r = row(g, NC, "district x area", "Central x rural")
    assert (r["n"], r["affected"]) == (2, 1)


def test_harm_clear_needs_the_interval(tiny_audit, synth):
    g = tiny_audit["groups"]
    c = row(g, NC, "district", "Central")
    # flagged, but with 5 people the ratio's interval reaches below 1
    assert c["harm_flag"] is True and c["ratio_lo"] <= 1 and c["harm_clear"] is False
    big = audit_run(synth, replicates=200, write=False)["groups"].filter(~pl.col("suppressed"))
    clear = big.filter(pl.col("harm_clear") & (pl.col("kind") == "restriction"))
    assert clear.height > 0 and clear["harm_flag"].all() and (clear["ratio_lo"] > 1).all()


def test_suppression(tiny):
    a = audit_run(tiny, min_group_size=2, replicates=50, write=False)
    g = a["groups"]
    s = row(g, NC, "age_band", "18-24")
    assert s["suppressed"] is True and s["n"] == 1
    assert all(s[k] is None for k in ("affected", "rate", "rate_lo", "ratio_overall", "four_fifths", "harm_flag"))
    # reference now only the unsuppressed adult bands 25-34 (1.0) and 35-44 (0.5)
    a1, a2 = row(g, NC, "age_band", "25-34"), row(g, NC, "age_band", "35-44")
    assert a1["harm_ratio"] == 2.0 and a1["harm_flag"] is True
    assert a2["harm_ratio"] == 1.0 and a2["harm_flag"] is False
    assert a1["impact_ratio"] == 0.0 and a2["impact_ratio"] == 1.0
    assert row(g, NC, "overall", "all")["suppressed"] is False
    assert a.tables["groups"].filter(pl.col("suppressed"))["rate"].null_count() == g["suppressed"].sum()


def test_default_threshold_suppresses_small_groups(tiny):
    g = audit_run(tiny, replicates=20, write=False)["groups"]
    assert g.filter(pl.col("dimension") != "overall")["suppressed"].all()
    assert g.filter(pl.col("dimension") == "overall")["rate"].null_count() == 0


# ---------------------------------------------------------------- wrongful
def test_wrongful_counts(tiny_audit):
    # the simulation's own monthly counters (wrongful.parquet), summarised directly
    from socialrating.audit.wrongful import wrongful_summary
    w = wrongful_summary(load_run(tiny_audit.run_dir)).filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (w["people"], w["person_months"]) == (4, 9)
    assert (w["wrongful_people"], w["wrongful_person_months"]) == (1, 3)
    assert (w["extended_people"], w["extended_person_months"], w["all_wrongful_months"]) == (1, 1, 4)
    assert (w["feedback_people"], w["feedback_only_people"], w["feedback_person_months"]) == (3, 1, 4)
    assert w["wrongful_share"] == 0.25 and w["feedback_months_share"] == pytest.approx(4 / 9)
    h = tiny_audit.headline
    assert h["wrongly_restricted_people"] == 1 and h["restriction_months_added_by_feedback"] == 4


def test_wrongful_by_source_and_group(tiny_audit):
    s = tiny_audit["wrongful_sources"].filter(pl.col("consequence_id") == NC).sort("source")
    assert s.select("source", "wrongful_people", "wrongful_person_months", "extended_people",
                    "extended_person_months").rows() == [("bank", 1, 3, 1, 1), ("courts", 1, 3, 0, 0)]
    g = tiny_audit["wrongful_groups"]
    assert row(g, NC, "district", "Central")["affected"] == 1 and row(g, NC, "district", "Central")["rate"] == 0.2
    assert row(g, NC, "district", "Volga")["affected"] == 0


def test_scenarios_and_over_time(tiny_audit):
    sc = tiny_audit["scenarios"].filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (sc["people_actual"], sc["person_months_actual"]) == (4, 9)
    assert (sc["people_perfect_data"], sc["person_months_perfect_data"]) == (3, 5)
    assert (sc["people_no_feedback"], sc["person_months_no_feedback"]) == (3, 5)
    ot = tiny_audit["over_time"].filter((pl.col("consequence_id") == NC) & (pl.col("scenario") == "actual"))
    assert ot.sort("t")["people"].to_list() == [2, 2, 2, 3]
    assert ot.sort("t")["month"].to_list() == MONTHS


# ---------------------------------------------------------------- mobility
def test_transition_first_last(tiny_audit):
    m = tiny_audit["transitions_first_last"]
    got = {(r["from_index"], r["to_index"]): r["people"] for r in m.iter_rows(named=True) if r["people"]}
    assert got == {(0, 0): 1, (0, 1): 1, (1, 0): 1, (2, 2): 2, (2, 1): 1, (3, 4): 1, (3, 3): 1, (4, 4): 1, (4, 3): 1}
    assert m.height == 25
    r = m.filter((pl.col("from_band") == "40-59") & (pl.col("to_band") == "40-59")).row(0, named=True)
    assert r["share"] == pytest.approx(2 / 3)
    h = tiny_audit.headline
    assert (h["started_in_worst_band"], h["still_in_worst_band"], h["still_in_worst_band_share"]) == (2, 1, 0.5)


def test_transition_monthly(tiny_audit):
    m = tiny_audit["transitions_monthly"]
    got = {(r["from_index"], r["to_index"]): r["pooled"] for r in m.iter_rows(named=True) if r["pooled"]}
    assert got == {(0, 0): 6, (0, 1): 1, (1, 0): 1, (1, 1): 2, (2, 1): 1, (2, 2): 7, (3, 4): 1, (4, 4): 5,
                   (4, 3): 1, (3, 3): 5}
    r = m.filter((pl.col("from_index") == 0) & (pl.col("to_index") == 0)).row(0, named=True)
    assert r["people_per_month"] == 2.0 and r["share"] == pytest.approx(6 / 7)


def test_recovery_kaplan_meier(tiny_audit):
    # spells: c1 2 months ended, c2 3 censored (own + overlapping via row), c3 1 ended + 2 censored, c5 1 censored
    r = tiny_audit["recovery"].filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (r["spells"], r["ended"], r["censored"]) == (5, 2, 3)
    assert r["still_after_3"] == pytest.approx(0.8 * 2 / 3)
    assert r["still_after_6"] is None and r["median_months"] is None
    c = tiny_audit["recovery_curve"].filter(pl.col("consequence_id") == NC).sort("months")
    assert c["at_risk"].to_list() == [5, 5, 3, 1]
    assert c["still_restricted"].to_list() == pytest.approx([1.0, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3])


def test_writes_audit_folder(tiny, tiny_audit):
    doc = json.loads((tiny / "audit.json").read_text())
    assert doc["headline"]["restricted_people"] == 4
    for name in tiny_audit.tables:
        assert (tiny / "audit" / f"{name}.parquet").exists()
    back = pl.read_parquet(tiny / "audit" / "groups.parquet")
    assert back.equals(tiny_audit["groups"])


# ---------------------------------------------------------------- compare
def test_compare_by_hand(tmp_path, tiny):
    status = {**STATUS, 2: [10, 10, 10, 30], 3: [30, 10, 10, 0]}
    b = tiny_run(tmp_path / "b", status=status, spells=[_spell(3, "actual", NC, 2, 2)])
    c = compare_runs(tiny, b, min_group_size=1, replicates=20)
    s = c.summary
    assert (s["winners"], s["losers"], s["unchanged"]) == (1, 1, 8)
    assert dict(c["status_change"].rows()) == {-10: 1, 0: 8, 20: 1}
    assert s["changes"]["any-restriction"] == {"gained": 0, "lost": 3}
    assert s["changes"]["any-privilege"] == {"gained": 0, "lost": 2}
    bt = c["band_transitions"]
    assert bt.filter((pl.col("from_band") == "00-19") & (pl.col("to_band") == "20-39"))["people"].item() == 1
    ch = c["changes_by_group"]
    r = ch.filter((pl.col("outcome") == "any-restriction") & (pl.col("group") == "Central")).row(0, named=True)
    assert (r["lost"], r["gained"], r["lost_rate"]) == (2, 0, 0.4)


def test_compare_refuses_different_seed_or_people(tmp_path, tiny):
    with pytest.raises(RunMismatchError, match="different seed"):
        compare_runs(tiny, tiny_run(tmp_path / "s", seed=8))
    with pytest.raises(RunMismatchError, match="different people"):
        compare_runs(tiny, tiny_run(tmp_path / "p", people=11))


def test_compare_synthetic_shift(tmp_path):
    a = synthetic_run(tmp_path / "a", people=1500, months=12, seed=3)
    b = synthetic_run(tmp_path / "b", people=1500, months=12, seed=3, shift=5)
    c = compare_runs(a, b, replicates=50)
    s = c.summary
    assert s["losers"] == 0 and s["winners"] > 0 and s["winners"] + s["unchanged"] == 1500
    assert c["status_change"]["people"].sum() == 1500
    ra = load_run(a).consequences.filter((pl.col("scenario") == "actual") & (pl.col("kind") == "restriction"))
    rb = load_run(b).consequences.filter((pl.col("scenario") == "actual") & (pl.col("kind") == "restriction"))
    lost = set(ra["citizen_id"]) - set(rb["citizen_id"])
    assert s["changes"]["any-restriction"]["lost"] == len(lost)


# ---------------------------------------------------------------- fairlearn and the bootstrap
@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("synth") / "run", people=3000, months=18, seed=11)


def test_matches_fairlearn_metricframe(synth):
    try:
        import fairlearn.metrics as fairlearn
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("fairlearn is not installed (a dev dependency: pip install fairlearn)")
        pytest.skip("fairlearn is not installed")
    run = load_run(synth)
    totals = person_totals(run.consequences)
    kinds = {"any-restriction": "restriction", NC: "restriction", "work-priority": "privilege"}
    g = group_table(run.citizens, totals, kinds, min_group_size=1, replicates=10,
                    intersections=[("sex", "age_band")])
    cit = run.citizens.sort("citizen_id")
    for cid in kinds:
        hit = set(totals.filter(pl.col("consequence_id") == cid)["citizen_id"].to_list())
        y = np.isin(cit["citizen_id"].to_numpy(), list(hit)).astype(int)
        for dim in ("district", "income_decile", "sex"):
            mf = fairlearn.MetricFrame(metrics={"rate": fairlearn.selection_rate, "n": fairlearn.count},
                                       y_true=y, y_pred=y, sensitive_features=cit[dim].to_list())
            ours = g.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == dim))
            by = mf.by_group
            for r in ours.iter_rows(named=True):
                assert r["rate"] == pytest.approx(by.loc[r["group"], "rate"])
                assert r["n"] == by.loc[r["group"], "n"]
            assert row(g, cid, "overall", "all")["rate"] == pytest.approx(mf.overall["rate"])
            # fairlearn's 'to_overall' ratio puts the larger value below: min(r, 1/r)
            to_overall = mf.ratio(method="to_overall")["rate"]
            ratios = [min(x, 1 / x) if x else 0.0 for x in ours["ratio_overall"].to_list()]
            assert min(ratios) == pytest.approx(to_overall)
            between = mf.ratio(method="between_groups")["rate"]
            assert ours["rate"].min() / ours["rate"].max() == pytest.approx(between)
            # fairlearn's demographic parity on the favourable outcome = our lowest impact ratio
            fav = mf.by_group["rate"] if kinds[cid] == "privilege" else 1 - mf.by_group["rate"]
            assert ours["impact_ratio"].min() == pytest.approx(fav.min() / fav.max())
        mf2 = fairlearn.MetricFrame(metrics=fairlearn.selection_rate, y_true=y, y_pred=y,
                                    sensitive_features={"sex": cit["sex"].to_list(), "age": cit["age_band"].to_list()})
        ours = g.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == "sex x age_band"))
        for r in ours.iter_rows(named=True):
            sex, age = r["group"].split(" x ")
            assert r["rate"] == pytest.approx(mf2.by_group.loc[(sex, age)])


def test_bootstrap_contains_estimate_and_is_reproducible(synth):
    a1 = audit_run(synth, replicates=300, seed=5, write=False)["groups"]
    a2 = audit_run(synth, replicates=300, seed=5, write=False)["groups"]
    a3 = audit_run(synth, replicates=300, seed=6, write=False)["groups"]
    assert a1.equals(a2)
    assert not a1["rate_lo"].equals(a3["rate_lo"])
    shown = a1.filter(~pl.col("suppressed"))
    assert shown.height > 100
    assert (shown["rate_lo"] <= shown["rate"]).all() and (shown["rate"] <= shown["rate_hi"]).all()
    r = shown.filter(pl.col("ratio_lo").is_not_null())
    assert (r["ratio_lo"] <= r["ratio_overall"] + 1e-12).all() and (r["ratio_overall"] <= r["ratio_hi"] + 1e-12).all()
    # intervals shrink with group size: sex (about 1,500 each) narrower than an income decile (about 300)
    anyr = shown.filter(pl.col("consequence_id") == "any-restriction")
    w = anyr.with_columns((pl.col("rate_hi") - pl.col("rate_lo")).alias("w"))
    assert w.filter(pl.col("dimension") == "sex")["w"].max() < w.filter(pl.col("dimension") == "income_decile")["w"].min()
    # the default seed is the run's seed: same intervals without passing one
    assert audit_run(synth, replicates=300, write=False)["groups"].equals(
        audit_run(synth, replicates=300, seed=11, write=False)["groups"])


def test_synthetic_run_is_consistent(synth):
    run = load_run(synth)
    w = run.wrongful
    assert (w["wrongful_months"] <= w["months_actual"]).all()
    assert w.filter(pl.col("wrongful_months") > 0)["error_sources"].str.len_chars().min() > 0
    a = audit_run(synth, replicates=50, write=False)
    assert a.headline["restricted_people"] > 0 and a.headline["wrongly_restricted_people"] > 0


def test_audits_the_simulation_output(tmp_path):
    """The contract with socialrating.simulate: its run folder audits and the numbers agree
    with a direct count."""
    sim = pytest.importorskip("socialrating.simulate.simulation")
    out = tmp_path / "sim"
    sim.simulate(sim.SimConfig(people=1500, years=1.0, seed=3, store=False, world="synthetic"), out)
    a = audit_run(out, replicates=50)
    c = pl.read_parquet(out / "consequences.parquet").filter(
        (pl.col("scenario") == "actual") & (pl.col("kind") == "restriction"))
    assert a.headline["restricted_people"] == c["citizen_id"].n_unique()
    assert a.headline["citizens"] == 1500
    run = load_run(out)
    assert run.scenarios[0] == "actual" and set(run.scenarios) <= {"actual", "perfect_data", "no_feedback",
                                                                   "no_appeals"}
    # an independent oracle: the simulation's own monthly counters (wrongful.parquet) give, per
    # consequence, the same figures as the spells of consequences.parquet do
    w = pl.read_parquet(out / "wrongful.parquet").with_columns(
        ((pl.col("wrongful_months") > 0) & (pl.col("months_perfect_data") == 0)).alias("wholly"))
    oracle = w.with_columns(pl.col("consequence_id").cast(pl.String)).group_by("consequence_id").agg(
        pl.col("citizen_id").filter(pl.col("wholly")).n_unique().alias("wrongly"),
        pl.col("wrongful_months").filter(pl.col("wholly")).sum().alias("wrongful_months"),
        pl.col("citizen_id").filter(~pl.col("wholly") & (pl.col("wrongful_months") > 0)).n_unique().alias("longer"),
        pl.col("wrongful_months").filter(~pl.col("wholly")).sum().alias("longer_months"),
        pl.col("feedback_months").sum(), pl.col("appeals_prevented_months").sum().alias("prevented_by_appeals"),
        pl.col("months_actual").sum().alias("person_months"))
    cols = list(oracle.columns)
    got = a["figures"].filter(~pl.col("consequence_id").str.starts_with("any-")).select(cols)
    want = got.select("consequence_id").join(oracle, on="consequence_id", how="left").fill_null(0)
    assert got.sort("consequence_id").rows() == want.cast({c: pl.Int64 for c in cols[1:]}).sort(
        "consequence_id").rows()
    assert w["wrongful_months"].sum() > 0  # the comparison is not vacuous
    # any restriction: under one in the run, under none with correct records
    perfect = pl.read_parquet(out / "consequences.parquet").filter(
        (pl.col("scenario") == "perfect_data") & (pl.col("kind") == "restriction"))
    wrongly = set(c["citizen_id"].to_list()) - set(perfect["citizen_id"].to_list())
    assert a.headline["wrongly_restricted_people"] == len(wrongly)


def test_extra_scenarios_are_reported(tmp_path):
    spells = [_spell(1, "actual", NC, 0, 2), _spell(1, "no_appeals", NC, 0, 4), _spell(2, "no_appeals", NC, 1, 3)]
    p = tiny_run(tmp_path / "r", spells=spells)
    a = audit_run(p, min_group_size=1, replicates=20, write=False)
    sc = a["scenarios"].filter(pl.col("consequence_id") == NC).row(0, named=True)
    assert (sc["people_actual"], sc["people_no_appeals"], sc["people_removed_by_appeals"]) == (1, 2, 1)
    assert sc["person_months_removed_by_appeals"] == 7 - 2
    assert "people_perfect_data" not in sc
    ot = a["over_time"].filter((pl.col("scenario") == "no_appeals") & (pl.col("consequence_id") == NC))
    assert ot.sort("t")["people"].to_list() == [1, 2, 2, 2]


def test_wrongful_group_flags(synth):
    """Flags need the interval above the overall rate and a large enough cell; adult-only
    consequences are measured on adults (no under-18 rows, overall n = adults)."""
    from socialrating.audit.wrongful import MIN_EXPECTED

    a = audit_run(synth, replicates=100, write=False)
    g = a["wrongful_groups"]
    o = g.filter(pl.col("dimension") == "overall").select("consequence_id", pl.col("rate").alias("o"),
                                                           pl.col("n").alias("on"))
    j = g.join(o, on="consequence_id")
    flagged = j.filter(pl.col("flag_clear").fill_null(False))
    assert flagged.filter((pl.col("rate_lo") <= pl.col("o")) & (pl.col("kind") == "restriction")).height == 0
    assert flagged.filter(pl.col("n") * pl.col("o") < MIN_EXPECTED).height == 0
    assert flagged.filter(pl.col("rate") == 0).height == 0 and flagged.filter(pl.col("suppressed")).height == 0
    # an unflagged, unsuppressed restriction row with the interval above and a big enough cell does not exist
    missed = j.filter(~pl.col("flag_clear").fill_null(False) & ~pl.col("suppressed") & (pl.col("dimension") != "overall")
                      & (pl.col("kind") == "restriction") & (pl.col("rate_lo") > pl.col("o"))
                      & (pl.col("n") * pl.col("o") >= MIN_EXPECTED))
    assert missed.height == 0
    f = a["figures"]
    adults = a.headline["adults"]
    for cid in f.filter(pl.col("adult_only"))["consequence_id"].to_list():
        rows = j.filter(pl.col("consequence_id") == cid)
        assert rows["on"][0] == adults and rows.filter(pl.col("group").str.contains("under 18")).height == 0
    # the group table's overall count is the figure 'wrongly'
    w = f.select("consequence_id", "wrongly").join(
        g.filter(pl.col("dimension") == "overall").select("consequence_id", "affected"), on="consequence_id")
    assert (w["wrongly"] == w["affected"]).all()
