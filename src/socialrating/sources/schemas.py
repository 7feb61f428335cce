"""The record shape of each data source: which identifiers the agency keys people by.

Each agency knows people the way it does in life (a bank by passport, name and birth
date; the tax service by INN; bailiffs by name and birth date, with INN when known;
volunteering platforms by phone; check-ups by SNILS). A source's records therefore
carry that agency's identifying columns, not a citizen_id: the link to a citizen is
made later, by identity linkage, with its errors. This module is the contract between
the synthetic sources, the linkage and `socialrating ingest` for files users bring.

Every record also has: `record_id` (String, unique within the source), `event_type`
(String, one of the source's types), `occurred_on` (Date), `reported_on` (Date: when the
agency sent it; late records arrive after the rating date), `amount` (Float64, nullable).
Identifier columns are Int64 digits (SNILS 11 digits, INN 12, passport series*10^6 +
number, phone 7XXXXXXXXXX as 11 digits); names are Strings; `birth_date` is a Date.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..policy.catalog import CATALOG

#: The engine's events table: what every linked record becomes (engine/events.py, ingest).
EVENT_COLUMNS: dict[str, pl.DataType] = {
    "citizen_id": pl.Int64,
    "event_type": pl.String,
    "occurred_on": pl.Date,
    "amount": pl.Float64,
    "source": pl.String,
    "record_id": pl.String,
}

COMMON: dict[str, pl.DataType] = {
    "record_id": pl.String,
    "event_type": pl.String,
    "occurred_on": pl.Date,
    "reported_on": pl.Date,
    "amount": pl.Float64,
}
NAME_DOB: dict[str, pl.DataType] = {
    "surname": pl.String, "given_name": pl.String, "patronymic": pl.String, "birth_date": pl.Date,
}


@dataclass(frozen=True)
class SourceSchema:
    name: str
    agency: str
    keys: dict[str, pl.DataType]      # identifying columns the agency holds
    required_keys: tuple[str, ...]    # must be non-null in every record
    extra: dict[str, pl.DataType]     # source-specific columns
    special_category: bool = False    # health data: 152-FZ Art. 10, GDPR Art. 9
    prefix: str = ""                  # synthetic record ids: PREFIX-nnnnnnnnnnnn

    @property
    def event_types(self) -> list[str]:
        return [e.name for e in CATALOG if e.source == self.name]

    @property
    def columns(self) -> dict[str, pl.DataType]:
        return {**COMMON, **self.keys, **self.extra}


def _s(name, agency, keys, required, extra=None, special=False) -> SourceSchema:
    return SourceSchema(name, agency, keys, tuple(required), extra or {}, special, _PREFIX[name])


#: The synthetic record ids' prefix per source (the agency's initials, in Latin letters).
_PREFIX: dict[str, str] = {
    "bank": "BNK", "tax": "FNS", "traffic_police": "GIB", "police": "MVD", "bailiffs": "FSP", "courts": "SUD",
    "housing": "ZKH", "social_fund": "SFR", "civil_registry": "ZAG", "education": "EDU", "volunteering": "DOB",
    "gto": "GTO", "awards": "AWD", "public_office": "GOS", "taxi": "TXI", "medical": "MED",
    "marketplace": "MKT", "conscription": "VKM", "residence": "REG",
}


SCHEMAS: dict[str, SourceSchema] = {s.name: s for s in (
    _s("bank", "banks and credit bureau", {"passport": pl.Int64, **NAME_DOB},
       ["passport", "surname", "given_name", "birth_date"]),
    _s("tax", "Federal Tax Service", {"inn": pl.Int64}, ["inn"]),
    _s("traffic_police", "traffic police (GIBDD), fines go to the registered vehicle owner",
       {"passport": pl.Int64, **NAME_DOB}, ["surname", "given_name", "birth_date"],
       {"camera": pl.Boolean, "vehicle_plate": pl.String}),
    _s("police", "police (administrative offences)", dict(NAME_DOB), ["surname", "given_name", "birth_date"]),
    _s("bailiffs", "Federal Bailiff Service (FSSP)", {**NAME_DOB, "inn": pl.Int64},
       ["surname", "given_name", "birth_date"], {"proceeding_id": pl.String}),
    _s("courts", "courts", {**NAME_DOB, "passport": pl.Int64}, ["surname", "given_name", "birth_date"]),
    _s("housing", "housing and utility companies (account holder)", dict(NAME_DOB),
       ["surname", "given_name", "birth_date"], {"account": pl.String}),
    _s("social_fund", "Social Fund of Russia", {"snils": pl.Int64}, ["snils"]),
    _s("civil_registry", "civil registry (ZAGS)", {"snils": pl.Int64}, ["snils"]),
    _s("education", "education registry", {"snils": pl.Int64, **NAME_DOB}, ["snils"]),
    _s("volunteering", "volunteering platform (Dobro.rf)", {"phone": pl.Int64}, ["phone"]),
    _s("gto", "GTO sport complex", {**NAME_DOB, "phone": pl.Int64}, ["surname", "given_name", "birth_date"]),
    _s("awards", "state awards registry", {"inn": pl.Int64, **NAME_DOB}, ["surname", "given_name", "birth_date"]),
    _s("public_office", "civil service registry", {"inn": pl.Int64}, ["inn"]),
    _s("taxi", "taxi aggregator", {"phone": pl.Int64}, ["phone"]),
    _s("medical", "medical check-ups (EMIAS/ЕГИСЗ)", {"snils": pl.Int64}, ["snils"], special=True),
    # issue 14 (appended: a source's index in this dict seeds its random streams)
    _s("marketplace", "online marketplace (customer account by phone)", {"phone": pl.Int64}, ["phone"],
       {"account": pl.String}),
    _s("conscription", "military commissariats' unified register", {"snils": pl.Int64, **NAME_DOB}, ["snils"]),
    _s("residence", "residence registration (household register)", {"passport": pl.Int64, **NAME_DOB}, ["passport"]),
)}


def schema_for(source: str) -> SourceSchema:
    if source not in SCHEMAS:
        raise KeyError(f"unknown source '{source}'; known: {', '.join(sorted(SCHEMAS))}")
    return SCHEMAS[source]
