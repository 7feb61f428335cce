"""Synthetic agency records and their errors (socialrating.sources.synthetic / errors / agencies).

One population of 150k people, one year of records, generated with the calibrated error
model and with ``ErrorModel.none()`` from the same seed (the paired counterfactual).
Rate tolerances are a few Poisson standard deviations at this size.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from socialrating.identity import validate_inn, validate_snils
from socialrating.population.calibration import load_calibration
from socialrating.population.generate import generate_population
from socialrating.sources.errors import ERROR_KINDS, NOT_ERRONEOUS, ErrorModel, mistype
from socialrating.sources.schemas import SCHEMAS
from socialrating.sources.synthetic import TRUTH_SCHEMA, SourceBatch, generate_records

N = 150_000
START = dt.date(2025, 1, 1)
SEED = 20250101
CAL = load_calibration()
NATIONAL = CAL.population.total_2024.value
BR = CAL.base_rates


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(N, 5)


@pytest.fixture(scope="module")
def noisy(people) -> SourceBatch:
    return generate_records(people, START, 1.0, SEED)


@pytest.fixture(scope="module")
def clean(people) -> SourceBatch:
    return generate_records(people, START, 1.0, SEED, error_model=ErrorModel.none())


@pytest.fixture(scope="module")
def em() -> ErrorModel:
    return ErrorModel.default()


def per_capita(national_total: float) -> float:
    return national_total / NATIONAL


def count(batch: SourceBatch, event_type: str, *, correct_only: bool = True) -> int:
    t = batch.truth.filter(pl.col("event_type") == event_type)
    if correct_only:
        t = t.filter(~pl.col("erroneous"))
    return t.height


def within(x: float, target: float, rel: float) -> bool:
    return abs(x - target) <= rel * target


# --------------------------------------------------------------------------------- shape


@pytest.mark.parametrize("which", ["noisy", "clean"])
def test_frames_match_schemas_exactly(which, request):
    batch = request.getfixturevalue(which)
    assert set(batch.records) == set(SCHEMAS)
    for name, frame in batch.records.items():
        schema = SCHEMAS[name]
        assert list(frame.columns) == list(schema.columns), name
        assert [frame.schema[c] for c in frame.columns] == list(schema.columns.values()), name
        assert frame.height > 0, name
        for col in schema.required_keys:
            assert frame[col].null_count() == 0, (name, col)
        assert set(frame["event_type"].unique()) <= set(schema.event_types), name
        assert frame["record_id"].n_unique() == frame.height, name
        assert (frame["reported_on"] >= frame["occurred_on"]).all(), name


@pytest.mark.parametrize("which", ["noisy", "clean"])
def test_truth_has_one_row_per_record(which, request):
    batch = request.getfixturevalue(which)
    truth = batch.truth
    assert truth.schema == pl.Schema(TRUTH_SCHEMA)
    assert truth.height == sum(f.height for f in batch.records.values())
    assert truth.select("source", "record_id").is_unique().all()
    for name, frame in batch.records.items():
        t = truth.filter(pl.col("source") == name)
        joined = frame.select("record_id", "event_type", "occurred_on").join(t, on="record_id", how="inner")
        assert joined.height == frame.height
        assert (joined["event_type"] == joined["event_type_right"]).all()
        assert (joined["occurred_on"] == joined["occurred_on_right"]).all()
    # erroneous is a function of the kind
    bad = truth.filter(pl.col("erroneous") != ~pl.col("error_kind").cast(pl.String).is_in(list(NOT_ERRONEOUS)))
    assert bad.height == 0


def test_identifiers_come_from_the_true_person(clean, people):
    """Without errors every record carries its person's identifiers and names."""
    from socialrating.identity.names import full_name_labels

    sample = people.sample(2000, seed=1)
    labels = full_name_labels(sample["surname"], sample["given_name"], sample["patronymic"], sample["sex"] == "F")
    ref = sample.select("citizen_id", "birth_date", "passport", "inn").with_columns(full=pl.Series(labels.tolist()))
    t = clean.truth.filter(pl.col("source") == "bailiffs").select("record_id", "true_citizen_id")
    rec = clean.records["bailiffs"].join(t, on="record_id").join(ref, left_on="true_citizen_id", right_on="citizen_id")
    assert rec.height > 100
    full = rec.select(pl.concat_str(["surname", "given_name", "patronymic"], separator=" ")).to_series()
    assert (full == rec["full"]).all()
    assert (rec["birth_date"] == rec["birth_date_right"]).all()
    known = rec.filter(pl.col("inn").is_not_null())
    assert (known["inn"] == known["inn_right"]).all()
    assert 0.6 < known.height / rec.height < 0.9  # bailiffs hold the INN for ~75%
    t = clean.truth.filter(pl.col("source") == "bank").select("record_id", "true_citizen_id")
    bank = clean.records["bank"].join(t, on="record_id").join(ref, left_on="true_citizen_id", right_on="citizen_id")
    assert (bank["passport"] == bank["passport_right"]).all()


# --------------------------------------------------------------------------- calibration


def test_convictions_per_year(clean):
    assert within(count(clean, "court.conviction") / N, per_capita(BR.convictions_per_year.value), 0.15)


def test_traffic_fines_and_camera_share(clean, noisy):
    fines = clean.records["traffic_police"].filter(pl.col("event_type") == "fine.traffic")
    assert within(fines.height / N, per_capita(BR.traffic_fines_per_year.value), 0.05)
    assert abs(fines["camera"].mean() - BR.traffic_fines_camera_share.value) < 0.01
    # with errors the total includes the erroneous camera fines (a few % more)
    noisy_fines = noisy.records["traffic_police"].filter(pl.col("event_type") == "fine.traffic").height
    assert fines.height < noisy_fines < fines.height * 1.06


def test_borrowers_with_overdue(clean, people):
    overdue = clean.truth.filter(pl.col("event_type") == "loan.overdue_90d")["true_citizen_id"].n_unique()
    target = BR.overdue_90_people_bank.value / BR.active_borrowers.value
    assert within(overdue / people["borrower"].sum(), target, 0.08)
    assert within(overdue / N, per_capita(BR.overdue_90_people_bank.value), 0.08)
    # one yearly status record per borrower (with a passport)
    statuses = clean.records["bank"].height
    assert 0.99 * people["borrower"].sum() <= statuses <= people["borrower"].sum()


def test_enforcement_proceedings_by_kind(clean):
    pr = clean.truth.filter(pl.col("event_type") == "enforcement.proceeding")
    from socialrating.sources.agencies.bailiffs import proceedings_per_year

    # new proceedings: 15.4M new bank-debt ones (FSSP 2024) over the 27% bank-debt share;
    # the 113M of 2025 were proceedings on hand, not new ones (issue 10)
    yearly = proceedings_per_year(CAL)
    assert abs(yearly - 15_400_000 / 0.27) < 1
    assert within(pr.height / N, per_capita(yearly), 0.05)
    shares = pr.group_by("subtype").len().with_columns(share=pl.col("len") / pr.height)
    got = dict(zip(shares["subtype"], shares["share"]))
    for kind, target in BR.enforcement_share_by_kind.value.items():
        assert abs(got[kind] - target) < 0.015, kind
    # exit bans: 6-month rulings over a 6.6M stock
    bans = count(clean, "enforcement.exit_ban")
    assert within(bans / N, per_capita(2 * BR.exit_bans_stock.value), 0.10)
    banned = clean.records["bailiffs"].filter(pl.col("event_type") == "enforcement.exit_ban")
    assert banned["amount"].min() > BR.exit_ban_threshold_alimony_rub.value
    # every paid debt and ban refers to an opened proceeding (or an alimony case)
    ids = clean.records["bailiffs"].group_by("proceeding_id").agg(pl.col("event_type"))
    assert ids.filter(pl.col("event_type").list.len() > 1).height > 0


def test_alimony(clean):
    assert within(count(clean, "alimony.arrears") / N, per_capita(BR.alimony_proceedings_open.value), 0.15)


def test_gto_badges_and_split(clean):
    g = BR.gto_badges_per_year.value
    badges = clean.records["gto"]
    assert within(badges.height / N, per_capita(g.total), 0.10)
    got = badges.group_by("amount").len().with_columns(share=pl.col("len") / badges.height)
    share = dict(zip(got["amount"], got["share"]))
    for level, n_ in ((3.0, g.gold), (2.0, g.silver), (1.0, g.bronze)):
        assert abs(share[level] - n_ / g.total) < 0.035, level


def test_checkups(clean):
    ck = count(clean, "health.checkup")
    assert within(ck / N, per_capita(BR.medical_checkups_per_year.value), 0.04)
    # at most one per person-year
    t = clean.truth.filter(pl.col("event_type") == "health.checkup")
    assert t["true_citizen_id"].n_unique() == t.height


def test_volunteering_share_of_adults(clean, people):
    vol = clean.truth.filter(pl.col("source") == "volunteering")["true_citizen_id"].n_unique()
    share = vol / (people["age"] >= 18).sum()
    assert 0.27 <= share <= 0.31  # 'about 28-30% of adults', minus people without a phone


def test_events_cluster_on_high_risk_people(clean):
    """The latent risk propensity makes sanctions cluster: the top 5% of debtors hold far
    more than 5% of proceedings."""
    per = clean.truth.filter(pl.col("event_type") == "enforcement.proceeding").group_by("true_citizen_id").len()["len"].sort(descending=True)
    top = per.head(int(N * 0.05)).sum() / per.sum()
    assert top > 0.3


# -------------------------------------------------------------------------------- errors


def test_error_model_none_is_perfect(clean):
    assert clean.truth["erroneous"].sum() == 0
    assert (clean.truth["error_kind"] == "none").all()
    assert clean.truth["true_citizen_id"].null_count() == 0
    assert clean.truth["duplicate_of"].null_count() == clean.truth.height
    assert ErrorModel.none().is_none and not ErrorModel.default().is_none


def test_untouched_records_identical_to_counterfactual(clean, noisy):
    """Paired counterfactual: same behaviour streams, errors from separate streams."""
    untouched = noisy.truth.filter(pl.col("error_kind") == "none").select("source", "record_id", "true_citizen_id")
    assert untouched.height > 0.9 * clean.truth.height
    ref = clean.truth.select("source", "record_id", pl.col("true_citizen_id").alias("clean_id"))
    j = untouched.join(ref, on=["source", "record_id"], how="left")
    assert j["clean_id"].null_count() == 0
    assert (j["true_citizen_id"] == j["clean_id"]).all()
    for name in SCHEMAS:
        ids = untouched.filter(pl.col("source") == name).select("record_id")
        a = noisy.records[name].join(ids, on="record_id").sort("record_id")
        b = clean.records[name].join(ids, on="record_id").sort("record_id")
        assert a.equals(b), name
    # records late or with a name variant keep everything but the delay / the spelling
    late = noisy.truth.filter(pl.col("error_kind") == "late_arrival").select("source", "record_id")
    for name in ("traffic_police", "medical"):
        ids = late.filter(pl.col("source") == name).select("record_id")
        a = noisy.records[name].join(ids, on="record_id").sort("record_id")
        b = clean.records[name].join(ids, on="record_id").sort("record_id")
        assert a.height > 0 and a.drop("reported_on").equals(b.drop("reported_on")), name
        assert (a["reported_on"] > b["reported_on"]).all()


def test_duplicate_share(noisy, em):
    t = noisy.truth
    dups = t.filter(pl.col("error_kind") == "duplicate")
    assert within(dups.height / (t.height - dups.height), em.duplicate_share, 0.1)
    # a duplicate repeats its original under a new record id
    for name in ("traffic_police", "bailiffs"):
        frame = noisy.records[name]
        d = dups.filter(pl.col("source") == name).select("record_id", "duplicate_of")
        dd = d.join(frame, on="record_id").drop("record_id", "reported_on")
        orig = frame.join(d.select("duplicate_of"), left_on="record_id", right_on="duplicate_of").drop("reported_on")
        dd = dd.rename({"duplicate_of": "record_id"}).select(orig.columns)
        assert dd.sort("record_id").equals(orig.sort("record_id")), name


def test_camera_error_share(noisy, em):
    t = noisy.truth.filter((pl.col("source") == "traffic_police") & (pl.col("error_kind") != "duplicate"))
    cam = t.join(noisy.records["traffic_police"].select("record_id", "camera"), on="record_id").filter("camera")
    errs = cam.filter(pl.col("error_kind") == "camera_error")
    assert within(errs.height / cam.height, em.camera_error_share, 0.1)
    assert errs["true_citizen_id"].null_count() == errs.height  # about nobody
    assert errs["erroneous"].all()


def test_misattributed_owner_is_a_household_member(noisy, people):
    t = noisy.truth.filter(pl.col("error_kind") == "misattributed_owner").select("record_id", "true_citizen_id")
    assert t.height > 0
    rec = noisy.records["traffic_police"].join(t, on="record_id")
    hh = people.select("citizen_id", "household_id", "passport", "birth_date", "driver")
    rec = rec.join(hh, left_on="true_citizen_id", right_on="citizen_id")
    owner = rec.join(hh, left_on="passport", right_on="passport", suffix="_owner")
    assert owner.height > 0.9 * rec.filter(pl.col("passport").is_not_null()).height
    assert (owner["household_id"] == owner["household_id_owner"]).all()
    assert (owner["true_citizen_id"] != owner["citizen_id"]).all()
    assert owner["driver_owner"].all()


def test_typo_shares(noisy, em):
    t = noisy.truth.filter(pl.col("error_kind").cast(pl.String).is_in(["none", "late_arrival", "name_variant", "mistyped_id"]))
    for col, rate in em.typo.items():
        hits = total = 0
        invalid = []
        for name, schema in SCHEMAS.items():
            if col not in schema.keys:
                continue
            f = noisy.records[name].select("record_id", col).filter(pl.col(col).is_not_null()).join(t, on="record_id")
            total += f.height
            m = f.filter(pl.col("error_kind") == "mistyped_id")
            hits += m.height
            invalid.append(m[col])
        assert total > 20_000, col
        assert within(hits / total, rate, 0.25), (col, hits, total)
        vals = pl.concat(invalid)
        if col == "inn":
            assert (~validate_inn(vals.cast(pl.String).str.zfill(12).to_numpy())).mean() > 0.8
        if col == "snils":
            assert (~validate_snils(vals.cast(pl.String).str.zfill(11).to_numpy())).mean() > 0.8


def test_mistype_changes_exactly_one_digit():
    rng = np.random.default_rng(0)
    x = rng.integers(10**9, 10**10, 10_000)
    y = mistype(x, 10, rng)
    diff = np.array([sum(a != b for a, b in zip(f"{u:010d}", f"{v:010d}")) for u, v in zip(x[:500], y[:500])])
    assert (diff == 1).all()
    assert (x != y).all()


def test_bank_false_overdue(noisy, em):
    bank = noisy.truth.filter((pl.col("source") == "bank") & (pl.col("error_kind") != "duplicate"))
    wrong = bank.filter(pl.col("error_kind") == "wrong_status")
    on_time = bank.filter(pl.col("event_type") == "loan.repaid_on_time").height + wrong.height
    assert within(wrong.height / on_time, em.bank_false_overdue, 0.25)
    assert (wrong["event_type"] == "loan.overdue_90d").all()


def test_stale_debts(noisy, clean, em):
    def paid(b):
        return b.truth.filter((pl.col("event_type") == "enforcement.debt_paid") & (pl.col("error_kind") != "duplicate")).height

    missing = 1 - paid(noisy) / paid(clean)
    assert within(missing, em.stale_paid_missing, 0.2)
    stale = noisy.truth.filter(pl.col("error_kind") == "stale_unpaid")
    assert stale.height > 0 and stale["erroneous"].all()
    assert set(stale["event_type"].unique()) <= {"enforcement.proceeding", "enforcement.exit_ban"}


def test_namesake_merge_keeps_the_name(noisy, people):
    from socialrating.identity.names import full_name_labels

    t = noisy.truth.filter(pl.col("error_kind") == "namesake_merge").select("source", "record_id", "true_citizen_id")
    assert t.height > 0
    ref = people.select("citizen_id", "birth_date", full=pl.Series(full_name_labels(
        people["surname"], people["given_name"], people["patronymic"], people["sex"] == "F").tolist()))
    rows = []
    for name in t["source"].unique():
        f = noisy.records[name].select("record_id", "surname", "given_name", "patronymic", "birth_date")
        rows.append(f.join(t.filter(pl.col("source") == name), on="record_id"))
    r = pl.concat(rows, how="diagonal").join(ref, left_on="true_citizen_id", right_on="citizen_id")
    full = r.select(pl.concat_str(["surname", "given_name", "patronymic"], separator=" ")).to_series()
    assert (full == r["full"]).all()  # same full name ...
    assert (r["birth_date"] != r["birth_date_right"]).mean() > 0.9  # ... another person


def test_name_variants(noisy):
    t = noisy.truth.filter(pl.col("error_kind") == "name_variant")
    assert t.height > 0 and not t["erroneous"].any()
    f = pl.concat([noisy.records[n].select("record_id", "surname", "given_name") for n in SCHEMAS if "surname" in SCHEMAS[n].keys])
    v = f.join(t.select("record_id"), on="record_id")
    latin = v["surname"].str.contains("^[A-Za-z]+$").sum()
    assert 0 < latin < v.height


def test_error_kinds_known(noisy):
    assert set(noisy.truth["error_kind"].cast(pl.String).unique()) <= set(ERROR_KINDS)
    kinds = set(noisy.truth["error_kind"].cast(pl.String).unique())
    assert {"duplicate", "camera_error", "mistyped_id", "misattributed_owner", "namesake_merge", "stale_unpaid",
            "late_arrival", "name_variant", "wrong_status"} <= kinds


def test_error_model_anchors(em):
    for name, rate in em.rates().items():
        base = name.split(".")[0]
        if base.endswith("_mean"):
            continue
        assert em.anchors.get(base), f"{name} has no source or assumption"
        assert 0 <= rate <= 1
    assert "Kommersant" in em.anchors["camera_error_share"]
    assert "FTC" in em.anchors["bank_false_overdue"]


# ------------------------------------------------------------------------ determinism etc


def test_same_seed_same_output(people, noisy):
    again = generate_records(people, START, 1.0, SEED)
    for name in SCHEMAS:
        assert again.records[name].equals(noisy.records[name]), name
    assert again.truth.equals(noisy.truth)
    other = generate_records(people.head(20_000), START, 1.0, SEED + 1)
    assert not other.records["traffic_police"].equals(noisy.records["traffic_police"].head(other.records["traffic_police"].height))


def test_seed_sequence_accepted(people):
    small = people.head(5_000)
    a = generate_records(small, START, 0.5, np.random.SeedSequence(3))
    b = generate_records(small, START, 0.5, 3)
    assert a.truth.equals(b.truth)
    end = START + dt.timedelta(days=183)
    for f in a.records.values():
        assert f["occurred_on"].max() is None or f["occurred_on"].max() < end


def test_special_category_flagged(noisy):
    assert SCHEMAS["medical"].special_category
    assert noisy.special_category == ("medical",)
    assert [n for n, s in SCHEMAS.items() if s.special_category] == ["medical"]
