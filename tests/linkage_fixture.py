"""A small synthetic-records generator with known truth, for the linkage and ingest tests.

Stand-in for ``sources/synthetic.py`` while it is being written: from a population frame it
makes records in each source's schema (``schemas.SCHEMAS``), with the identifiers the
agency keys people by, and corrupts some of them the way agency data goes wrong. Whole
columns only (NumPy / Polars), so it also serves the 1M-people benchmark.

Error kinds (``truth.error_kind``; at most one per record):
  id_typo       one digit of the record's strong identifier changed
  name_typo     one letter of the surname replaced
  name_variant  lower case and Ё -> Е (the register normalises these away)
  swap          surname and given name swapped
  dob_typo      birth day moved by one
  no_patronymic patronymic left empty
  foreign       a person who is not in the register (true_citizen_id null)
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from socialrating.identity import inn as _inn
from socialrating.identity import names as _names
from socialrating.identity import snils as _snils
from socialrating.sources.schemas import SCHEMAS

#: records per person per year (rough orders of magnitude, see sources/basic.py)
RATES = {
    "bank": 0.35, "tax": 0.5, "traffic_police": 0.5, "police": 0.006, "bailiffs": 0.25, "courts": 0.015,
    "housing": 0.02, "social_fund": 0.1, "civil_registry": 0.01, "education": 0.05, "volunteering": 0.3,
    "gto": 0.012, "awards": 0.002, "public_office": 0.003, "taxi": 0.01, "medical": 0.5,
}
#: chance an optional identifier column is filled
OPTIONAL_FILL = 0.5
ERROR_KINDS = ("id_typo", "name_typo", "name_variant", "swap", "dob_typo", "no_patronymic", "foreign")
_LETTERS = list("АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯ")
_DIGITS = {"snils": 11, "inn": 12, "passport": 10, "phone": 11}
_STRONG = ("snils", "inn", "passport", "phone")


def name_strings(people: pl.DataFrame) -> pl.DataFrame:
    """Surname, given name, patronymic as written (title case, with Ё) for each person."""
    fem = (people["sex"].cast(pl.String) == "F").to_numpy()
    return pl.DataFrame({
        "surname": pl.Series(_names.surname_labels(people["surname"].to_numpy(), fem), dtype=pl.String),
        "given_name": pl.Series(_names.given_name_labels(people["given_name"].to_numpy(), fem), dtype=pl.String),
        "patronymic": pl.Series(_names.patronymic_labels(people["patronymic"].to_numpy(), fem), dtype=pl.String),
    })


def _days(x) -> pl.Series:
    return pl.Series(np.asarray(x, dtype=np.int32)).cast(pl.Date)


def digit_typo(x: np.ndarray, ndigits: int, rng: np.random.Generator) -> np.ndarray:
    """Change one decimal digit (random position among ``ndigits``) of each number."""
    x = np.asarray(x, dtype=np.int64)
    pos = rng.integers(0, ndigits, x.shape)
    p10 = 10 ** pos.astype(np.int64)
    d = (x // p10) % 10
    nd = (d + rng.integers(1, 10, x.shape)) % 10
    if ndigits in (10, 11, 12):  # keep the leading digit non-zero so the number keeps its length
        lead = pos == ndigits - 1
        nd = np.where(lead & (nd == 0), (d % 9) + 1, nd)
    return x + (nd - d) * p10


def _letter_typo(col: pl.Series, rng: np.random.Generator) -> pl.Series:
    n = len(col)
    length = col.str.len_chars().fill_null(1).to_numpy()
    pos = np.maximum(1, (rng.random(n) * np.maximum(length - 1, 1)).astype(np.int64) + 1) % np.maximum(length, 1)
    pos = np.where(length > 1, np.clip(pos, 1, length - 1), 0)
    letters = pl.Series(np.array(_LETTERS, dtype=object)[rng.integers(0, len(_LETTERS), n)], dtype=pl.String)
    df = pl.DataFrame({"s": col, "p": pos, "l": letters})
    out = df.select(
        pl.when(pl.col("s").str.slice(pl.col("p"), 1).str.to_uppercase() == pl.col("l"))
        .then(pl.col("s").str.slice(0, pl.col("p")) + pl.lit("Ы") + pl.col("s").str.slice(pl.col("p") + 1))
        .otherwise(pl.col("s").str.slice(0, pl.col("p")) + pl.col("l").str.to_lowercase() + pl.col("s").str.slice(pl.col("p") + 1))
    ).to_series()
    return out.alias(col.name)


def make_records(people: pl.DataFrame, *, seed: int = 0, rates: dict[str, float] | None = None,
                 error_rate: float = 0.06, foreign_rate: float = 0.01, start: dt.date = dt.date(2024, 1, 1),
                 sources: list[str] | None = None) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Records per source in the schema, and the truth table.

    ``error_rate``: share of records with one error (kinds drawn uniformly among those
    that apply to the source); ``foreign_rate``: share of records of people not in the
    register.
    """
    rates = rates or RATES
    rng = np.random.default_rng(seed)
    names = name_strings(people)
    base = pl.concat([people.select("citizen_id", "birth_date", *[c for c in _STRONG if c in people.columns]), names],
                     how="horizontal")
    N = people.height
    out: dict[str, pl.DataFrame] = {}
    truths = []
    for src in (sources or list(RATES)):
        sch = SCHEMAS[src]
        n = int(round(rates[src] * N))
        if n == 0:
            continue
        strong = [k for k in _STRONG if k in sch.keys]
        req_strong = [k for k in strong if k in sch.required_keys]
        eligible = base.filter(pl.col("birth_date") < start)  # events happen after birth
        for k in req_strong:
            eligible = eligible.filter(pl.col(k).is_not_null())
        idx = rng.integers(0, eligible.height, n)
        r = eligible[idx]
        cols: dict[str, pl.Series] = {}
        for k, dtype in sch.keys.items():
            s = r[k].cast(dtype)
            if k not in sch.required_keys and k in _STRONG:
                s = s.set(pl.Series(rng.random(n) >= OPTIONAL_FILL), None)
            cols[k] = s
        true_id = r["citizen_id"].clone()
        # errors
        kinds = [k for k in ERROR_KINDS if k != "foreign"]
        name_src = "surname" in sch.keys
        if not name_src:
            kinds = ["id_typo"]
        if not strong:
            kinds = [k for k in kinds if k != "id_typo"]
        u = rng.random(n)
        kind = np.full(n, None, dtype=object)
        err = u < error_rate
        kind[err] = np.array(kinds, dtype=object)[rng.integers(0, len(kinds), int(err.sum()))]
        foreign = (u >= error_rate) & (u < error_rate + foreign_rate)
        kind[foreign] = "foreign"

        def rows(k):
            return np.flatnonzero(kind == k)

        # id typo: the first strong key the record carries
        m = rows("id_typo")
        if m.size:
            done = np.zeros(m.size, dtype=bool)
            for k in strong:
                vals = cols[k].gather(m)
                has = vals.is_not_null().to_numpy() & ~done
                if has.any():
                    sel = m[has]
                    new = digit_typo(vals.filter(pl.Series(has)).to_numpy(), _DIGITS[k], rng)
                    cols[k] = cols[k].scatter(sel, new)
                    done |= has
            kind[m[~done]] = None  # nothing to corrupt
        if name_src:
            m = rows("name_typo")
            if m.size:
                cols["surname"] = cols["surname"].scatter(m, _letter_typo(cols["surname"].gather(m), rng))
            m = rows("name_variant")
            if m.size:
                for c in ("surname", "given_name", "patronymic"):
                    cols[c] = cols[c].scatter(m, cols[c].gather(m).str.to_lowercase().str.replace_all("ё", "е"))
            m = rows("swap")
            if m.size:
                s, g = cols["surname"].gather(m), cols["given_name"].gather(m)
                cols["surname"] = cols["surname"].scatter(m, g)
                cols["given_name"] = cols["given_name"].scatter(m, s)
            m = rows("dob_typo")
            if m.size:
                d = cols["birth_date"].gather(m)
                shift = np.where(d.dt.day().to_numpy() > 1, -1, 1)
                cols["birth_date"] = cols["birth_date"].scatter(m, _days(d.cast(pl.Int32).to_numpy() + shift))
            m = rows("no_patronymic")
            if m.size:
                cols["patronymic"] = cols["patronymic"].scatter(m, pl.Series([None] * m.size, dtype=pl.String))
        m = rows("foreign")
        if m.size:
            true_id = true_id.scatter(m, pl.Series([None] * m.size, dtype=pl.Int64))
            for k in strong:
                if k == "snils":
                    new = _snils.make_snils(rng.integers(900_000_000, 999_999_999, m.size))
                elif k == "inn":
                    new = _inn.make_inn(rng.integers(90, 99, m.size), rng.integers(90, 99, m.size), rng.integers(0, 999_999, m.size))
                elif k == "passport":
                    new = rng.integers(99 * 10**8, 99 * 10**8 + 10**8, m.size)
                else:
                    new = 7_990_000_0000 + rng.integers(0, 10**7, m.size)  # 7990xxxxxxx
                if k in sch.required_keys or name_src is False:
                    cols[k] = cols[k].scatter(m, new)
                else:
                    cols[k] = cols[k].scatter(m, pl.Series([None] * m.size, dtype=pl.Int64))
            if name_src:
                # another person's names, a birth date nobody with those names has
                other = base[rng.integers(0, N, m.size)]
                for c in ("surname", "given_name", "patronymic"):
                    cols[c] = cols[c].scatter(m, other[c])
                cols["birth_date"] = cols["birth_date"].scatter(m, _days(rng.integers(-20000, -15000, m.size)))
        ets = sch.event_types
        day0 = (start - dt.date(1970, 1, 1)).days + rng.integers(0, 365, n)
        rid = pl.Series(np.arange(n)).cast(pl.String).str.zfill(9)
        frame = pl.DataFrame({
            "record_id": pl.select(pl.concat_str([pl.lit(f"{src}-"), pl.lit(rid)])).to_series(),
            "event_type": pl.Series(np.array(ets, dtype=object)[rng.integers(0, len(ets), n)], dtype=pl.String),
            "occurred_on": _days(day0),
            "reported_on": _days(day0 + rng.integers(1, 30, n)),
            "amount": pl.Series(np.round(rng.lognormal(8, 1, n), 2), dtype=pl.Float64),
            **cols,
        })
        for c, dtype in sch.extra.items():
            frame = frame.with_columns(pl.lit(None, dtype).alias(c))
        frame = frame.select([pl.col(c).cast(t) for c, t in sch.columns.items()])
        out[src] = frame
        truths.append(pl.DataFrame({
            "source": pl.Series([src] * n, dtype=pl.String),
            "record_id": frame["record_id"],
            "true_citizen_id": true_id,
            "event_type": frame["event_type"],
            "occurred_on": frame["occurred_on"],
            "erroneous": pl.Series(kind != None),  # noqa: E711
            "error_kind": pl.Series(kind.tolist(), dtype=pl.String),
            "duplicate_of": pl.Series([None] * n, dtype=pl.String),
        }))
    return out, pl.concat(truths, how="vertical")
