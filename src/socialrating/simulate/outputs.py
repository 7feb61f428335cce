"""The simulation's outputs: the monthly panel, the spells, the wrongful table, the ledger
as of the last month end, the store and the manifest (every file of a run folder written
by simulate, in store/runfolder.py's contract)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import polars as pl

from ..store.runfolder import (KIND_ENUM, SCENARIO_ENUM, SCENARIOS, RunFolder, TableWriter, empty_table,
                               write_table)
from .runner import MonthOutcome, ShardResult
from .world import World, blocks_of


def table_path(folder: RunFolder, table: str, shard: int = 0, of: int = 1) -> Path:
    """Where a table (or one shard's part of it) goes: ``<table>.parquet`` in a run of one
    shard, else ``<table>/part-KKKKK.parquet`` (store/runfolder.py's layout)."""
    return folder.path / f"{table}.parquet" if of == 1 else folder.part_path(table, shard)


def block_major(events: pl.DataFrame, block_size: int | None) -> tuple[pl.DataFrame, np.ndarray | None]:
    """The events (month after month) reordered generation block after block, each block's
    month after month: the order that does not depend on which blocks share a shard, so the
    shards' parts read in order are the whole run's events. Also the new row of each old
    row (None when nothing moves: one block)."""
    blocks = blocks_of(events["citizen_id"].fill_null(-1).to_numpy(), block_size)
    if not len(blocks) or blocks.min() == blocks.max():
        return events, None
    order = np.argsort(blocks, kind="stable")
    new_row = np.empty(len(order), np.int64)
    new_row[order] = np.arange(len(order))
    return events[order], new_row


class PanelWriter:
    """ratings.parquet (everyone, every month end) and events.parquet (the actual
    scenario's records, feedback records included); a shard's parts when ``of`` > 1.
    Events are streamed month by month, or written at the end in block order
    (``block_major``) when the shard has several generation blocks. The ratings are kept
    until the end and written person by person (citizen_id, then month): a person's
    balances change in few months, so with the integer columns stored as deltas the panel
    takes 41% less than month by month (a 1M run's 35.6 MB -> about 21 MB), and one
    person's history is one run of rows. The panel is a shard's people x months, small
    beside the shard's records."""

    def __init__(self, folder: RunFolder, policy, citizens: np.ndarray, ends: list[dt.date], *,
                 shard: int = 0, of: int = 1, block_size: int | None = None):
        self.ratings = TableWriter(table_path(folder, "ratings", shard, of))
        self.events = TableWriter(table_path(folder, "events", shard, of))
        self.citizens, self.ends = citizens, ends
        blocks = blocks_of(citizens[[0, -1]], block_size) if len(citizens) else np.zeros(1, np.int64)
        self.block_size, self.stream = block_size, bool(blocks[0] == blocks[-1])
        self.band_enum = pl.Enum(policy.rating.bands.names) if policy.rating.bands else None
        self.records: list[pl.DataFrame] = []
        self.panel: list[pl.DataFrame] = []

    def write(self, month: MonthOutcome) -> None:
        self.records.append(month.records)
        if self.stream:
            self.events.write(month.records)
        ctx, end, n = month.state.ctx, self.ends[month.k], len(self.citizens)
        cols = {
            "citizen_id": self.citizens,
            "month": pl.Series([end], dtype=pl.Date).extend_constant(end, n - 1),
            "balance_status": pl.Series(ctx["balance_status"], dtype=pl.Int32),
            "balance_level": pl.Series(ctx["balance_level"], dtype=pl.Int32),
            "status": pl.Series(ctx["status"], dtype=pl.Int8),
            "level": pl.Series(ctx["level"], dtype=pl.Int8),
        }
        if self.band_enum is not None:
            cols["band"] = pl.Series(ctx["band"].astype(np.uint32)).cat.to(self.band_enum)
        self.panel.append(pl.DataFrame(cols))

    def close(self) -> pl.DataFrame:
        """Write the panel person by person and close both files; returns every record the
        actual scenario received, month by month."""
        if self.panel:  # each month's rows are in citizen order: a stable sort by citizen keeps the months in order
            self.ratings.write(pl.concat(self.panel, how="vertical").sort("citizen_id", maintain_order=True))
            self.panel = []
        self.ratings.close()
        events = pl.concat(self.records, how="vertical")
        if not self.stream:
            self.events.write(block_major(events, self.block_size)[0])
        self.events.close()
        return events


def spell_table(result: ShardResult, policy, citizens: np.ndarray, ends: list[dt.date]) -> pl.DataFrame:
    """consequences.parquet: one row per spell, per scenario (own and via the household)."""
    frames = []
    C, M, spill_idx = len(policy.consequences), len(ends), result.spill_idx
    ids = [c.id for c in policy.consequences]
    contexts = sorted({c.context for c in policy.consequences})
    kind_code = np.array([["privilege", "restriction"].index(c.kind) for c in policy.consequences])
    ctx_code = np.array([contexts.index(c.context) for c in policy.consequences])
    end_dates = pl.Series([e for e in ends], dtype=pl.Date)
    for s, (layer, cit, start, end, via) in result.spells.items():
        if not len(cit):
            continue
        own = layer < C
        j = np.where(own, layer, spill_idx[np.maximum(layer - C, 0)] if len(spill_idx) else 0)
        frames.append(pl.DataFrame({
            "citizen_id": citizens[cit],
            "scenario": pl.Series([s], dtype=SCENARIO_ENUM).extend_constant(s, len(cit) - 1),
            "consequence_id": pl.Series(j.astype(np.uint32)).cat.to(pl.Enum(ids)),
            "kind": pl.Series(kind_code[j].astype(np.uint32)).cat.to(KIND_ENUM),
            "context": pl.Series(ctx_code[j].astype(np.uint32)).cat.to(pl.Enum(contexts)).cast(pl.String),
            "start_month": end_dates.gather(start),
            "end_month": end_dates.gather(pl.Series(np.where(end < 0, 0, end)).set(pl.Series(end < 0), None)),
            "months": pl.Series(np.where(end < 0, M, end) - start, dtype=pl.Int16),
            "via_citizen_id": pl.Series(np.where(own, 0, via)).set(pl.Series(own), None),
        }))
    if not frames:
        return empty_table("consequences", consequence_id=pl.Enum(ids))
    return pl.concat(frames).sort(["scenario", "consequence_id", "citizen_id", "start_month"])


def error_sources(seen_months: list[pl.DataFrame]) -> pl.DataFrame:
    """Per citizen: the sources of records wrongly attached to them, among the records that
    reached the operator (the agencies' view, month by month): those the world flagged
    `erroneous` (a source error, or linked to someone other than the record's true citizen,
    or about nobody). A world that knows no errors (no `erroneous` column) has none."""
    frames = [m.select("citizen_id", pl.col("source").cast(pl.String), "erroneous")
              for m in seen_months if "erroneous" in m.columns]
    if not frames:
        return pl.DataFrame(schema={"citizen_id": pl.Int64, "error_sources": pl.String})
    bad = pl.concat(frames, how="vertical").filter(pl.col("erroneous"))
    return bad.group_by("citizen_id").agg(pl.col("source").unique().sort().str.join(",").alias("error_sources"))


def wrongful_table(result: ShardResult, policy, citizens: np.ndarray, err_src: pl.DataFrame) -> pl.DataFrame:
    """wrongful.parquet: per citizen and consequence held in the actual or no-appeals run,
    the months in each scenario and the months counted by pairing them."""
    months_in = {s: sc.months_in for s, sc in result.scenarios.items()}
    p = result.paired
    ids = pl.Enum([x.id for x in policy.consequences])
    frames = []
    for j, c in enumerate(policy.consequences):
        idx = np.flatnonzero((months_in["actual"][j] > 0) | (months_in["no_appeals"][j] > 0))

        def col(a: np.ndarray) -> pl.Series:
            return pl.Series(a[j][idx], dtype=pl.Int16)

        frames.append(pl.DataFrame({
            "citizen_id": citizens[idx],
            "consequence_id": pl.Series([c.id] * len(idx), dtype=ids),
            "kind": pl.Series([c.kind] * len(idx), dtype=KIND_ENUM),
            "months_actual": col(months_in["actual"]),
            "months_perfect_data": col(months_in["perfect_data"]),
            "months_no_feedback": col(months_in["no_feedback"]),
            "wrongful_months": col(p.wrongful),
            "feedback_months": col(p.feedback),
            "months_no_appeals": col(months_in["no_appeals"]),
            "wrongful_months_no_appeals": col(p.wrongful_no_appeals),
            "appeals_prevented_months": col(p.prevented),
        }))
    out = pl.concat(frames) if frames else pl.DataFrame()
    if frames:  # also when nobody is under anything: the table keeps its columns
        out = out.join(err_src, on="citizen_id", how="left").with_columns(pl.col("error_sources").fill_null(""))
    return out


def write_final(folder: RunFolder, final, shard: int = 0, of: int = 1) -> None:
    """The ledger, quarantine and current ratings and consequences as of the last month end
    (one shard's parts when ``of`` > 1)."""
    for table, frame in (("ledger", final.ledger), ("quarantine", final.quarantine),
                         ("current_ratings", final.ratings), ("current_consequences", final.consequences)):
        write_table(frame, table_path(folder, table, shard, of))


def write_store(folder: RunFolder, db: str | None, final, actual_engine, review_deadline_days) -> tuple:
    """Append the ledger to the hash-chained store and record the simulated appeals as state
    changes; returns (head, number of changes, head of the changes)."""
    from ..store.ledger_store import DEFAULT_FILE, LedgerStore, remove_duckdb_store

    if db is None:
        remove_duckdb_store(folder.path / DEFAULT_FILE)
    with LedgerStore.open(db or folder.path) as store:
        store.append_entries(final.ledger)
        head = store.head()
        n_changes = store.record_changes(actual_engine.appeal_changes(review_deadline_days))
        tip = store.changes().tail(1)
        return head, n_changes, (tip["hash"][0] if tip.height else None)


def write_linkage(path: Path, linkage: dict) -> None:
    (path / "linkage.json").write_text(json.dumps(linkage, indent=2, sort_keys=True, default=str) + "\n")


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def lint_findings(policy) -> list[dict]:
    from ..policy.lint import lint

    return [{"severity": f.severity, "code": f.code, "target": f.target, "message": f.message, "anchor": f.anchor}
            for f in lint(policy)]


def scenario_counts(result: ShardResult) -> dict:
    """The manifest's per-scenario counters."""
    sc = result.scenarios
    return {"records_seen_by_scenario": {s: sc[s].counts["records"] for s in SCENARIOS},
            "feedback_records_by_scenario": {s: sc[s].counts["feedback_records"] for s in SCENARIOS},
            "appeals_by_scenario": {s: {"contested": sc[s].counts["contested"],
                                        "overturned": sc[s].counts["overturned"]} for s in SCENARIOS}}
