"""The documented file format of each source, for people who bring their own data.

`socialrating ingest --schema SOURCE` prints this: every column with its type, whether the
linkage needs it, and what it means; the event types the source may report with their
units; and the formats accepted. It is generated from `schemas.SCHEMAS` and the event
catalogue, so the documentation cannot drift from what `ingest` checks.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ..policy.catalog import CATALOG
from .schemas import COMMON, schema_for

__all__ = ["schema_doc", "COLUMN_NOTES"]

COLUMN_NOTES: dict[str, str] = {
    "record_id": "the agency's own id of the record, unique within the source (at most 128 characters)",
    "event_type": "one of the event types below",
    "occurred_on": "date of the event: YYYY-MM-DD or DD.MM.YYYY",
    "reported_on": "date the agency sent the record (not before occurred_on)",
    "amount": "the event's amount in its unit (see the event types); empty when it has none",
    "snils": "SNILS, 11 digits with check digits; 112-233-445 95 or 11223344595",
    "inn": "personal INN, 12 digits with check digits",
    "passport": "passport series and number: 45 08 123456 or 4508123456",
    "phone": "mobile: +7 912 345-67-89, 8 912 345 67 89 or 79123456789",
    "surname": "surname as the agency holds it, in Cyrillic text",
    "given_name": "given name, in Cyrillic text",
    "patronymic": "patronymic, in Cyrillic text (may be empty)",
    "birth_date": "date of birth: YYYY-MM-DD or DD.MM.YYYY",
    "camera": "true if the fine was issued by a camera (sent to the registered owner)",
    "vehicle_plate": "the vehicle's registration plate",
    "proceeding_id": "the bailiffs' enforcement proceeding number",
    "account": "the housing account number",
}


def _type_name(t: pl.DataType) -> str:
    return {pl.Int64: "digits", pl.String: "text", pl.Date: "date", pl.Float64: "number",
            pl.Boolean: "true/false"}.get(t, str(t))


def schema_doc(source: str) -> dict[str, Any]:
    """The source's file format as plain data (the CLI prints it, or dumps it as JSON)."""
    s = schema_for(source)
    required = set(s.required_keys) | {"record_id", "event_type", "occurred_on"}
    cols = [{"column": c, "type": _type_name(t),
             "required": c in required,
             "role": "record" if c in COMMON else ("identifies the person" if c in s.keys else "source-specific"),
             "meaning": COLUMN_NOTES.get(c, "")}
            for c, t in s.columns.items()]
    events = [{"event_type": e.name, "unit": e.unit, "category": e.category, "meaning": e.description}
              for e in CATALOG if e.source == source]
    return {"source": source, "agency": s.agency, "special_category_data": s.special_category,
            "columns": cols, "event_types": events,
            "file": "CSV (UTF-8, a header row, comma-separated) or Parquet with these column names",
            "example": f"examples/ingest/{source}.csv"}
