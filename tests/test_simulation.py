"""The monthly simulation: paired scenarios, spells and determinism."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from socialrating.policy.load import builtin_path
from socialrating.simulate.feedback import FeedbackModel, parse_feedback
from socialrating.simulate.simulation import Feedback, SimConfig, simulate
from socialrating.store.runfolder import FILES

CFG = SimConfig(policy="we-platform", people=3000, years=1.5, seed=11, store=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(CFG, out)
    return out


def test_without_source_errors_nothing_is_wrongful(run_dir):
    w = pl.read_parquet(run_dir / "wrongful.parquet")
    assert w.height > 0
    assert w["wrongful_months"].sum() == 0
    assert (w["months_actual"] == w["months_perfect_data"]).all()


def test_spells_add_up_to_the_months_counted(run_dir):
    spells = pl.read_parquet(run_dir / "consequences.parquet").filter(pl.col("via_citizen_id").is_null())
    w = pl.read_parquet(run_dir / "wrongful.parquet")
    per = spells.group_by("scenario", "citizen_id", "consequence_id").agg(pl.col("months").sum())
    for scen, col in (("actual", "months_actual"), ("no_feedback", "months_no_feedback")):
        got = per.filter(pl.col("scenario") == scen).select("citizen_id", "consequence_id", "months")
        want = w.filter(pl.col(col) > 0).select("citizen_id", "consequence_id", pl.col(col).cast(pl.Int16).alias("months"))
        assert got.sort("citizen_id", "consequence_id").equals(want.sort("citizen_id", "consequence_id"))


def test_feedback_months_are_counted_against_no_feedback(run_dir):
    w = pl.read_parquet(run_dir / "wrongful.parquet")
    # feedback can only add months where the actual run holds and the no-feedback run did not
    assert (w["feedback_months"] <= w["months_actual"]).all()
    assert (w["feedback_months"] >= w["months_actual"] - w["months_no_feedback"]).all()


def test_panel_and_final_recompute_agree(run_dir):
    import json

    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["checks"]["events_in == accepted + quarantined"] is True
    n = m["people"]
    assert m["checks"]["final status: monthly engine == full recompute (citizens agreeing)"] == f"{n} of {n}"
    panel = pl.read_parquet(run_dir / "ratings.parquet")
    assert panel.height == n * m["months"]
    assert panel["month"].n_unique() == m["months"]


def test_no_feedback_when_feedback_is_off(tmp_path):
    cfg = dataclasses.replace(CFG, people=1500, feedback=Feedback({"credit": 0.0, "employment": 0.0}))
    simulate(cfg, tmp_path)
    w = pl.read_parquet(tmp_path / "wrongful.parquet")
    assert w["feedback_months"].sum() == 0
    assert (w["months_actual"] == w["months_no_feedback"]).all()


def test_same_seed_gives_byte_identical_files(tmp_path):
    cfg = dataclasses.replace(CFG, people=1000, years=0.5)
    simulate(cfg, tmp_path / "a")
    simulate(cfg, tmp_path / "b")
    for f in sorted((tmp_path / "a").iterdir()):
        if f.is_file():
            a = hashlib.sha256(f.read_bytes()).hexdigest()
            b = hashlib.sha256((tmp_path / "b" / f.name).read_bytes()).hexdigest()
            assert a == b, f.name


def test_strong_credit_feedback_adds_restriction_months(tmp_path):
    # no history: with years of bonuses on file few of 3,000 basic-world people are restricted
    # in 18 months, too few for feedback to show; the mechanism is what is tested here
    cfg = dataclasses.replace(CFG, people=3000, history_years=0.0,
                              feedback=Feedback({"credit": 30.0, "employment": 0.0}))
    m = simulate(cfg, tmp_path)
    assert m["counts"]["feedback_records_by_scenario"]["actual"] > 0
    assert m["counts"]["feedback_records_by_scenario"]["no_feedback"] == 0
    w = pl.read_parquet(tmp_path / "wrongful.parquet").filter(pl.col("kind") == "restriction")
    assert w["feedback_months"].sum() > 0
    assert w["months_actual"].sum() > w["months_no_feedback"].sum()


@pytest.fixture(scope="module")
def sr_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sr")
    simulate(dataclasses.replace(CFG, people=6000, years=1.0, world="synthetic"), out)
    return out


def test_synthetic_world_counts_wrongful_months_and_appeals(sr_dir):
    import json

    m = json.loads((sr_dir / "manifest.json").read_text())
    link = json.loads((sr_dir / "linkage.json").read_text())
    assert link["records_in == linked + quarantined"] is True
    assert m["counts"]["appeals_by_scenario"]["no_appeals"]["contested"] == 0
    assert m["counts"]["appeals_by_scenario"]["actual"]["contested"] > 0
    w = pl.read_parquet(sr_dir / "wrongful.parquet")
    assert w["wrongful_months_no_appeals"].sum() > 0  # erroneous records do restrict people
    # months prevented by appeals are wrongful months of the no-appeals run that the actual run avoided
    assert (w["appeals_prevented_months"] <= w["wrongful_months_no_appeals"]).all()
    assert (w["wrongful_months_no_appeals"] - w["appeals_prevented_months"] <= w["wrongful_months"]).all()
    truth = pl.read_parquet(sr_dir / "truth.parquet")
    assert truth["erroneous"].sum() > 0


def test_household_spillover_rows_point_to_a_holder_in_the_same_household(tmp_path):
    simulate(dataclasses.replace(CFG, policy="court-blacklist", people=4000, years=1.0), tmp_path)
    c = pl.read_parquet(tmp_path / "consequences.parquet").filter(pl.col("scenario") == "actual")
    via = c.filter(pl.col("via_citizen_id").is_not_null())
    assert via.height > 0 and set(via["consequence_id"]) == {"no-fee-schools"}
    hh = pl.read_parquet(tmp_path / "citizens.parquet").select("citizen_id", "household_id")
    j = (via.join(hh, on="citizen_id").join(hh.rename({"citizen_id": "via_citizen_id", "household_id": "via_hh"}),
                                            on="via_citizen_id"))
    assert (j["household_id"] == j["via_hh"]).all()
    own = c.filter(pl.col("via_citizen_id").is_null() & (pl.col("consequence_id") == "no-fee-schools"))
    # the person it came via held it in their own right when the spill-over began
    # (one of their own spells covers its start: with records on file from the history, a
    # person often has several spells, so each spill-over row is matched to any of them)
    k = via.with_row_index("row").join(own.select(pl.col("citizen_id").alias("via_citizen_id"), pl.col("start_month").alias("s0"),
                                                  pl.col("end_month").alias("e0")), on="via_citizen_id")
    covers = (k["s0"] <= k["start_month"]) & (k["e0"].is_null() | (k["e0"] > k["start_month"]))
    assert k.with_columns(covers=covers).group_by("row").agg(pl.col("covers").any())["covers"].all()
    assert k["row"].n_unique() == via.height


def _matches_contract(folder: Path) -> list[str]:
    """Every file of the run folder against the contract (store/runfolder.py FILES)."""
    problems = []
    for f in FILES.values():
        path = folder / f.file
        if not path.exists():
            problems += [] if f.optional else [f"{f.file} missing"]
        elif path.suffix == ".parquet":
            problems += f.problems(dict(pl.read_parquet_schema(path)))
    return problems


def test_run_folders_keep_the_contract(run_dir, sr_dir):
    assert _matches_contract(run_dir) == []
    assert _matches_contract(sr_dir) == []
    assert {"truth.parquet"} <= {p.name for p in sr_dir.iterdir()}


def test_the_contract_check_finds_a_wrong_type(tmp_path, run_dir):
    for p in run_dir.iterdir():
        if p.is_file():
            (tmp_path / p.name).write_bytes(p.read_bytes())
    w = pl.read_parquet(tmp_path / "wrongful.parquet")
    w.with_columns(pl.col("wrongful_months").cast(pl.Int32)).drop("error_sources").write_parquet(
        tmp_path / "wrongful.parquet")
    (tmp_path / "policy.yaml").unlink()
    c = pl.read_parquet(tmp_path / "consequences.parquet")
    c.with_columns(pl.col("consequence_id").cast(pl.String), pl.col("context").cast(pl.Int8, strict=False)).write_parquet(
        tmp_path / "consequences.parquet")
    assert _matches_contract(tmp_path) == [
        "consequences.parquet: context is Int8, expected String", "wrongful.parquet: wrongful_months is Int32, "
        "expected Int16", "wrongful.parquet: no column error_sources", "policy.yaml missing"]


def test_the_contract_covers_the_ledger_and_the_manifest(tmp_path, run_dir):
    """Keyed by the name before the first dot, ledger.duckdb's entry hid ledger.parquet's
    contract, and manifest.sig's manifest.json's: neither was checked."""
    for p in run_dir.iterdir():
        if p.is_file():
            (tmp_path / p.name).write_bytes(p.read_bytes())
    led = pl.read_parquet(tmp_path / "ledger.parquet")
    led.with_columns(pl.col("points").cast(pl.Int32)).write_parquet(tmp_path / "ledger.parquet")
    (tmp_path / "manifest.json").unlink()
    assert _matches_contract(tmp_path) == ["ledger.parquet: points is Int32, expected Int16", "manifest.json missing"]


# ---- feedback as data: a context the code never names gets feedback by configuration

def _housing_policy(tmp_path: Path) -> Path:
    """we-platform with one more restriction, in the housing context (no built-in policy
    restricts housing), held below status 40."""
    d = yaml.safe_load(builtin_path("we-platform").read_text())
    d["name"] = "we-platform-housing"
    d["consequences"].append({"id": "no-mortgage-housing", "kind": "restriction", "context": "housing",
                              "description": "refused social housing", "when": {"status": {"lt": 40}},
                              "reference": "assumption"})
    f = tmp_path / "housing.yaml"
    f.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    return f


def test_feedback_model_sums_the_uplift_of_each_context_held():
    from types import SimpleNamespace as C

    cons = [C(kind="restriction", context="credit"), C(kind="restriction", context="housing"),
            C(kind="privilege", context="housing"), C(kind="restriction", context="housing")]
    model = FeedbackModel(Feedback({"credit": 0.5, "housing": 0.25}), cons, np.arange(5))
    held = np.array([[1, 0, 1, 0, 0],   # credit restriction
                     [0, 1, 1, 0, 0],   # housing restriction
                     [0, 0, 0, 1, 0],   # housing privilege: no feedback
                     [0, 1, 0, 0, 0]], bool)  # a second housing restriction counts once
    assert model.scale(held).tolist() == [0.5, 0.25, 0.75, 0.0, 0.0]


def test_household_spillover_reaches_the_household_only():
    from types import SimpleNamespace as C

    cons = [C(kind="restriction", context="travel")]
    model = FeedbackModel(Feedback({}, household_spillover=0.5), cons, np.array([0, 0, 1, 1, 2]))
    held = np.array([[1, 0, 0, 0, 0]], bool)
    # the restricted person has no uplift for travel; their housemate gets the spill-over
    assert model.scale(held).tolist() == [0.0, 0.5, 0.0, 0.0, 0.0]


def test_a_new_context_gets_feedback_by_configuration(tmp_path):
    policy = _housing_policy(tmp_path)
    base = dataclasses.replace(CFG, policy=str(policy), history_years=0.0)
    off = simulate(dataclasses.replace(base, feedback=Feedback({"credit": 0.0, "employment": 0.0})),
                   tmp_path / "off")
    on = simulate(dataclasses.replace(base, feedback=Feedback({"credit": 0.0, "employment": 0.0,
                                                                "housing": 30.0})), tmp_path / "on")
    assert off["counts"]["feedback_records_by_scenario"]["actual"] == 0
    assert on["counts"]["feedback_records_by_scenario"]["actual"] > 0
    assert on["counts"]["feedback_records_by_scenario"]["no_feedback"] == 0
    assert on["feedback"]["housing_uplift"] == 30.0
    assert any(a.startswith("housing_uplift: while a restriction in the 'housing' context lasts, arrears-type "
                            "records become 3000% more frequent") for a in on["feedback"]["assumptions"])
    w = pl.read_parquet(tmp_path / "on" / "wrongful.parquet")
    assert w.filter(pl.col("consequence_id") == "no-mortgage-housing")["feedback_months"].sum() > 0


def test_default_feedback_manifest_names():
    m = Feedback().manifest()
    assert (m["credit_arrears_uplift"], m["employment_risk_uplift"], m["household_spillover"]) == (0.5, 0.3, 0.0)
    assert "become 50% more frequent" in m["assumptions"][0]
    assert "become 30% more frequent" in m["assumptions"][1]


def test_feedback_options_parse_and_refuse_bad_values():
    assert parse_feedback(["housing=0.2", " travel = 1 "]) == {"housing": 0.2, "travel": 1.0}
    for bad in ("housing", "=0.2", "housing=x", "housing=-1", "housing=nan"):
        with pytest.raises(ValueError, match="--feedback"):
            parse_feedback([bad])
    with pytest.raises(ValueError, match="household_spillover"):
        Feedback(household_spillover=-0.1)


def test_a_shard_of_citizens_runs_on_its_own():
    """The runner's seam: half the citizens, with only their records, run through the monthly
    steps give those citizens the months they get in the whole run (no feedback and no
    appeal draws, the two things drawn over the whole population)."""
    from socialrating.policy.load import load_policy
    from socialrating.simulate.runner import Calendar, ScenarioRunner, Shard
    from socialrating.simulate.simulation import make_world, shard_of

    cfg = dataclasses.replace(CFG, people=2000, years=1.0, history_years=0.0, feedback=Feedback({}))
    policy = load_policy(cfg.policy)
    assert not any(c.applies_to_household for c in policy.consequences)
    world = make_world(cfg)
    whole = shard_of(world, cfg)
    half = whole.citizens[::2]
    part = Shard(citizens=half, households=whole.households[::2],
                 records={v: [m.filter(pl.col("citizen_id").is_in(half)) for m in ms]
                          for v, ms in whole.records.items()},
                 extra=world.extra)
    cal = Calendar(cfg.start, cfg.months, cfg.seed)
    results = []
    for shard in (whole, part):
        runner = ScenarioRunner(policy, shard, cfg.feedback, cal)
        for k in range(cfg.months):
            runner.step(k)
        results.append(runner.finish())
    a, b = results
    for s in ("perfect_data", "no_appeals"):
        assert a.scenarios[s].months_in.sum() > 0
        assert np.array_equal(a.scenarios[s].months_in[:, ::2], b.scenarios[s].months_in)
    assert a.scenarios["no_appeals"].counts["feedback_records"] == 0


def test_the_command_line_fills_the_feedback_mapping(tmp_path):
    import json

    from typer.testing import CliRunner

    from socialrating.cli import app

    policy = _housing_policy(tmp_path)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "--policy", str(policy), "--people", "800", "--years", "0.25",
                                   "--world", "basic", "--no-store", "--out", str(out), "--credit-feedback", "0.1",
                                   "--feedback", "housing=0.2", "--feedback", "travel=0.05"])
    assert res.exit_code == 0, res.output
    fb = json.loads((out / "manifest.json").read_text())["feedback"]
    assert {k: v for k, v in fb.items() if k != "assumptions"} == {
        "credit_arrears_uplift": 0.1, "employment_risk_uplift": 0.3, "housing_uplift": 0.2, "travel_uplift": 0.05,
        "household_spillover": 0.0}
    bad = CliRunner().invoke(app, ["run", "--people", "10", "--out", str(tmp_path / "x"), "--feedback", "housing"])
    assert bad.exit_code == 2 and "--feedback: expected CONTEXT=UPLIFT" in bad.output
    assert not (tmp_path / "x").exists()
