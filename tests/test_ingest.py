"""socialrating ingest: reading a user's source file, validating, linking, appending idempotently."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from linkage_fixture import make_records
from socialrating.identity import format_inn, format_phone, format_snils
from socialrating.population.generate import generate_population
from socialrating.sources.ingest import IngestError, ingest_file

AS_OF = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return generate_population(2000, seed=11)


@pytest.fixture()
def run_dir(tmp_path, people):
    people.write_parquet(tmp_path / "citizens.parquet")
    return tmp_path


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    return df.select([pl.col(c).cast(pl.String) for c in df.columns])


def test_csv_with_formatted_identifiers(run_dir, people):
    recs, truth = make_records(people, seed=1, error_rate=0.0, foreign_rate=0.0, sources=["medical", "volunteering", "tax"])
    fmt = {"medical": ("snils", format_snils), "volunteering": ("phone", format_phone), "tax": ("inn", format_inn)}
    for src, (key, f) in fmt.items():
        df = _as_text(recs[src]).with_columns(pl.Series(key, f(recs[src][key]).tolist(), dtype=pl.String))
        df = df.with_columns(pl.col("occurred_on").str.to_date().dt.strftime("%d.%m.%Y"))  # Russian date style
        path = run_dir / f"{src}.csv"
        df.write_csv(path)
        rep = ingest_file(src, path, run_dir, as_of=AS_OF)
        assert rep.records_in == df.height and rep.accepted == df.height and rep.quarantined == {}, rep
        ev = pl.read_parquet(run_dir / "ingested" / f"{src}.parquet")
        assert ev.columns == ["citizen_id", "event_type", "occurred_on", "amount", "source", "record_id"]
        assert ev.schema["occurred_on"] == pl.Date and ev.schema["citizen_id"] == pl.Int64
        t = truth.filter(pl.col("source") == src).select("record_id", "true_citizen_id")
        chk = ev.join(t, on="record_id")
        assert chk.height == df.height and (chk["citizen_id"] == chk["true_citizen_id"]).all()


def test_bad_rows_are_quarantined_with_reasons(run_dir, people):
    recs, _ = make_records(people, seed=2, error_rate=0.0, foreign_rate=0.0, sources=["bailiffs"])
    df = _as_text(recs["bailiffs"].head(30))
    bad = {
        0: {"event_type": "fine.traffic"},                       # another source's event type
        1: {"occurred_on": "2030-01-01", "reported_on": "2030-01-02"},
        2: {"occurred_on": "1900-01-01", "reported_on": "1900-01-02"},  # before birth
        3: {"surname": None},
        4: {"inn": "12345"},                                     # malformed
        5: {"birth_date": "31.02.1980"},                         # no such date
        6: {"record_id": df["record_id"][7]},                    # duplicate of row 7
        8: {"amount": "lots"},
    }
    rows = df.to_dicts()
    for i, change in bad.items():
        rows[i].update(change)
    # a valid-looking INN with wrong check digits, and no name fallback possible: drop names
    inn_bad = int(rows[9]["inn"]) if rows[9]["inn"] else 500100732259
    rows[9]["inn"] = str(inn_bad + 1 if inn_bad % 10 != 9 else inn_bad - 1)
    path = run_dir / "bailiffs.csv"
    pl.DataFrame(rows, schema={c: pl.String for c in df.columns}).write_csv(path)
    rep = ingest_file("bailiffs", path, run_dir, as_of=AS_OF)
    q = pl.read_parquet(run_dir / "ingested" / "bailiffs.quarantine.parquet")
    reasons = dict(zip(q["record_id"], q["reason"]))
    rid = [r["record_id"] for r in rows]
    assert reasons[rid[0]] == "unknown event type"
    assert reasons[rid[1]] == "impossible date: in the future"
    assert reasons[rid[2]] == "impossible date: before birth"
    assert reasons[rid[3]] == "missing required value: surname"
    assert reasons[rid[4]] == "invalid identifier format: inn"
    assert reasons[rid[5]] == "invalid date: birth_date"
    assert reasons[rid[8]] == "invalid number: amount"
    assert "duplicate record_id in file" in q["reason"].to_list()
    # row 9: a bad INN, but bailiffs also hold name + birth date, so it links by name
    ev = pl.read_parquet(run_dir / "ingested" / "bailiffs.parquet")
    assert rid[9] in ev["record_id"].to_list()
    assert rep.records_in == 30
    assert rep.accepted + sum(rep.quarantined.values()) + rep.already_present == 30
    assert rep.accepted == 30 - 8 and sum(rep.quarantined.values()) == 8
    assert q.columns[-2:] == ["reason", "ingested_from"]


def test_check_digits_quarantined_for_inn_only_source(run_dir, people):
    recs, _ = make_records(people, seed=3, error_rate=0.0, foreign_rate=0.0, sources=["tax"])
    df = recs["tax"].head(5)
    inn = df["inn"].to_list()
    inn[0] = inn[0] + 1 if inn[0] % 10 != 9 else inn[0] - 1
    path = run_dir / "tax.parquet"
    df.with_columns(pl.Series("inn", inn)).write_parquet(path)
    rep = ingest_file("tax", path, run_dir, as_of=AS_OF)
    assert rep.accepted == 4 and rep.quarantined == {"invalid check digits": 1}


def test_unknown_columns_are_named(run_dir, people):
    path = run_dir / "taxi.csv"
    pl.DataFrame({"record_id": ["t1"], "event_type": ["taxi.unpaid_fare"], "occurred_on": ["2024-01-01"],
                  "phone": ["+7 912 345-67-89"], "fare": ["100"], "driver": ["x"]}).write_csv(path)
    with pytest.raises(IngestError, match=r"unknown column\(s\) \['fare', 'driver'\].*taxi"):
        ingest_file("taxi", path, run_dir, as_of=AS_OF)
    pl.DataFrame({"record_id": ["t1"], "event_type": ["taxi.unpaid_fare"]}).write_csv(path)
    with pytest.raises(IngestError, match="missing required column"):
        ingest_file("taxi", path, run_dir, as_of=AS_OF)


def test_second_ingest_changes_nothing(run_dir, people):
    recs, _ = make_records(people, seed=4, error_rate=0.2, foreign_rate=0.05, sources=["traffic_police"])
    path = run_dir / "traffic.csv"
    _as_text(recs["traffic_police"]).write_csv(path)
    first = ingest_file("traffic_police", path, run_dir, as_of=AS_OF)
    assert first.accepted > 0 and first.already_present == 0
    ev_path, q_path = run_dir / "ingested" / "traffic_police.parquet", run_dir / "ingested" / "traffic_police.quarantine.parquet"
    before = {p: p.read_bytes() for p in (ev_path, q_path) if p.exists()}
    second = ingest_file("traffic_police", path, run_dir, as_of=AS_OF)
    assert second.accepted == 0 and second.quarantined == {} and second.already_present == first.records_in
    assert {p: p.read_bytes() for p in before} == before
    # a file overlapping the first: only the new records are added
    more, _ = make_records(people, seed=5, error_rate=0.0, foreign_rate=0.0, sources=["traffic_police"])
    extra = _as_text(more["traffic_police"].head(10)).with_columns(pl.col("record_id") + "-new")
    both = pl.concat([_as_text(recs["traffic_police"]).head(50), extra])
    path2 = run_dir / "traffic2.csv"
    both.write_csv(path2)
    third = ingest_file("traffic_police", path2, run_dir, as_of=AS_OF)
    assert third.already_present == 50 and third.accepted + sum(third.quarantined.values()) == 10
    ev = pl.read_parquet(ev_path)
    assert ev["record_id"].n_unique() == ev.height
