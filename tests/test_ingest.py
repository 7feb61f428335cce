"""socialrating ingest: reading a user's source file, validating, linking, appending idempotently."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linkage_fixture import make_records
from socialrating.identity import format_inn, format_phone, format_snils
from socialrating.population.generate import generate_population
from socialrating.cli import app
from socialrating.sources import ingest as ING
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


# ---- bad input (issue #11): whole-file errors and exact per-row reasons ----------------



def _tax_rows(people, n=20, seed=7) -> pl.DataFrame:
    recs, _ = make_records(people, seed=seed, error_rate=0.0, foreign_rate=0.0, sources=["tax"])
    return _as_text(recs["tax"].head(n))


HEADER = "record_id,event_type,occurred_on,reported_on,amount,inn\n"
GOOD = "t1,tax.arrears,2024-01-05,2024-01-09,1200.50,500100732259\n"


@pytest.mark.parametrize("name,content,expected", [
    ("empty.csv", b"", "empty.csv: the file is empty (no header, no records)"),
    ("blank.csv", b"\n \n", "blank.csv: the file is empty (no header, no records)"),
    ("short.csv", (HEADER + GOOD + "t2,tax.arrears,2024-01-05\n").encode(),
     "short.csv: not well-formed CSV: row 3 (the header is row 1) has 3 fields, the header has 6"),
    ("long.csv", (HEADER + GOOD + GOOD.replace("t1", "t3").rstrip("\n") + ",extra\n").encode(),
     "long.csv: not well-formed CSV: row 3 (the header is row 1) has 7 fields, the header has 6"),
    ("latin1.csv", (HEADER + GOOD + "t4,tax.arrears,2024-01-05,2024-01-09,1,500100732259\n").encode()
     .replace(b"t4", "t\u00e9".encode("latin-1")),
     "latin1.csv: line 3: not UTF-8 text (byte 0xe9); re-save the file as UTF-8 (it may be Latin-1 or Windows-1251)"),
    ("binary.csv", bytes(range(256)), "binary.csv: line 1: a NUL byte; this is a binary file, not CSV text"),
    ("cp1251.csv", HEADER.encode() + "t5,tax.arrears,2024-01-05,2024-01-09,1,Иванов\n".encode("cp1251"),
     "cp1251.csv: line 2: not UTF-8 text (byte 0xc8); re-save the file as UTF-8 (it may be Latin-1 or Windows-1251)"),
    ("dup.csv", b"record_id,record_id\n1,2\n", "dup.csv: column(s) ['record_id'] appear more than once in the header"),
    ("speech.csv", (HEADER + GOOD + "t6,speech.post,2024-01-05,2024-01-09,,500100732259\n").encode(),
     "speech.csv: refused: 1 record(s) of a refused category, first 'speech.post' in data row 2: speech is out of "
     "scope: socialrating never scores what people say (README, 'Out of scope'); nothing was ingested"),
    ("gps.csv", (HEADER + "t7,Location.GPS-ping,2024-01-05,2024-01-09,,500100732259\n" + GOOD).encode(),
     "gps.csv: refused: 1 record(s) of a refused category, first 'Location.GPS-ping' in data row 1: locating "
     "people is out of scope (no 'radar') (README, 'Out of scope'); nothing was ingested"),
    ("data.txt", b"x", "data.txt: unknown file type '.txt'; give a .csv or .parquet file"),
    ("utf16.csv", (HEADER + GOOD).encode("utf-16"),
     "utf16.csv: UTF-16 text (Excel's 'Unicode text'?); re-save the file as CSV UTF-8"),
])
def test_unreadable_csv_is_one_clear_error_and_changes_nothing(run_dir, name, content, expected):
    path = run_dir / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as exc:
        ingest_file("tax", path, run_dir, as_of=AS_OF)
    assert str(exc.value) == expected
    assert not (run_dir / "ingested").exists()


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_unreadable_parquet_is_one_clear_error(run_dir):
    base = {"record_id": ["p1"], "event_type": ["tax.arrears"], "occurred_on": ["2024-01-05"], "inn": [500100732259]}
    nested = pa.table({**base, "amount": pa.array([[1.0, 2.0]], pa.list_(pa.float64()))})
    (run_dir / "nested.parquet").write_bytes(_parquet_bytes(nested))
    with pytest.raises(IngestError) as exc:
        ingest_file("tax", run_dir / "nested.parquet", run_dir, as_of=AS_OF)
    assert str(exc.value) == ("nested.parquet: column 'amount' has type list<element: double>; expected text, numbers, "
                              "booleans or dates (nested lists, structs and binary cannot be ingested)")
    good = _parquet_bytes(pa.table({**base, "amount": [1.0]}))
    for cut in (len(good) // 2, len(good) - 1, 7, 0):
        (run_dir / "cut.parquet").write_bytes(good[:cut])
        with pytest.raises(IngestError, match=r"^cut\.parquet: not a readable Parquet file \(truncated or corrupt\?\): "):
            ingest_file("tax", run_dir / "cut.parquet", run_dir, as_of=AS_OF)
    (run_dir / "csv.parquet").write_bytes((HEADER + GOOD).encode())
    with pytest.raises(IngestError, match=r"^csv\.parquet: not a readable Parquet file"):
        ingest_file("tax", run_dir / "csv.parquet", run_dir, as_of=AS_OF)
    (run_dir / "adir.csv").mkdir()
    with pytest.raises(IngestError, match=r"adir\.csv: is a directory; give a \.csv or \.parquet file$"):
        ingest_file("tax", run_dir / "adir.csv", run_dir, as_of=AS_OF)
    assert not (run_dir / "ingested").exists()


def test_header_only_csv_is_zero_records(run_dir):
    (run_dir / "h.csv").write_text(HEADER)
    rep = ingest_file("tax", run_dir / "h.csv", run_dir, as_of=AS_OF)
    assert (rep.records_in, rep.accepted, rep.quarantined, rep.already_present) == (0, 0, {}, 0)


def test_impossible_values_are_quarantined_with_exact_reasons(run_dir, people):
    rows = _tax_rows(people, 24).to_dicts()
    for r in rows:
        r["event_type"] = "tax.arrears"
    changes = {
        0: {"amount": "NaN"}, 1: {"amount": "inf"}, 2: {"amount": "-inf"},
        3: {"amount": "1e308"}, 4: {"amount": "-5"},
        5: {"occurred_on": "1850-06-01"}, 6: {"occurred_on": "0001-01-01"},
        7: {"reported_on": "1899-12-31"},
        8: {"record_id": "x" * 5_000_000},
        9: {"record_id": "tax-\x07bell"}, 10: {"record_id": "tax-\u202eevil"}, 11: {"record_id": "tax-\u200bzw"},
        12: {"amount": "1000000000000"},   # exactly the bound: accepted
        13: {"amount": "0"},               # zero: accepted
    }
    for i, ch in changes.items():
        rows[i].update(ch)
    frame = pl.DataFrame(rows, schema={c: pl.String for c in rows[0]})
    # two records already in the run's events.parquet: one the same, one with another amount
    on_file = pl.DataFrame({
        "citizen_id": [1, 2], "event_type": ["tax.arrears", "tax.arrears"],
        "occurred_on": [dt.date.fromisoformat(rows[20]["occurred_on"]), dt.date.fromisoformat(rows[21]["occurred_on"])],
        "amount": [float(rows[20]["amount"]), float(rows[21]["amount"]) + 1.0],
        "source": ["tax", "tax"], "record_id": [rows[20]["record_id"], rows[21]["record_id"]],
    })
    on_file.write_parquet(run_dir / "events.parquet")
    path = run_dir / "bad.csv"
    frame.write_csv(path)
    rep = ingest_file("tax", path, run_dir, as_of=AS_OF)
    assert rep.quarantined == {
        "impossible amount: not a finite number": 3,
        "impossible amount: more than 1,000,000,000,000 (roubles)": 1,
        "impossible amount: negative": 1,
        "impossible date: occurred_on before 1900-01-01": 2,
        "impossible date: reported_on before 1900-01-01": 1,
        "text too long: record_id over 128 characters": 1,
        "invalid characters in record_id: control or bidirectional": 3,
        "conflict: record_id already on file with other content (contest the entry to correct it)": 1,
    }
    assert rep.already_present == 1
    assert rep.accepted == 24 - 13 - 1
    assert rep.records_in == rep.accepted + rep.quarantined_total + rep.already_present
    q = pl.read_parquet(run_dir / "ingested" / "tax.quarantine.parquet")
    assert q.filter(pl.col("reason") == "conflict: record_id already on file with other content (contest the entry to correct it)")["record_id"].to_list() \
        == [rows[21]["record_id"]]
    assert len(q.filter(pl.col("reason").str.starts_with("text too long"))["record_id"][0]) == 5_000_000  # kept whole


def test_amount_ranges_by_unit(run_dir, people):
    """Badges are 1-3 and grades 2-5 (catalog.AMOUNT_RANGE), checked through _validate directly."""
    df = pl.DataFrame({
        "record_id": [f"e{i}" for i in range(6)],
        "event_type": ["education.academic_record"] * 3 + ["education.diploma"] * 3,
        "occurred_on": [dt.date(2024, 1, 1)] * 6, "amount": [1.5, 5.5, 4.0, -0.01, 2e12, None],
        "snils": [1] * 6,
    })
    reason = ING._validate("education", df, np.full(6, None, dtype=object), AS_OF)
    assert reason.tolist() == ["impossible amount: less than 2 (grade)", "impossible amount: more than 5 (grade)", None,
                               "impossible amount: negative", "impossible amount: more than 1,000,000,000,000 (no unit)",
                               None]


def test_ingest_cli_bad_file_is_one_line_exit_2(run_dir):
    (run_dir / "latin.csv").write_bytes((HEADER + "t\xe9,tax.arrears,2024-01-05,,1,500100732259\n").encode("latin-1"))
    res = CliRunner().invoke(app, ["ingest", str(run_dir / "latin.csv"), "--source", "tax", "--into", str(run_dir),
                                   "--as-of", "2025-06-01"], env={"COLUMNS": "80"})
    assert res.exit_code == 2, (res.output, res.exception)
    assert res.output == ("error: latin.csv: line 2: not UTF-8 text (byte 0xe9); re-save the file as UTF-8 "
                          "(it may be Latin-1 or Windows-1251)\n")


def test_parquet_column_types_are_judged_per_row(run_dir, people):
    """A uint64 INN beyond Int64 (found by the fuzz suite: it escaped as a pyarrow error) is a
    malformed identifier; a dictionary-encoded event type and a timestamp read like text and dates."""
    inn = int(people["inn"].drop_nulls()[0])
    table = pa.table({
        "record_id": ["u1", "u2"],
        "event_type": pa.array(["tax.arrears", "tax.arrears"]).dictionary_encode(),
        "occurred_on": pa.array([dt.datetime(2024, 1, 5, 13, 0), dt.datetime(2024, 1, 6)], pa.timestamp("us")),
        "amount": pa.array([10, 20], pa.decimal128(10, 2)),
        "inn": pa.array([2**63, inn], pa.uint64()),
    })
    (run_dir / "u.parquet").write_bytes(_parquet_bytes(table))
    rep = ingest_file("tax", run_dir / "u.parquet", run_dir, as_of=AS_OF)
    assert (rep.accepted, rep.quarantined) == (1, {"invalid identifier format: inn": 1})
    ev = pl.read_parquet(run_dir / "ingested" / "tax.parquet")
    assert ev.select("record_id", "occurred_on", "amount").rows() == [("u2", dt.date(2024, 1, 6), 20.0)]


def test_semicolon_separated_with_decimal_commas(run_dir, people):
    """Excel's CSV in a Russian locale: ';' between fields, ',' in numbers, dd.mm.yyyy dates."""
    inn = int(people["inn"].drop_nulls()[0])
    (run_dir / "ru.csv").write_text("record_id;event_type;occurred_on;amount;inn\n"
                                    f"s1;tax.arrears;05.01.2024;1 200,50;{inn}\n", encoding="utf-8")
    rep = ingest_file("tax", run_dir / "ru.csv", run_dir, as_of=AS_OF)
    assert (rep.accepted, rep.quarantined) == (1, {})
    ev = pl.read_parquet(run_dir / "ingested" / "tax.parquet")
    assert ev.select("occurred_on", "amount").row(0) == (dt.date(2024, 1, 5), 1200.5)


def test_unreadable_events_on_file_is_one_clear_error(run_dir):
    (run_dir / "events.parquet").write_bytes(b"PAR1 not really")
    (run_dir / "t.csv").write_text(HEADER + GOOD)
    with pytest.raises(IngestError, match=r"events\.parquet: the run's events cannot be read \(.*\); run `socialrating verify`"):
        ingest_file("tax", run_dir / "t.csv", run_dir, as_of=AS_OF)
    assert not (run_dir / "ingested").exists()
