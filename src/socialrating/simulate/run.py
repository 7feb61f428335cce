"""One run of a rating policy over a synthetic population: generate, score, write.

The population is processed in shards (default 1,000,000 people) so memory stays bounded
by the shard, not the nation. Each shard draws from its own child of the run's
SeedSequence, so the same seed and shard size give the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from ..engine.dates import add_months_scalar
from ..engine.score import score
from ..policy.load import policy_hash, read_policy_text, parse_policy
from ..population.basic import basic_population
from ..sources.basic import basic_events
from ..store.runfolder import RunFolder

DEFAULT_START = dt.date(2024, 7, 1)  # the We platform's launch (BFM.ru, 2024)


@dataclass(frozen=True)
class RunConfig:
    policy: str = "we-platform"
    people: int = 100_000
    years: float = 2.0
    seed: int = 20240701
    start: dt.date = DEFAULT_START
    shard_size: int = 1_000_000
    store: bool = True  # also append the ledger to the hash-chained store (ledger.duckdb)

    @property
    def as_of(self) -> dt.date:
        return add_months_scalar(self.start, int(round(self.years * 12)))


def run(config: RunConfig, out: str | Path, progress: Callable[[int, int], None] | None = None) -> dict:
    """Generate, score and write one run; returns the manifest."""
    text, origin = read_policy_text(config.policy)
    policy = parse_policy(text, origin)
    folder = RunFolder(out)
    writers = folder.writers()
    (folder.path / "policy.yaml").write_text(text, encoding="utf-8")
    n_shards = max(1, -(-config.people // config.shard_size))
    store = None
    if config.store:
        from ..store.ledger_store import LedgerStore

        (folder.path / "ledger.duckdb").unlink(missing_ok=True)
        store = LedgerStore.open(folder.path)
    totals: dict[str, int] = {}
    row_offset = 0
    for k in range(n_shards):
        lo = k * config.shard_size
        hi = min(config.people, lo + config.shard_size)
        pop_seed, ev_seed = np.random.SeedSequence(config.seed, spawn_key=(k,)).spawn(2)
        people = basic_population(hi - lo, pop_seed).with_columns(
            citizen_id=pl.col("citizen_id") + lo, household_id=pl.col("household_id") + lo
        )
        events = basic_events(people, config.start, config.years, ev_seed)
        result = score(events, policy, config.as_of, people["citizen_id"].to_numpy(),
                       households=people["household_id"].to_numpy(), row_offset=row_offset)
        row_offset += events.height
        writers["citizens"].write(people)
        writers["events"].write(events)
        writers["ledger"].write(result.ledger)
        if store is not None:
            store.append_entries(result.ledger)
        writers["ratings"].write(result.ratings)
        writers["consequences"].write(result.consequences)
        writers["quarantine"].write(result.quarantine)
        for key, v in result.counts.items():
            totals[key] = totals.get(key, 0) + int(v)
        if progress:
            progress(hi, config.people)
    for w in writers.values():
        w.close()
    head = None
    if store is not None:
        head = store.head()
        store.close()
    manifest = {
        "kind": "run",
        "seed": config.seed,
        "seed_scheme": "numpy SeedSequence(seed, spawn_key=(shard,)) -> (population, events)",
        "shard_size": config.shard_size,
        "people": config.people,
        "years": config.years,
        "start": config.start.isoformat(),
        "as_of": config.as_of.isoformat(),
        "generator": "basic",
        "policy": {"name": policy.name, "version": policy.version, "sha256": policy_hash(policy),
                   "origin": config.policy},
        "counts": totals,
        "rows": {t: w.rows for t, w in writers.items()},
        "ledger_store": {"file": "ledger.duckdb", "head": head} if head else None,
        "checks": {
            "events_in == accepted + quarantined": totals["events_in"] == totals["accepted"] + totals["quarantined"],
            "accepted == scored + closing + no_rule + after_as_of + outside_rule_dates": totals["accepted"] == (
                totals["accepted_scored"] + totals["accepted_closing"] + totals["accepted_no_rule"]
                + totals["accepted_after_as_of"] + totals["accepted_outside_rule_dates"]),
        },
    }
    folder.write_manifest(manifest)
    return manifest
