"""Synthetic Russia as a simulation world: population -> agency records -> linkage.

What the engine sees is what the agencies sent, keyed their own way, with their errors,
after identity linkage (records that cannot be linked go to quarantine, with reasons).
The perfect-data twin is the same behaviour from the same random streams with no source
errors, attached to the true citizen: the difference between the two is the harm done by
imperfect data. Ground truth stays in `truth`, which the engine never reads.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import polars as pl

from .. import parallel
from ..identity.linkage import beside_truth, linkage_report
from ..sources.link import link_sources
from ..identity.register import build_register
from ..population.calibration import load_calibration
from ..population.generate import generate_population
from ..sources.errors import ErrorModel
from ..sources.synthetic import records_view, true_records
from ..sources.basic import EVENT_TYPE, SOURCE
from .world import World



def _events(source: str, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("citizen_id").cast(pl.Int64), pl.col("event_type").cast(pl.String), "occurred_on",
        pl.col("amount").cast(pl.Float64), pl.lit(source, pl.String).alias("source"),
        pl.col("record_id").cast(pl.String), "reported_on",
    )


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Dictionary-encode event types and sources once, so monthly scoring skips it."""
    return frame.with_columns(pl.col("event_type").cast(EVENT_TYPE), pl.col("source").cast(SOURCE))


def block_size_of(block_size: int | None) -> int:
    """The generation block size: ``block_size``, else the calibration's ``model.block_size``."""
    return int(block_size) if block_size is not None else int(load_calibration().model.block_size.value)


def record_seed(seed: int, block: int) -> np.random.SeedSequence:
    """The records stream of generation block ``block``: block 0 keeps the whole-population
    stream of before, (0,)'s child [1] = spawn key (0, 1); block b >= 1 has (4, b), a branch
    nothing else uses (generate_records' own streams hang below either)."""
    return np.random.SeedSequence(seed, spawn_key=(0, 1) if block == 0 else (4, block))


def national_register(people: "pl.DataFrame | list[Path]", spill_dir: Path | None = None):
    """The register every record is linked against: the whole nation's people, whichever
    block or shard a record comes from. A frame (a world built whole) gives the full
    register; the citizens parts of a sharded run give the compact national index
    (identity/register_index.py: about 75 bytes a person, the same linkage results), built
    from the parts one at a time, once per process (cached on the parts' paths, sizes and
    times, so each worker process builds it once for all its shards). ``spill_dir``: where
    the builder keeps the parts' arrays until the index is made, instead of in memory (held
    there, they and the index were about twice the index at the build's peak: 21 GB at
    146M people instead of 12.9)."""
    if isinstance(people, pl.DataFrame):
        return build_register(people)
    paths = tuple(Path(p) for p in people)
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    with _INDEX_LOCK:  # shards built side by side share it: the first to ask builds it
        if _INDEX.get("key") != key:
            from ..identity.register_index import RegisterIndexBuilder

            _INDEX.clear()  # the previous run's index goes before this one is built
            builder = RegisterIndexBuilder(spill_dir=spill_dir)
            for p in paths:
                builder.add(pl.read_parquet(p))
            _INDEX.update(key=key, index=builder.finish())
        return _INDEX["index"]


_INDEX: dict = {}
_INDEX_LOCK = threading.Lock()


def forget_national_register() -> None:
    """Drop this process's cached register index: once every shard is linked, nothing reads
    it again, and at 146M people it is 10 GB that the months and the outputs do not need."""
    with _INDEX_LOCK:
        _INDEX.clear()


def block_records(people: pl.DataFrame, start: dt.date, years: float, seed: int, block: int,
                  keep: Callable | None = None, blocks: int = 1):
    """One generation block's records: the agencies' view and the error-free twin, from the
    block's own stream (``record_seed``), numbered in the block's range, with identifier keys
    shared by all blocks (``blocks``: how many the run has). Errors that pick another person
    pick within the block."""
    own, keys = record_seed(seed, block), record_seed(seed, 0)
    # the agency models run once; the two views of their records run side by side
    true = true_records(people, start, years, own, block=block, blocks=blocks, keys=keys)
    pool = parallel.current()
    seen_job = pool.submit(lambda: records_view(true, keep=keep))
    twin_job = pool.submit(lambda: records_view(true, ErrorModel.none(), identities=False, keep=keep))
    return seen_job.result(), twin_job.result()


def blocks_of(people: pl.DataFrame, block_size: int) -> list[tuple[int, pl.DataFrame]]:
    """(block number, its people) for every generation block (citizen ids are positions)."""
    if not people.height:
        return [(0, people)]
    first = int(people["citizen_id"][0])
    if first % block_size:
        raise ValueError(f"people start at citizen {first}, inside a generation block of {block_size}")
    return [(first // block_size + i, people.slice(lo, block_size))
            for i, lo in enumerate(range(0, people.height, block_size))]


def merge_batches(batches: list) -> SimpleNamespace:
    """Several blocks' SourceBatches as one: per source the blocks' records in block order;
    the truth rows block by block (each block's in source order, each source's rows in its
    records' order), and ``truth_rows``: per source, the truth row of each of its records."""
    first = batches[0]
    records = {s: pl.concat([b.records[s] for b in batches], how="vertical") for s in first.records}
    truth = pl.concat([b.truth for b in batches], how="vertical")
    rows: dict[str, list[np.ndarray]] = {s: [] for s in first.records}
    at = 0
    for b in batches:
        for s, frame in b.records.items():
            rows[s].append(np.arange(at, at + frame.height, dtype=np.int64))
            at += frame.height
    if at != truth.height:
        raise AssertionError(f"{truth.height} truth rows for {at} records")
    return SimpleNamespace(records=records, truth=truth, not_loaded=sum(b.not_loaded for b in batches),
                           truth_rows={s: np.concatenate(v) for s, v in rows.items()})


def synthetic_world(n: int, start: dt.date, years: float, seed: int, as_of: dt.date | None = None,
                    keep: Callable | None = None, block_size: int | None = None) -> World:
    """Records over [start, start + years) about people aged as on ``as_of`` (default
    ``start``; the simulation passes its first month when ``start`` is the history's).

    Each generation block's records come from its own stream (``block_records``); the
    linkage is national: every record against the register of everybody.
    ``keep`` (see ``generate_records``) drops records the operator never loads (history no
    rule can count any more), in the agencies' view and in the perfect-data twin alike;
    the number dropped is ``records_not_loaded``."""
    pop_seed = np.random.SeedSequence(seed, spawn_key=(0,)).spawn(2)[0]
    bs = block_size_of(block_size)
    people = generate_population(n, pop_seed, as_of=as_of or start, block_size=bs)
    parts = blocks_of(people, bs)
    made = [block_records(p, start, years, seed, b, keep, len(parts)) for b, p in parts]
    batch, twin = merge_batches([m[0] for m in made]), merge_batches([m[1] for m in made])
    results = link_sources(batch.records, national_register(people))
    seen = _seen(results, batch.truth, batch.truth_rows)
    world = World(people=people, seen=_typed(seen), perfect=_typed(_perfect(twin)), truth=batch.truth,
                  linkage=_linkage(results, batch, seen.height), generator="synthetic-russia", block_size=bs)
    world.records_not_loaded = batch.not_loaded
    return world


def _seen(results: dict, truth: pl.DataFrame, truth_rows: dict | None = None) -> pl.DataFrame:
    """The linked records in arrival order, each flagged `erroneous` when it is wrong for the
    citizen it was attached to (what the simulation, never the engine, knows)."""
    # arrival order: by the day a record reached the operator (ties: source, then the agency's order)
    return flagged(results, truth, truth_rows).sort("reported_on", maintain_order=True)


def flagged(results: dict, truth: pl.DataFrame, truth_rows: dict | None = None) -> pl.DataFrame:
    """The linked records source after source, in each source's order, with `erroneous`.
    ``truth_rows`` (``merge_batches``): each record's truth row, taken by position rather
    than by a join on record_id (the same rows; the record ids are checked to agree)."""
    t = truth.select(pl.col("record_id").cast(pl.String), "true_citizen_id", "erroneous")
    if truth_rows is not None and all(r.linked_rows is not None for r in results.values()):
        parts = []
        for s, r in results.items():
            parts.append(beside_truth(_events(s, r.linked), t.gather(truth_rows[s][r.linked_rows]), s))
        seen = pl.concat(parts, how="vertical")
    else:
        seen = pl.concat([_events(s, r.linked) for s, r in results.items()], how="vertical")
        # record ids carry their source's prefix, so they are unique across sources
        seen = seen.join(t, on="record_id", how="left", maintain_order="left")
    seen = seen.with_columns(
        erroneous=(pl.col("erroneous").fill_null(False) | pl.col("true_citizen_id").is_null()
                   | (pl.col("true_citizen_id") != pl.col("citizen_id")).fill_null(True))
    ).drop("true_citizen_id")
    return seen


def _perfect(twin) -> pl.DataFrame:
    """The error-free twin's records, attached to the true citizen, in arrival order."""
    # the twin's truth rows are in the same order as its records, source by source
    # (merge_batches' truth_rows: each record's truth row; a gather, not a partition of every column)
    rows = getattr(twin, "truth_rows", None)
    truth_by_source = None if rows is not None else twin.truth.partition_by("source", as_dict=True, maintain_order=True)
    parts = []
    for src, rec in twin.records.items():
        if rows is not None:
            t = twin.truth.select("record_id", "true_citizen_id").gather(rows[src])
        else:
            t = truth_by_source[(src,)] if (src,) in truth_by_source else twin.truth.clear()
        if not rec["record_id"].cast(pl.String).equals(t["record_id"].cast(pl.String), check_names=False):
            raise AssertionError(f"{src}: twin records and truth are not aligned")
        parts.append(rec.select(pl.col("record_id").cast(pl.String), "event_type", "occurred_on", "amount",
                                "reported_on").with_columns(source=pl.lit(src, pl.String),
                                                            citizen_id=t["true_citizen_id"]))
    perfect = pl.concat(parts, how="vertical").filter(pl.col("citizen_id").is_not_null())
    return _events_from(perfect).sort("reported_on", maintain_order=True)


def _linkage(results: dict, batch, linked: int) -> dict:
    """linkage.json: the linkage report, with every record in accounted for."""
    report = linkage_report(results, batch.truth, truth_rows=getattr(batch, "truth_rows", None))
    quarantine = pl.concat(
        [r.quarantine.select(pl.lit(s).alias("source"), pl.col("record_id").cast(pl.String), "reason")
         for s, r in results.items()], how="vertical")
    report["quarantine_by_reason"] = {k: int(v) for k, v in quarantine.group_by("reason").len().iter_rows()}
    report["records_in"] = int(sum(len(r) for r in batch.records.values()))
    report["records_linked"] = int(linked)
    report["records_quarantined"] = int(quarantine.height)
    report["records_in == linked + quarantined"] = report["records_in"] == linked + quarantine.height
    return report


def _events_from(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("citizen_id").cast(pl.Int64), pl.col("event_type").cast(pl.String), "occurred_on",
        pl.col("amount").cast(pl.Float64), "source", "record_id", "reported_on",
    )
