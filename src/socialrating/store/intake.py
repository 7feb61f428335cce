"""Ingest into a sealed run folder: the accepted records join the record on file.

`ingest_into_run` holds the folder lock, verifies the folder, reads, validates and links
the file (`sources.ingest.plan_ingest`), then in one transaction: appends the accepted
records to ``ingested/events.parquet`` (all sources, in the order accepted) and the
per-source files, re-scores the whole run with them (their entries are numbered after the
run's own events: entry_id = (rows of events.parquet + position in ingested/events) * 8 +
rule slot), appends their ledger entries to the hash chain, and seals the new manifest.
So `explain`, the current ratings and consequences, and `verify` all see them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from ..sources.ingest import IngestError, IngestReport, plan_ingest
from .contest import INGESTED_EVENTS, extend, ingested_events, rescore
from .runfolder import write_table


def ingest_into_run(source: str, path: str | Path, run_dir: str | Path, *, as_of: dt.date | None = None,
                    db: str | None = None, settings: dict[str, Any] | None = None) -> tuple[IngestReport, dict]:
    """Ingest one file into a run folder as one transaction; returns the report and a summary."""
    run_dir = Path(run_dir)

    def action(store, folder, m, policy, run_as_of, txn):
        if as_of is not None and as_of > run_as_of:
            raise IngestError(f"--as-of {as_of} is after the run's as-of date {run_as_of}: the run is a picture "
                              "as of that date, so records dated later cannot join it")
        register = folder.read("citizens") if folder.has("citizens") else None  # one file or parts
        plan = plan_ingest(source, Path(path), run_dir, as_of=as_of or run_as_of, settings=settings,
                           register=register, run_events=folder.scan("events") if folder.has("events") else None)
        out: dict[str, Any] = {"report": plan.report, "new_entries": 0}
        if not plan.files:  # every record already on file: nothing changes
            out["_manifest"] = None
            return out
        for rel, frame in plan.files.items():
            write_table(frame, txn.path(rel))
        ing = m.setdefault("ingested", {"events": 0, "by_source": {}, "quarantined": 0, "files": 0})
        ing["files"] += 1
        ing["quarantined"] += plan.report.quarantined_total
        if plan.accepted.height:
            old = ingested_events(run_dir)
            new_from = int(folder.scan("events").select(pl.len()).collect().item()) + old.height
            write_table(pl.concat([old, plan.accepted], how="vertical_relaxed"), txn.path(INGESTED_EVENTS))
            summary = rescore(run_dir, store, txn, folder, m, policy, run_as_of, new_from=new_from,
                              concerned=plan.accepted["citizen_id"].drop_nulls().unique().to_numpy())
            fresh = summary.pop("_new_entries")
            n = 0
            if store is not None and fresh is not None and fresh.height:
                n = store.append_entries(fresh)
                m["ledger_store"] = {**(m.get("ledger_store") or {}), "head": store.head()}
            ing["events"] += plan.accepted.height
            ing["by_source"][source] = ing["by_source"].get(source, 0) + plan.accepted.height
            ing["entries"] = ing.get("entries", 0) + n
            out.update(summary, new_entries=n)
        out["_manifest"] = m
        return out

    out = extend(run_dir, db, action)
    return out.pop("report"), out
