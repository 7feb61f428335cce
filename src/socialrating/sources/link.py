"""Identity linkage with each source's own keys: the sources' entry to `identity.linkage`.

Linkage lives on the ground floor and knows no source; this module hands it the key
specification of each source from `schemas.SCHEMAS` (the bank by passport + name + birth
date, tax by INN, ...), so callers link by source name as before.
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from ..identity import linkage as _linkage
from ..identity.linkage import LinkResult
from ..identity.register_index import RegisterIndex
from .schemas import schema_for

__all__ = ["link_records", "link_sources", "LinkResult"]


def link_sources(records: Mapping[str, pl.DataFrame], register: pl.DataFrame | RegisterIndex, *,
                 settings: Mapping[str, Any] | None = None) -> dict[str, LinkResult]:
    """Link several sources in one pass (see `identity.linkage.link_sources`); ``register``:
    the whole register frame or a national `identity.register_index.RegisterIndex`."""
    return _linkage.link_sources(records, register, schemas={s: schema_for(s) for s in records}, settings=settings)


def link_records(source: str, records: pl.DataFrame, register: pl.DataFrame | RegisterIndex, *,
                 settings: Mapping[str, Any] | None = None) -> LinkResult:
    """Link one source's records to the register (see `identity.linkage`)."""
    return _linkage.link_records(source, records, register, schema=schema_for(source), settings=settings)
