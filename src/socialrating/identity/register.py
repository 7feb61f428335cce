"""The citizen register that records are linked against.

The population frame carries names as small integer codes (see :mod:`.names`); the
register turns them into *normalised* strings once, so that linkage compares like with
like: upper case, ``Ё`` -> ``Е``, surrounding blanks trimmed, runs of blanks collapsed.
Records from sources go through the same :func:`normalise_name` before comparison.

Register columns: ``citizen_id`` Int64, ``snils`` / ``inn`` / ``passport`` / ``phone``
Int64 (nullable: children have no passport, not everyone has a phone), ``surname``,
``given_name``, ``patronymic`` String (normalised), ``birth_date`` Date, ``sex`` String.
"""

from __future__ import annotations

import polars as pl

from . import names as _names

__all__ = ["REGISTER_COLUMNS", "IDENTIFIER_COLUMNS", "NAME_COLUMNS", "build_register", "normalise_name"]

IDENTIFIER_COLUMNS = ("snils", "inn", "passport", "phone")
NAME_COLUMNS = ("surname", "given_name", "patronymic")
REGISTER_COLUMNS: dict[str, pl.DataType] = {
    "citizen_id": pl.Int64,
    "snils": pl.Int64,
    "inn": pl.Int64,
    "passport": pl.Int64,
    "phone": pl.Int64,
    "surname": pl.String,
    "given_name": pl.String,
    "patronymic": pl.String,
    "birth_date": pl.Date,
    "sex": pl.String,
}


def normalise_name(col: str | pl.Expr) -> pl.Expr:
    """Upper case, Ё -> Е, blanks trimmed and collapsed; empty strings become null."""
    e = pl.col(col) if isinstance(col, str) else col
    e = (
        e.cast(pl.String)
        .str.to_uppercase()
        .str.replace_all("Ё", "Е", literal=True)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(e.str.len_chars() > 0).then(e).otherwise(None)


def _decode(codes: pl.Expr, female: pl.Expr, male_labels: list[str], female_labels: list[str]) -> pl.Expr:
    """Labels for codes by sex, as a gather from two small normalised dictionaries."""
    norm = pl.DataFrame({"m": male_labels, "f": female_labels}).select(normalise_name("m"), normalise_name("f"))
    m = pl.lit(norm["m"]).implode().list.get(codes.cast(pl.Int64), null_on_oob=True)
    f = pl.lit(norm["f"]).implode().list.get(codes.cast(pl.Int64), null_on_oob=True)
    return pl.when(female).then(f).otherwise(m)


def build_register(population: pl.DataFrame) -> pl.DataFrame:
    """The register of identifiers and normalised names from a population frame.

    Name columns may be the generator's integer codes (decoded with the name
    dictionary by sex) or strings (normalised). Missing identifier columns are null.
    """
    missing = [c for c in ("citizen_id", "birth_date", *NAME_COLUMNS) if c not in population.columns]
    if missing:
        raise ValueError(f"population frame lacks column(s) {missing} needed for the register")
    female = (pl.col("sex").cast(pl.String) == "F") if "sex" in population.columns else pl.lit(False)
    exprs: list[pl.Expr] = [pl.col("citizen_id").cast(pl.Int64)]
    for c in IDENTIFIER_COLUMNS:
        exprs.append(pl.col(c).cast(pl.Int64) if c in population.columns else pl.lit(None, pl.Int64).alias(c))
    masc, fem = _names.surname_table()
    labels = {
        "surname": (masc.tolist(), fem.tolist()),
        "given_name": (
            list(_names.MALE_GIVEN_NAMES)
            + [_names.MALE_GIVEN_NAMES[-1]] * max(0, len(_names.FEMALE_GIVEN_NAMES) - len(_names.MALE_GIVEN_NAMES)),
            list(_names.FEMALE_GIVEN_NAMES)
            + [_names.FEMALE_GIVEN_NAMES[-1]] * max(0, len(_names.MALE_GIVEN_NAMES) - len(_names.FEMALE_GIVEN_NAMES)),
        ),
        "patronymic": (list(_names.PATRONYMICS_MALE), list(_names.PATRONYMICS_FEMALE)),
    }
    for c in NAME_COLUMNS:
        dtype = population.schema[c]
        if dtype.is_integer():
            exprs.append(_decode(pl.col(c), female, *labels[c]).alias(c))
        else:
            exprs.append(normalise_name(c).alias(c))
    exprs.append(pl.col("birth_date").cast(pl.Date))
    exprs.append(pl.col("sex").cast(pl.String) if "sex" in population.columns else pl.lit(None, pl.String).alias("sex"))
    return population.select(exprs)
