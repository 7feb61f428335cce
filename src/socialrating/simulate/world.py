"""Worlds: where the simulation's records come from, month by month.

A world generates the whole horizon's behaviour once (records do not depend on the
rating, except through feedback), in two versions on the same random streams: what the
engine sees (with the sources' errors, after identity linkage) and what really happened
(perfect data, true citizen ids). Feedback adds extra records for people under certain
consequences, drawn from a separate stream so that scenarios stay paired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import polars as pl

from ..engine.dates import month_index, to_days
from ..population.basic import basic_population
from ..sources.basic import basic_events
from ..sources.schemas import EVENT_COLUMNS

#: the engine's events columns (the contract is sources.schemas.EVENT_COLUMNS)
ENGINE_COLUMNS = list(EVENT_COLUMNS)
#: event types that feedback makes more frequent (arrears and what follows from them)
ARREARS_TYPES = {"loan.overdue_90d", "bills.utility_arrears", "enforcement.proceeding",
                 "tax.arrears", "court.dishonest_debtor"}


@dataclass
class World:
    people: pl.DataFrame
    seen: pl.DataFrame            # records as the engine receives them (with errors), + reported_on
    perfect: pl.DataFrame         # the same behaviour with no source or linkage errors
    truth: pl.DataFrame | None = None
    linkage: dict = field(default_factory=dict)
    generator: str = "basic"
    records_not_loaded: int = 0   # history records no rule could count any more (never loaded)
    block_size: int | None = None  # generation blocks (citizen id // block_size); None: one block

    def month_slice(self, frame: pl.DataFrame, start: dt.date, months: int) -> list[pl.DataFrame]:
        """Split records by the month they reach the operator (reported_on). Records reported
        before the start are the records on file: the operator loads them in the first month."""
        m0 = int(month_index(np.array([to_days(start)]))[0])
        k = np.maximum(month_index(frame["reported_on"].cast(pl.Int32).to_numpy()) - m0, 0)
        frame = frame.with_columns(_k=pl.Series(k, dtype=pl.Int32))
        parts = frame.partition_by("_k", as_dict=True, maintain_order=True)
        empty = frame.clear().drop("_k")
        return [parts[(i,)].drop("_k") if (i,) in parts else empty for i in range(months)]

    def extra(self, people_mask: np.ndarray, scale: np.ndarray, month_start: dt.date,
              seeds: Callable[[int], np.random.SeedSequence]) -> pl.DataFrame:
        """Extra arrears-type records for people whose risk feedback scales up this month:
        each generation block's from its own stream ``seeds(block)``, blocks in order, so a
        person's records do not depend on who else is in the frame (or the shard)."""
        idx = np.flatnonzero(people_mask)
        if not len(idx):
            return self.seen.clear().select(ENGINE_COLUMNS)
        blocks = blocks_of(self.people["citizen_id"].to_numpy()[idx], self.block_size)
        first = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        if np.any(np.diff(blocks[first]) <= 0):
            raise ValueError("people are not in generation-block order")
        parts = []
        for b, rows in zip(blocks[first], np.split(idx, first[1:])):
            ev = basic_events(self.people[rows], month_start, 1 / 12, seeds(int(b)), risk_scale=scale[rows],
                              only=ARREARS_TYPES)
            prefix = "fb-" if b == 0 else f"fb-b{b}-"
            parts.append(ev.with_columns(record_id=pl.lit(prefix) + pl.col("record_id")).select(ENGINE_COLUMNS))
        return pl.concat(parts, how="vertical")


def blocks_of(citizen_ids: np.ndarray, block_size: int | None) -> np.ndarray:
    """The generation block of each citizen id (ids are positions in the population);
    one block (0) without a block size. An unknown citizen (null as -1) counts as block 0."""
    ids = np.asarray(citizen_ids, dtype=np.int64)
    if block_size is None:
        return np.zeros(len(ids), np.int64)
    return np.maximum(ids, 0) // int(block_size)


def basic_world(n: int, start: dt.date, years: float, seed: int) -> World:
    """The simple generator: no source errors, so seen == perfect."""
    pop_seed, ev_seed = np.random.SeedSequence(seed, spawn_key=(0,)).spawn(2)
    people = basic_population(n, pop_seed)
    ev = basic_events(people, start, years, ev_seed).with_columns(reported_on=pl.col("occurred_on"))
    return World(people=people, seen=ev, perfect=ev, generator="basic")
