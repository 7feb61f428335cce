"""The events table the engine reads, and the checks every row passes before it scores.

Events come from data sources (synthetic or a user's files). The engine never trusts
them: a row with a missing citizen, date or type, an unknown citizen, or a per-unit rule
without an amount goes to quarantine with a reason; nothing is dropped silently.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..policy.refused import RefusedCategoryError, refusal_reason

from ..sources.schemas import EVENT_COLUMNS  # one schema for the engine and for ingest


class EventsError(ValueError):
    """The events table itself is unusable (missing columns, wrong types)."""


def check_columns(events: pl.DataFrame) -> None:
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise EventsError(
            f"events table is missing column(s) {missing}; expected {list(EVENT_COLUMNS)}"
        )
    for col, kind in (("citizen_id", "integer"), ("occurred_on", "date")):
        dtype = events.schema[col]
        ok = dtype.is_integer() if kind == "integer" else dtype == pl.Date
        if not ok:
            raise EventsError(f"events.{col}: expected {kind}, got {dtype}")
    if not events.schema["amount"].is_numeric():
        raise EventsError(f"events.amount: expected a number (or null), got {events.schema['amount']}")


def event_type_codes(events: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Dictionary-encode event_type: (int codes per row, the categories), cheaply for Enum input."""
    et = events["event_type"]
    if not isinstance(et.dtype, pl.Enum):
        if et.null_count():
            et = et.fill_null("")
        cats = et.cast(pl.String).unique().sort()
        et = et.cast(pl.String).cast(pl.Enum(cats.to_list()))
    cats = list(et.dtype.categories)
    codes = et.to_physical().to_numpy()
    if et.null_count():
        codes = np.where(et.is_null().to_numpy(), len(cats), codes)
        cats = cats + [""]
    return codes.astype(np.int32, copy=False), cats


def refuse_categories(categories: list[str], codes: np.ndarray) -> None:
    """Raise if any event type in the input belongs to a refused category."""
    bad = [(c, refusal_reason(c)) for c in categories if c and refusal_reason(c)]
    if not bad:
        return
    counts = np.bincount(codes, minlength=len(categories))
    lines = [
        f"  - '{c}' ({counts[categories.index(c)]} events): {why}" for c, why in bad
    ]
    raise RefusedCategoryError(
        "the events name categories socialrating refuses to score "
        "(see README, 'Out of scope'):\n" + "\n".join(lines)
    )
