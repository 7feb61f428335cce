"""Before a run starts: will it fit this machine? A plan from measured costs per person.

A run that does not fit is killed by the kernel after minutes or hours of work, with no
word of why; a plan made in a millisecond says it at once, with the figures. The costs are
measurements, not guesses: `benchmarks/national.py` at 1M people (one process, the whole
world in memory), written here with the date and the run they come from. Memory and disk
grow with the records held: the people times the years of records (the run's years plus the
history on file at the start), on top of a fixed part per person (people, identifiers,
ratings, engine state).

The plan is an estimate; it refuses only what is far out of reach (more than the memory
the machine has available, or the free disk). `run --no-preflight` skips it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

#: measured by benchmarks/national.py on 2026-11-30 (1M people, we-platform, Synthetic
#: Russia, one process): 1 year with 7 years of history: 10.8 GB peak; 1 year without
#: history (2026-11-29): 7.0 GB peak. Linear in the record-years: bytes per person =
#: fixed + per_record_year * (years + history_years).
MEMORY_FIXED_BYTES = 6_480.0
MEMORY_PER_RECORD_YEAR = 540.0
#: the run folder at its largest during the run (sampled every second), measured by
#: `national.py --people 1000000 --shards 8` on 2026-12-01 with record ids carrying running
#: numbers (sources/record_numbers.py): 309 MB with 7 years of history (297 MB at the end;
#: 297 MB at its largest in a second run), 174 MB without (also at the end). Before, with
#: random record numbers, measured on 2026-11-30 with the store's entries as
#: Parquet segments, the ratings panel person by person and the shuffle's files written as
#: the tables are: 452 MB with 7 years of history, 250 MB without (each also the folder at
#: the end). Before the shuffle's files were: 489 MB at the largest (when every shard is
#: built and the shuffle holds their records; the 50M run's was 489 B a person too), 452 MB
#: at the end. Before those changes (row-tag layout, integer columns as deltas, record ids
#: prefix-coded, the shuffle deleted as it is read): 508 MB and 291 MB; before those, 864 MB
#: and 471 MB.
DISK_FIXED_BYTES = 155.0
DISK_PER_RECORD_YEAR = 19.3
#: a run in shards (shardworld.py) holds as many shards' people at a time as run side by
#: side (one per thread of the pool in one process), plus what is still national: the ledger
#: store's buffer pool, bounded (STORE_POOL_BYTES, the store's MEMORY_LIMIT; the store is
#: written while the shards run), and what grows with the nation, the register index every
#: shard links against (identity/register_index.py), built with its parts spilled to the
#: run's work area, before any shard holds its records, and dropped once the shards run.
#: Measured where it is largest, at 146M people (`benchmarks/linkage_national.py
#: --registers 146000000 --spill-dir`, 2026-11-30): 12.9 GB peak while building the index,
#: 88 B a person (which counts the benchmark's own sample of 1M people's records too), and
#: 10.0 GB once built, 68.5 B a person, held while the shards are built. The shards' linkage
#: against it holds more at the nation's size too (about 50 candidates a name tuple at 146M):
#: `benchmarks/national_sample.py` (146M people, their register, 16 shards built two at a
#: time, 2026-12-01) peaked at 14.61 and 14.72 GB while the shards were built, so the part
#: held while they are built is taken as (14.72 GB - two shards of 131,072 x 10.8 kB) / 146M
#: = 81.4 B a person (the index's 68.5 and 12.9 for the linkage's growth). Before the spill,
#: the 30M run had grown by 188 B a person in its linkage stage (the parts and the index
#: held together): a model of 180 B then. Checked on the 50M run in 382 shards two at a
#: time (2026-11-30): 6.71 GB peak, the model 7.3 GB. The index's build inside a run, measured
#: by national_sample.py on 2026-12-01 with the build's rows put together first and its bucket
#: offsets searched in the keys (register_index.py): 13.24 GB at 146M two shards at a time and
#: 13.65 GB one at a time (built on the main thread), so 93.5 B a person (88 B in the benchmark
#: of the index alone); the whole sample peaked at 14.27 GB two at a time and 13.65 GB one at
#: a time (16.52 GB one at a time before those two changes, the rows' copy made last).
STORE_POOL_BYTES = 1e9
NATIONAL_BYTES_PER_PERSON = 93.5
NATIONAL_HELD_BYTES_PER_PERSON = 81.4


@dataclass(frozen=True)
class Plan:
    """What a run is expected to need, and what this machine has."""

    people: int
    record_years: float
    memory_bytes: float
    disk_bytes: float
    memory_available: int | None
    disk_free: int | None
    shard_people: int | None = None  # people in the largest shard of a sharded run
    side_by_side: int = 1  # shards held at once

    @property
    def problems(self) -> list[str]:
        """Why the run cannot fit here (empty: it may)."""
        out = []
        if self.memory_available is not None and self.memory_bytes > self.memory_available:
            where = "in one process" if self.shard_people is None else f"with shards of {self.shard_people:,} people"
            if self.shard_people is None:
                fit = f"about {_round3(self.memory_available / self.per_person_memory):,} people fit"
            else:
                room = self.memory_available - STORE_POOL_BYTES
                shards = self.side_by_side * self.shard_people * self.per_person_memory
                most = _round3(max(min(room / NATIONAL_BYTES_PER_PERSON,
                                       (room - shards) / NATIONAL_HELD_BYTES_PER_PERSON), 0.0))
                fit = (f"about {most:,} people fit in shards of this size" if most else
                       "the shards alone do not fit: smaller shards need less")
                if self.side_by_side > 1:
                    where += f", {self.side_by_side} at a time"
            out.append(f"about {_size(self.memory_bytes)} of memory {where} but {_size(self.memory_available)} "
                       f"is available ({fit})")
        if self.disk_free is not None and self.disk_bytes > self.disk_free:
            out.append(f"about {_size(self.disk_bytes)} of disk but {_size(self.disk_free)} is free there")
        return out

    @property
    def per_person_memory(self) -> float:
        return _memory_per_person(self.record_years)

    def message(self) -> str:
        """One paragraph: the estimate, where it comes from, what to do."""
        return (f"{self.people:,} people over {self.record_years:g} years of records need "
                + ", and ".join(self.problems)
                + ". The estimate is linear in people from the costs measured by benchmarks/national.py "
                  "(see simulate/plan.py). Run fewer people or fewer --history-years"
                + (", or in shards (--shards)" if self.shard_people is None and self.memory_available is not None
                   and self.memory_bytes > self.memory_available else "")
                + ", or pass --no-preflight to try anyway.")


def plan(people: int, years: float, history_years: float, out: str | Path, shard_people: int | None = None,
         side_by_side: int = 1) -> Plan:
    """The plan of a run of ``people`` over ``years`` with ``history_years`` of records on file,
    writing beside ``out``; ``shard_people``: the largest shard's people when the run is in
    shards, ``side_by_side`` of them at a time. Memory of a sharded run: the store's bounded
    pool, and the larger of the register index's build (nothing else held yet) and the index
    built with the shards at work beside it. Disk: the run folder at its largest (while the
    shards' shuffle files are on disk)."""
    if people < 0 or years < 0 or history_years < 0:
        raise ValueError("people, years and history_years must be >= 0")
    if side_by_side < 1:
        raise ValueError(f"side_by_side: expected 1 or more, got {side_by_side}")
    record_years = years + history_years
    per_person = _memory_per_person(record_years)
    if shard_people is not None and shard_people >= people:
        shard_people = None  # one shard: the whole run in one process
    side = 1 if shard_people is None else min(side_by_side, -(-people // shard_people))
    memory = (people * per_person if shard_people is None
              else STORE_POOL_BYTES + max(people * NATIONAL_BYTES_PER_PERSON,
                                          people * NATIONAL_HELD_BYTES_PER_PERSON + side * shard_people * per_person))
    disk = people * (DISK_FIXED_BYTES + DISK_PER_RECORD_YEAR * record_years)
    return Plan(people, record_years, memory, disk, memory_available(), disk_free(Path(out)), shard_people, side)


def _memory_per_person(record_years: float) -> float:
    """Bytes a person held in one process, with ``record_years`` of records."""
    return MEMORY_FIXED_BYTES + MEMORY_PER_RECORD_YEAR * record_years


def memory_available() -> int | None:
    """Bytes this process can still use: the kernel's MemAvailable, or the cgroup's limit
    minus its use when that is lower; None when neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int(used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def disk_free(out: Path) -> int | None:
    """Free bytes on the file system that will hold ``out`` (its nearest existing parent)."""
    p = out.resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _round3(x: float) -> int:
    """``x`` to three significant figures (an estimate shows no more)."""
    if x < 1000:
        return int(x)
    digits = len(str(int(x))) - 3
    return int(round(x, -digits))


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


__all__ = ["Plan", "plan", "memory_available", "disk_free"]
