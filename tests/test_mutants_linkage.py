"""identity/linkage.py on a three-person register: every record's outcome, exactly.

Which person a record is attached to, by which key and with what probability, or which
reason sends it to quarantine: each record below is worked by hand from the module
docstring (required values first; SNILS, INN, passport, phone in that order; the first
failure of a strong identifier is the reason; a passport two people hold is ambiguous).
The key specification is passed directly (identity knows no source), so these tests
follow linkage's own contract. Written to kill the mutants mutmut made of _deterministic
and _finish (scripts/mutation.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pytest

from socialrating.identity.inn import make_inn
from socialrating.identity.linkage import link_records, link_sources
from socialrating.identity.register import build_register
from socialrating.identity.snils import make_snils

S1, S2, S3, S_FREE = (int(v) for v in make_snils([123456789, 234567891, 345678912, 456789123]))
S1_TYPO = S1 // 100 * 100 + (S1 % 100 + 1) % 100  # same body, wrong check number
I1, I2, I_FREE = (int(v) for v in make_inn([77, 50, 12], [1, 2, 3], [111, 222, 333]))
P1, P2, P_FREE = 4508123456, 4510654321, 4512000777
F1, F_FREE = 79161234567, 79990001122
KEYS = ("snils", "inn", "passport", "phone")
NO_NAMES = {"fallback_to_names": False}


@dataclass
class Spec:
    keys: dict = field(default_factory=lambda: {k: None for k in KEYS})
    required_keys: tuple = ()


@pytest.fixture(scope="module")
def register() -> pl.DataFrame:
    # citizens 10, 20, 30; 20 and 30 share a passport (a broken register)
    return build_register(pl.DataFrame({
        "citizen_id": [10, 20, 30], "snils": [S1, S2, S3], "inn": [I1, I2, None],
        "passport": [P1, P2, P2], "phone": [F1, None, None],
        "surname": ["Иванов", "Петрова", "Сидоров"], "given_name": ["Иван", "Анна", "Пётр"],
        "patronymic": ["Иванович", "Сергеевна", "Петрович"],
        "birth_date": [dt.date(1980, 1, 2), dt.date(1990, 5, 6), dt.date(1975, 7, 8)],
    }))


def records(rows: list[dict], cols=KEYS) -> pl.DataFrame:
    return pl.DataFrame([{"record_id": f"r{i}", **{k: r.get(k) for k in cols}} for i, r in enumerate(rows)],
                        schema={"record_id": pl.String, **{k: pl.Int64 for k in cols}})


def outcome(res) -> dict[str, tuple]:
    out = {r["record_id"]: (r["citizen_id"], r["match_method"], r["match_probability"])
           for r in res.linked.iter_rows(named=True)}
    out.update({r["record_id"]: r["reason"] for r in res.quarantine.iter_rows(named=True)})
    return out


CASES = [
    (dict(snils=S1), (10, "snils", 1.0)),
    (dict(inn=I2), (20, "inn", 1.0)),
    (dict(phone=F1), (10, "phone", 1.0)),
    (dict(passport=P1), (10, "passport", 1.0)),
    (dict(snils=S1, inn=I2), (10, "snils", 1.0)),              # SNILS is tried first
    (dict(snils=S1_TYPO, inn=I1), (10, "inn", 1.0)),           # a later key rescues a typo
    (dict(snils=S_FREE, passport=P1), (10, "passport", 1.0)),
    (dict(snils=S1_TYPO), "invalid check digits"),
    (dict(inn=I1 + 1), "invalid check digits"),
    (dict(snils=S_FREE), "identifier not in register"),
    (dict(inn=I_FREE), "identifier not in register"),
    (dict(passport=P2), "ambiguous"),                           # two people hold it
    (dict(passport=P2, snils=S3), (30, "snils", 1.0)),          # a strong key decides first
    (dict(passport=4508000000), "invalid identifier format"),   # number 000000
    (dict(phone=71234567890), "invalid identifier format"),     # not a mobile number
    (dict(phone=F_FREE), "identifier not in register"),
    (dict(snils=S_FREE, inn=I1 + 1), "identifier not in register"),  # the first failure is the reason
    (dict(snils=S1_TYPO, phone=F_FREE), "invalid check digits"),
    (dict(inn=I1 + 1, snils=S_FREE), "identifier not in register"),   # SNILS's failure comes first
    (dict(phone=F_FREE, passport=4508000000), "invalid identifier format"),
    (dict(), "missing required key"),                           # nothing to link by
    (dict(snils=-5), "invalid check digits"),                   # malformed number: present, not valid
]


def test_each_record_by_hand(register):
    res = link_records("src", records([c for c, _ in CASES]), register, schema=Spec(), settings=NO_NAMES)
    assert outcome(res) == {f"r{i}": want for i, (_, want) in enumerate(CASES)}
    assert res.source == "src"
    n_linked = sum(isinstance(w, tuple) for _, w in CASES)
    assert res.stats == {"records": len(CASES), "linked": n_linked, "quarantined": len(CASES) - n_linked,
                         "candidate_pairs": 0}
    assert res.n_records == len(CASES)
    # records keep their order and columns; linkage adds its own
    assert res.linked.columns == ["record_id", *KEYS, "citizen_id", "match_method", "match_probability"]
    assert res.quarantine.columns == ["record_id", *KEYS, "reason"]
    ids = [f"r{i}" for i in range(len(CASES))]
    assert res.linked["record_id"].to_list() == [i for i, (_, w) in zip(ids, CASES) if isinstance(w, tuple)]
    assert res.quarantine["record_id"].to_list() == [i for i, (_, w) in zip(ids, CASES) if not isinstance(w, tuple)]
    assert res.linked.schema["citizen_id"] == pl.Int64 and res.linked.schema["match_probability"] == pl.Float64


def test_settings_key_order_and_probability(register):
    rec = records([dict(snils=S1, inn=I1), dict(snils=S2, inn=I1)])
    res = link_records("src", rec, register, schema=Spec(),
                       settings={"fallback_to_names": False, "strong_keys": ["inn", "snils"],
                                 "deterministic_probability": 0.99})
    assert outcome(res) == {"r0": (10, "inn", 0.99), "r1": (10, "inn", 0.99)}
    only_snils = link_records("src", rec, register, schema=Spec(), settings={**NO_NAMES, "strong_keys": ["snils"]})
    assert outcome(only_snils) == {"r0": (10, "snils", 1.0), "r1": (20, "snils", 1.0)}


def test_keys_the_source_does_not_hold_are_not_read(register):
    # the spec says the source keys people by INN only: its snils column is not used
    res = link_records("src", records([dict(snils=S1, inn=I_FREE), dict(snils=S1)]), register,
                       schema=Spec(keys={"inn": None}), settings=NO_NAMES)
    assert outcome(res) == {"r0": "identifier not in register", "r1": "missing required key"}


def test_required_values(register):
    spec = Spec(required_keys=("snils", "inn"))
    res = link_records("src", records([dict(snils=S1, inn=I1), dict(snils=S1), dict(inn=I1), dict(snils=S1_TYPO, inn=I1)]),
                       register, schema=spec, settings=NO_NAMES)
    assert outcome(res) == {"r0": (10, "snils", 1.0), "r1": "missing required key", "r2": "missing required key",
                            "r3": (10, "inn", 1.0)}


def test_refusals_word_for_word(register):
    with pytest.raises(ValueError) as e:
        link_records("tax", records([dict(snils=S1)]).with_columns(reason=pl.lit("x"), citizen_id=pl.lit(1)),
                     register, schema=Spec(), settings=NO_NAMES)
    assert str(e.value) == "tax records already have column(s) ['citizen_id', 'reason']; linkage adds them"
    with pytest.raises(ValueError) as e:
        link_records("tax", records([dict(snils=S1)], cols=("snils",)), register,
                     schema=Spec(required_keys=("snils", "inn", "phone")), settings=NO_NAMES)
    assert str(e.value) == "tax records lack required column(s) ['inn', 'phone']"


def test_empty_batch(register):
    res = link_records("src", records([]), register, schema=Spec(), settings=NO_NAMES)
    assert res.linked.height == 0 and res.quarantine.height == 0
    assert res.stats == {"records": 0, "linked": 0, "quarantined": 0, "candidate_pairs": 0}


def named(rows: list[dict]) -> pl.DataFrame:
    cols = {"record_id": pl.String, "snils": pl.Int64, "surname": pl.String, "given_name": pl.String,
            "patronymic": pl.String, "birth_date": pl.Date}
    return pl.DataFrame([{"record_id": f"r{i}", **{k: r.get(k) for k in list(cols)[1:]}} for i, r in enumerate(rows)],
                        schema=cols)


NAME_SPEC = Spec(keys={k: None for k in ("snils", "surname", "given_name", "patronymic", "birth_date")})
IVANOV = dict(surname="ИВАНОВ", given_name="иван", patronymic="Иванович", birth_date=dt.date(1980, 1, 2))


def test_names_and_birth_date_after_the_strong_keys(register):
    rows = [dict(snils=S1), dict(snils=S1_TYPO, **IVANOV), dict(**IVANOV),
            dict(snils=S_FREE, surname="Иванов", given_name="Иван", birth_date=None),  # no birth date: not tried
            dict(snils=S1_TYPO, surname="Кузнецов", given_name="Олег", birth_date=dt.date(2001, 3, 4))]
    res = link_records("src", named(rows), register, schema=NAME_SPEC)
    got = outcome(res)
    assert got["r0"] == (10, "snils", 1.0)
    assert got["r1"][:2] == (10, "probabilistic") and got["r2"][:2] == (10, "probabilistic")
    assert 0.95 <= got["r1"][2] < 1.0 and got["r1"][2] == got["r2"][2]
    assert got["r3"] == "identifier not in register"
    assert got["r4"] == "no candidate in register"
    assert res.stats["candidate_pairs"] == 1  # one distinct name tuple, one register candidate
    # with the fallback off, the same records keep their strong identifiers' verdicts
    off = outcome(link_records("src", named(rows), register, schema=NAME_SPEC, settings=NO_NAMES))
    assert off == {"r0": (10, "snils", 1.0), "r1": "invalid check digits", "r2": "missing required key",
                   "r3": "identifier not in register", "r4": "invalid check digits"}


def test_names_need_the_source_to_hold_them(register):
    no_birth = Spec(keys={k: None for k in ("snils", "surname", "given_name", "patronymic")})
    res = link_records("src", named([dict(snils=S1_TYPO, **IVANOV)]), register, schema=no_birth)
    assert outcome(res) == {"r0": "invalid check digits"}


def test_one_pass_over_sources_equals_one_call_each(register):
    a = named([dict(**IVANOV), dict(snils=S2)])
    b = records([dict(inn=I2), dict(passport=P2)])
    both = link_sources({"a": a, "b": b}, register, schemas={"a": NAME_SPEC, "b": Spec()})
    assert list(both) == ["a", "b"]
    for src, df, spec in (("a", a, NAME_SPEC), ("b", b, Spec())):
        one = link_records(src, df, register, schema=spec)
        assert both[src].linked.equals(one.linked) and both[src].quarantine.equals(one.quarantine)
        assert both[src].stats == one.stats
    assert outcome(both["b"]) == {"r0": (20, "inn", 1.0), "r1": "ambiguous"}
    assert both["a"].stats["candidate_pairs"] == 1 and both["b"].stats["candidate_pairs"] == 0


def test_a_name_source_without_a_patronymic_column(register):
    spec = Spec(keys={k: None for k in ("surname", "given_name", "birth_date")})
    recs = pl.DataFrame({"record_id": ["r0", "r1"], "surname": ["Иванов", "Кузнецов"], "given_name": ["Иван", "Олег"],
                         "birth_date": [dt.date(1980, 1, 2), dt.date(2001, 3, 4)]})
    got = outcome(link_records("src", recs, register, schema=spec))
    assert got["r0"][:2] == (10, "probabilistic") and got["r1"] == "no candidate in register"
    # the same source with the name step off: nothing to link by
    off = outcome(link_records("src", recs, register, schema=spec, settings=NO_NAMES))
    assert off == {"r0": "missing required key", "r1": "missing required key"}
