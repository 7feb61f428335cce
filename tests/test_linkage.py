"""Identity linkage: deterministic keys, Splink name linkage, quarantine reasons, the report."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage_fixture import digit_typo, make_records, name_strings
from socialrating.identity import validate_inn, validate_snils
from socialrating.identity.linkage import AMBIGUOUS, INVALID_CHECK, LinkResult, linkage_report
from socialrating.sources.link import link_records, link_sources
from socialrating.identity.linkage_settings import DEFAULT_SETTINGS, resolve_settings
from socialrating.identity.register import build_register
from socialrating.population.generate import generate_population
from socialrating.sources.schemas import SCHEMAS

STRONG_ONLY = ["tax", "social_fund", "civil_registry", "volunteering", "public_office", "taxi", "medical"]
NAME_SOURCES = ["bank", "traffic_police", "police", "bailiffs", "courts", "housing", "gto", "awards", "education"]


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(3000, seed=7)


@pytest.fixture(scope="module")
def register(people) -> pl.DataFrame:
    return build_register(people)


def _check_invariant(res: LinkResult, n: int) -> None:
    assert res.linked.height + res.quarantine.height == n
    assert res.linked["citizen_id"].null_count() == 0
    assert res.quarantine["reason"].null_count() == 0
    ids = pl.concat([res.linked["record_id"], res.quarantine["record_id"]])
    assert ids.n_unique() == n


def _person_record(source: str, reg_row: dict, names: dict, **override) -> pl.DataFrame:
    """One record of ``source`` for a person (a register row + written names)."""
    sch = SCHEMAS[source]
    row = {"record_id": override.pop("record_id", f"{source}-x"), "event_type": sch.event_types[0],
           "occurred_on": dt.date(2024, 6, 1), "reported_on": dt.date(2024, 6, 5), "amount": 100.0}
    for k in sch.keys:
        row[k] = names.get(k, reg_row.get(k))
    for k in sch.extra:
        row[k] = None
    row.update(override)
    return pl.DataFrame([row], schema=sch.columns)


def test_register_is_normalised(people, register):
    assert register.height == people.height
    assert register.schema["surname"] == pl.String and register.schema["citizen_id"] == pl.Int64
    for c in ("surname", "given_name", "patronymic"):
        assert not register[c].str.contains("Ё").any()
        assert (register[c] == register[c].str.to_uppercase()).all()
    written = name_strings(people)
    assert (written["surname"].str.to_uppercase().str.replace_all("Ё", "Е") == register["surname"]).all()
    # a frame with string names gives the same register
    as_strings = people.with_columns(written["surname"], written["given_name"], written["patronymic"])
    assert build_register(as_strings).equals(register)


def test_deterministic_exact_on_clean_data(people, register):
    recs, truth = make_records(people, seed=1, error_rate=0.0, foreign_rate=0.0, sources=STRONG_ONLY)
    res = link_sources(recs, register)
    for src, r in res.items():
        _check_invariant(r, recs[src].height)
        assert r.quarantine.height == 0, src
        key = next(k for k in ("snils", "inn", "passport", "phone") if k in SCHEMAS[src].keys)
        assert (r.linked["match_method"] == key).all()
        assert (r.linked["match_probability"] == 1.0).all()
    rep = linkage_report(res, truth)
    assert rep["overall"]["precision"] == 1.0 and rep["overall"]["recall"] == 1.0


def test_name_linkage_clean_data(people, register):
    recs, truth = make_records(people, seed=2, error_rate=0.0, foreign_rate=0.0, sources=NAME_SOURCES)
    res = link_sources(recs, register)
    rep = linkage_report(res, truth)
    assert rep["overall"]["precision"] == 1.0
    assert rep["overall"]["recall"] >= 0.999
    assert rep["overall"]["linked_by_method"]["probabilistic"]["linked"] > 500
    json.dumps(rep)


def test_corrupted_records_report(people, register):
    recs, truth = make_records(people, seed=3, error_rate=0.3, foreign_rate=0.05)
    res = link_sources(recs, register)
    for src, r in res.items():
        _check_invariant(r, recs[src].height)
    rep = linkage_report(res, truth)
    kinds = rep["by_error_kind"]
    # single name errors are recovered; people not in the register are not linked
    for k in ("name_typo", "name_variant", "swap", "dob_typo", "no_patronymic"):
        assert kinds[k]["linked_wrong"] == 0 and kinds[k]["quarantined"] <= 0.02 * sum(kinds[k].values()), k
    assert kinds["foreign"]["linked_wrong"] <= 0.01 * sum(kinds["foreign"].values())
    assert rep["overall"]["precision"] >= 0.999


def test_snils_and_inn_typos_go_to_quarantine(people, register):
    rng = np.random.default_rng(5)
    recs, _ = make_records(people, seed=4, error_rate=0.0, foreign_rate=0.0, sources=["medical", "tax"])
    for src, key in (("medical", "snils"), ("tax", "inn")):
        df = recs[src].head(200)
        nd = 11 if key == "snils" else 12
        typo = digit_typo(df[key].to_numpy(), nd, rng)
        checker = validate_snils if key == "snils" else validate_inn
        caught = ~checker(typo)
        assert caught.mean() > 0.85  # check digits catch most single-digit typos
        bad = df.with_columns(pl.Series(key, np.where(caught, typo, df[key].to_numpy())))
        r = link_records(src, bad, register)
        _check_invariant(r, bad.height)
        assert r.quarantine.height == int(caught.sum())
        assert (r.quarantine["reason"] == INVALID_CHECK).all()
        assert set(r.quarantine["record_id"]) == set(bad.filter(pl.Series(caught))["record_id"])


def test_passport_typo_hitting_another_person_links_to_them(people):
    pop = people.filter(pl.col("passport").is_not_null())
    a, b = pop.row(0, named=True), pop.row(1, named=True)
    typo = a["passport"] + 1 if a["passport"] % 10 < 9 else a["passport"] - 1
    assert not pop["passport"].is_in([typo]).any()
    # person B's passport is A's with one digit changed
    pop = pop.with_columns(pl.when(pl.col("citizen_id") == b["citizen_id"]).then(typo).otherwise(pl.col("passport")).alias("passport"))
    reg = build_register(pop)
    ra = reg.filter(pl.col("citizen_id") == a["citizen_id"]).row(0, named=True)
    rec = _person_record("bank", ra, {}, passport=typo, record_id="bank-a")
    r = link_records("bank", rec, reg)
    assert r.linked["citizen_id"].to_list() == [b["citizen_id"]]
    assert r.linked["match_method"].to_list() == ["passport"]
    truth = pl.DataFrame({"source": ["bank"], "record_id": ["bank-a"], "true_citizen_id": [a["citizen_id"]]})
    rep = linkage_report({"bank": r}, truth)
    assert rep["sources"]["bank"]["wrongly_linked"] == 1
    assert rep["sources"]["bank"]["precision"] == 0.0 and rep["sources"]["bank"]["recall"] == 0.0


def test_namesakes_are_ambiguous_unless_a_strong_key_decides(people):
    a, b = people.row(10, named=True), people.row(11, named=True)
    # B becomes A's namesake: same sex, names and birth date
    twin = {c: a[c] for c in ("sex", "surname", "given_name", "patronymic", "birth_date")}
    pop = people.with_columns([
        pl.when(pl.col("citizen_id") == b["citizen_id"]).then(pl.lit(v, dtype=people.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in twin.items()])
    reg = build_register(pop)
    ra = reg.filter(pl.col("citizen_id") == a["citizen_id"]).row(0, named=True)
    r = link_records("police", _person_record("police", ra, {}), reg)
    assert r.linked.height == 0 and r.quarantine["reason"].to_list() == [AMBIGUOUS]
    # bailiffs know A's INN: the strong identifier decides before names
    r = link_records("bailiffs", _person_record("bailiffs", ra, {}), reg)
    assert r.linked["citizen_id"].to_list() == [a["citizen_id"]] and r.linked["match_method"].to_list() == ["inn"]
    # without the INN, bailiffs' record is ambiguous too
    r = link_records("bailiffs", _person_record("bailiffs", ra, {}, inn=None), reg)
    assert r.quarantine["reason"].to_list() == [AMBIGUOUS]


def test_name_variants_still_link(people, register):
    p = people.row(20, named=True)
    ra = register.filter(pl.col("citizen_id") == p["citizen_id"]).row(0, named=True)
    w = name_strings(people[20:21]).row(0, named=True)
    variants = {
        "lower": {k: v.lower() for k, v in w.items()},
        "yo": {k: v.replace("Е", "Ё").replace("е", "ё") for k, v in w.items()},
        "spaces": {k: f"  {v} " for k, v in w.items()},
        "swapped": {"surname": w["given_name"], "given_name": w["surname"], "patronymic": w["patronymic"]},
        "typo": {**w, "surname": w["surname"][:-1] + ("Ы" if w["surname"][-1] != "ы" else "а")},
        "no_patronymic": {**w, "patronymic": None},
    }
    frames = [_person_record("housing", ra, v, record_id=f"h-{k}") for k, v in variants.items()]
    frames.append(_person_record("housing", ra, w, record_id="h-dob", birth_date=ra["birth_date"] + dt.timedelta(days=1)))
    r = link_records("housing", pl.concat(frames), register)
    assert r.quarantine.height == 0, r.quarantine
    assert (r.linked["citizen_id"] == p["citizen_id"]).all()
    assert (r.linked["match_method"] == "probabilistic").all()
    assert (r.linked["match_probability"] >= DEFAULT_SETTINGS["threshold"]).all()


def test_string_identifiers_and_missing_required(people, register):
    from socialrating.identity import format_phone, format_snils

    recs, _ = make_records(people, seed=8, error_rate=0.0, foreign_rate=0.0, sources=["medical", "volunteering"])
    med = recs["medical"].head(20)
    med = med.with_columns(pl.Series("snils", format_snils(med["snils"]).tolist(), dtype=pl.String))
    med = med.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("snils")).alias("snils"))
    r = link_records("medical", med, register)
    assert r.linked.height == 19 and r.quarantine["reason"].to_list() == ["missing required key"]
    vol = recs["volunteering"].head(10)
    vol = vol.with_columns(pl.Series("phone", format_phone(vol["phone"]).tolist(), dtype=pl.String))
    assert link_records("volunteering", vol, register).linked.height == 10


def test_deterministic_output(people, register):
    recs, _ = make_records(people, seed=9, error_rate=0.2, foreign_rate=0.05, sources=["traffic_police", "bailiffs"])
    a = link_sources(recs, register)
    b = link_sources(recs, register)
    for src in recs:
        assert a[src].linked.equals(b[src].linked) and a[src].quarantine.equals(b[src].quarantine)


def test_settings_are_plain_data():
    json.dumps(DEFAULT_SETTINGS)
    assert resolve_settings({"threshold": 0.99})["threshold"] == 0.99
    with pytest.raises(ValueError, match="unknown linkage setting"):
        resolve_settings({"treshold": 0.9})


def test_report_exact_numbers_on_hand_made_truth():
    def frame(ids, cits, methods):
        return pl.DataFrame({"record_id": ids, "citizen_id": cits, "match_method": methods,
                             "match_probability": [1.0] * len(ids)}, schema_overrides={"citizen_id": pl.Int64})

    bank = LinkResult("bank", frame(["b1", "b2", "b3", "b4"], [1, 2, 3, 9], ["passport", "passport", "probabilistic", "probabilistic"]),
                      pl.DataFrame({"record_id": ["b5", "b6"], "reason": [AMBIGUOUS, "no candidate in register"]}))
    tax = LinkResult("tax", frame(["t1", "t2"], [5, 6], ["inn", "inn"]),
                     pl.DataFrame({"record_id": ["t3", "t4"], "reason": [INVALID_CHECK, INVALID_CHECK]}))
    truth = pl.DataFrame({
        "source": ["bank"] * 6 + ["tax"] * 4,
        "record_id": ["b1", "b2", "b3", "b4", "b5", "b6", "t1", "t2", "t3", "t4"],
        # b3 belongs to 4 (wrong link), b4 to nobody (wrong link), b6 to nobody (correctly unlinked)
        "true_citizen_id": [1, 2, 4, None, 7, None, 5, 6, 8, 8],
    }, schema_overrides={"true_citizen_id": pl.Int64})
    rep = linkage_report([bank, tax], truth)
    b = rep["sources"]["bank"]
    assert (b["linked"], b["quarantined"], b["correct"], b["wrongly_linked"], b["with_true_citizen"]) == (4, 2, 2, 2, 4)
    assert b["precision"] == 0.5 and b["recall"] == 0.5
    assert b["quarantined_by_reason"] == {AMBIGUOUS: 1, "no candidate in register": 1}
    assert b["linked_by_method"]["passport"] == {"linked": 2, "correct": 2, "precision": 1.0}
    assert b["linked_by_method"]["probabilistic"] == {"linked": 2, "correct": 0, "precision": 0.0}
    t = rep["sources"]["tax"]
    assert t["precision"] == 1.0 and t["recall"] == 0.5
    o = rep["overall"]
    assert (o["records"], o["linked"], o["correct"], o["wrongly_linked"], o["with_true_citizen"]) == (10, 6, 4, 2, 8)
    assert o["precision"] == round(4 / 6, 6) and o["recall"] == 0.5
    assert o["quarantined_by_reason"] == {AMBIGUOUS: 1, INVALID_CHECK: 2, "no candidate in register": 1}
    json.dumps(rep)


_CORRUPT_COLS = st.sampled_from(["passport", "inn", "phone", "surname", "given_name", "patronymic", "birth_date"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), error_rate=st.floats(0, 1), foreign=st.floats(0, 0.5),
       null_col=_CORRUPT_COLS, null_share=st.floats(0, 1))
def test_records_in_equals_linked_plus_quarantined(people, register, seed, error_rate, foreign, null_col, null_share):
    sources = ["bank", "tax", "gto", "courts"]
    recs, _ = make_records(people, seed=seed, error_rate=error_rate, foreign_rate=min(foreign, 1 - error_rate),
                           sources=sources, rates={s: 0.03 for s in sources})
    rng = np.random.default_rng(seed)
    for src, df in recs.items():
        if null_col in df.columns:
            mask = pl.Series(rng.random(df.height) < null_share)
            recs[src] = df.with_columns(pl.when(mask).then(None).otherwise(pl.col(null_col)).alias(null_col))
    res = link_sources(recs, register)
    for src, r in res.items():
        _check_invariant(r, recs[src].height)
        assert set(r.quarantine["reason"].unique()) <= {
            "missing required key", "invalid check digits", "invalid identifier format", "identifier not in register",
            "ambiguous", "below match threshold", "no candidate in register"}
