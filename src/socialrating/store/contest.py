"""Contest and appeal over a run folder: record the change in the ledger store, re-score.

The ledger store (`ledger_store.LedgerStore`, DuckDB file in the run folder by default, or
PostgreSQL) is the record: entries are never changed, each contest and resolution is an
appended, hash-chained change. The run's Parquet tables are derived views: after every
change the whole run is re-scored from events.parquet and citizens.parquet, shard by
shard exactly as the simulation's final recompute scored it, with the current entry states as overrides,
and ledger/ratings/consequences.parquet are replaced (ledger.parquet's `state` column
then shows contested and overturned entries).

Reading states (what "the current state" of an entry means)
------------------------------------------------------------
States are read on a date D, the run's as-of date (actions are dated on or before it).
For each entry, its changes dated on or before D are taken in change order:

* ``contested`` on day c: the entry is contested; its review deadline is
  c + contest.review_deadline_days (the last day on which the review is on time).
* ``overturned`` on day t: the entry is overturned (final: it never counts again).
* ``upheld`` on day t: the contest ends and the entry returns to the state the engine
  gives it (active, expired or closed) -- unless t is after the deadline and the policy
  says contest.overdue_resolves_for_citizen: then the contest had already resolved for
  the citizen when the deadline passed, and the entry is overturned (a late review
  cannot revive it; cf. FCRA s.611(a)(5)(A)).
* still contested on D: if D is after the deadline and overdue_resolves_for_citizen,
  the entry is overturned ("overdue"); otherwise it stays contested.

A contested entry counts or not as policy.contest.suspend_while_contested says (the
engine's `counts_toward_rating`); an overturned one never counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import polars as pl

from ..engine.score import score
from ..policy.load import parse_policy
from ..policy.model import Policy
from .ledger_store import ZERO, LedgerStore, TransitionError
from .runfolder import RunFolder

DERIVED = ("ledger", "current_ratings", "current_consequences")


class ContestError(ValueError):
    """A contest or resolution that the rules or the record do not allow."""


@dataclass(frozen=True)
class EntryState:
    entry_id: int
    state: str                   # "contested" or "overturned" (only entries that differ)
    why: str
    deadline: dt.date | None


# ---------------------------------------------------------------- reading states


def read_states(changes: pl.DataFrame, policy: Policy, on: dt.date) -> list[EntryState]:
    """Entries whose state on `on` differs from the engine's, per the module docstring."""
    spec = policy.contest
    days = dt.timedelta(days=spec.review_deadline_days)
    out = []
    rows = changes.filter(pl.col("at") <= on).sort("change_id")
    by_entry: dict[int, list[dict]] = {}
    for r in rows.iter_rows(named=True):
        by_entry.setdefault(r["entry_id"], []).append(r)
    for entry_id, chs in sorted(by_entry.items()):
        state, why, deadline = None, "", None
        for r in chs:
            if state == "overturned":
                break
            if r["new_state"] == "contested":
                state, deadline = "contested", r["at"] + days
                why = f"contested on {r['at']} by {r['actor']}: {r['reason']}"
            elif r["new_state"] == "overturned":
                state, why = "overturned", f"overturned on {r['at']} by {r['actor']}: {r['reason']}"
            elif r["new_state"] == "upheld":
                if deadline is not None and r["at"] > deadline and spec.overdue_resolves_for_citizen:
                    state, why = "overturned", (f"review overdue (deadline {deadline}; upheld only on "
                                                f"{r['at']}): resolved for the citizen")
                else:
                    state, why, deadline = None, "", None
        if state == "contested" and spec.overdue_resolves_for_citizen and on > deadline:
            state, why = "overturned", f"review overdue (deadline {deadline}, not resolved by {on}): " \
                                       "resolved for the citizen"
        if state is not None:
            out.append(EntryState(int(entry_id), state, why, deadline))
    return out


def overrides_frame(states: list[EntryState]) -> pl.DataFrame:
    return pl.DataFrame({"entry_id": [s.entry_id for s in states], "state": [s.state for s in states]},
                        schema={"entry_id": pl.Int64, "state": pl.String})


# ---------------------------------------------------------------- opening


def open_store(run_dir: str | Path, db: str | None = None) -> LedgerStore:
    """The run's ledger store: `db` (a postgresql:// URL or a .duckdb file) or <run>/ledger.duckdb."""
    if db:
        return LedgerStore.open(db)
    path = Path(run_dir) / "ledger.duckdb"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no ledger.duckdb (run with the store, or give --db)")
    return LedgerStore.open(path)


def redact(where: str) -> str:
    """A store location fit for the manifest: no password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", where)


def _where(store: LedgerStore, run_dir: Path) -> str:
    if Path(store.where).resolve() == (run_dir / "ledger.duckdb").resolve():
        return "ledger.duckdb"
    return redact(store.where)


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """One writer at a time per run folder (contest, resolve and re-score)."""
    with open(run_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(run_dir: Path) -> tuple[RunFolder, dict, Policy, dt.date]:
    folder = RunFolder(run_dir)
    m = folder.manifest()
    policy = parse_policy(folder.policy_text(), str(run_dir / "policy.yaml"))
    return folder, m, policy, dt.date.fromisoformat(m["as_of"])


def _action_date(on: dt.date | None, as_of: dt.date) -> dt.date:
    on = on or as_of
    if on > as_of:
        raise ContestError(f"--on {on} is after the run's as-of date {as_of}; the run is a picture "
                           "as of that date, so actions are dated on or before it")
    return on


# ---------------------------------------------------------------- contest and resolve


def contest(run_dir: str | Path, citizen: int, entry: int, reason: str, *, on: dt.date | None = None,
            db: str | None = None) -> dict[str, Any]:
    """Record that `citizen` contests `entry`; re-score; return what happened."""
    run_dir = Path(run_dir)
    folder, m, policy, as_of = _load(run_dir)
    on = _action_date(on, as_of)
    if not reason.strip():
        raise ContestError("a contest needs a reason (--reason)")
    if not policy.contest.allowed:
        raise ContestError(f"policy {policy.name} {policy.version} does not allow contests (contest.allowed: false)")
    with _locked(run_dir), open_store(run_dir, db) as store:
        mine = store.entries(citizen_id=citizen).filter(pl.col("entry_id") == entry)
        if mine.is_empty():
            owner = folder.scan("ledger").filter(pl.col("entry_id") == entry).select("citizen_id").collect()
            if owner.height:
                raise ContestError(f"entry {entry} belongs to citizen {owner.item()}, not to citizen {citizen}")
            raise ContestError(f"no entry {entry} in the ledger ({redact(store.where)})")
        row = mine.row(0, named=True)
        if on < row["occurred_on"]:
            raise ContestError(f"--on {on} is before the entry's date {row['occurred_on']}")
        current = {s.entry_id: s for s in read_states(store.changes(entry), policy, on)}.get(entry)
        if current is not None:
            raise ContestError(f"entry {entry} is already {current.state} ({current.why})")
        try:
            change_id = store.record_change(entry, "contested", f"citizen {citizen}", reason, on)
        except TransitionError as exc:
            raise ContestError(str(exc)) from None
        deadline = on + dt.timedelta(days=policy.contest.review_deadline_days)
        summary = rescore(run_dir, store)
    counts = policy.contest.suspend_while_contested is False
    note = None
    if row["state"] in ("expired", "closed"):
        note = f"the entry is {row['state']}: it no longer counts, so the contest changes no number"
    return {
        "note": note,
        "change_id": change_id, "entry_id": entry, "citizen_id": citizen, "state": "contested", "on": on,
        "review_deadline": deadline,
        "points_while_contested": ("keep counting until the review (contest.suspend_while_contested: false)"
                                   if counts else "suspended at once (contest.suspend_while_contested: true)"),
        "overdue": ("resolves for the citizen (the entry is overturned)" if policy.contest.overdue_resolves_for_citizen
                    else "the entry stays contested until reviewed"),
        **summary,
    }


def resolve(run_dir: str | Path, entry: int, outcome: str, reviewer: str, reason: str, *,
            on: dt.date | None = None, db: str | None = None) -> dict[str, Any]:
    """Record a reviewer's decision on a contested entry (`upheld` or `overturned`); re-score."""
    if outcome not in ("upheld", "overturned"):
        raise ContestError(f"outcome must be upheld or overturned, got {outcome!r}")
    if not reviewer.strip() or not reason.strip():
        raise ContestError("a resolution needs a reviewer (--reviewer) and a reason (--reason)")
    run_dir = Path(run_dir)
    folder, m, policy, as_of = _load(run_dir)
    on = _action_date(on, as_of)
    with _locked(run_dir), open_store(run_dir, db) as store:
        chs = store.changes(entry)
        if chs.is_empty() or chs["new_state"][-1] != "contested":
            known = folder.scan("ledger").filter(pl.col("entry_id") == entry).select("entry_id").collect()
            if chs.is_empty() and known.is_empty():
                raise ContestError(f"no entry {entry} in the ledger ({redact(store.where)})")
            last = "never contested" if chs.is_empty() else f"last {chs['new_state'][-1]} on {chs['at'][-1]}"
            raise ContestError(f"entry {entry} is not contested ({last}); only a contested entry can be resolved")
        contested_on = chs["at"][-1]
        deadline = contested_on + dt.timedelta(days=policy.contest.review_deadline_days)
        try:
            change_id = store.record_change(entry, outcome, f"reviewer {reviewer}", reason, on)
        except TransitionError as exc:
            raise ContestError(str(exc)) from None
        effective = {s.entry_id: s for s in read_states(store.changes(entry), policy, as_of)}.get(entry)
        summary = rescore(run_dir, store)
    late = on > deadline
    note = None
    if late and policy.contest.overdue_resolves_for_citizen:
        note = (f"resolved on {on}, after the review deadline {deadline}: the contest had already "
                "resolved for the citizen, so the entry counts as overturned")
    elif late:
        note = f"resolved on {on}, after the review deadline {deadline}"
    return {
        "change_id": change_id, "entry_id": entry, "outcome": outcome, "on": on, "review_deadline": deadline,
        "late": late, "note": note, "state_now": effective.state if effective else "as the engine gives it",
        **summary,
    }


# ---------------------------------------------------------------- re-scoring


def shard_bounds(citizen_ids: np.ndarray, event_citizens: np.ndarray, shard_size: int) -> list[tuple[int, int]]:
    """(first row, end row) of each shard's events in events.parquet.

    Shard k holds the citizens in rows [k*shard_size, (k+1)*shard_size) of citizens.parquet
    and its events are contiguous in events.parquet. An event row's shard is its citizen's;
    rows without a known citizen (quarantined anyway) go with the row before them.
    """
    n_shards = max(1, -(-len(citizen_ids) // shard_size))
    order = np.argsort(citizen_ids, kind="stable")
    sorted_ids = citizen_ids[order]
    pos = np.searchsorted(sorted_ids, event_citizens)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    known = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == event_citizens) if len(sorted_ids) else \
        np.zeros(len(event_citizens), bool)
    shard = np.where(known, order[pos_c] // shard_size, -1)
    # carry the last known shard forward over unknown rows (leading unknown rows: shard 0)
    idx = np.where(shard >= 0, np.arange(len(shard)), -1)
    np.maximum.accumulate(idx, out=idx)
    shard = np.where(idx >= 0, shard[np.maximum(idx, 0)], 0)
    if len(shard) and np.any(np.diff(shard) < 0):
        raise ContestError("events.parquet is not in shard order; cannot re-score shard by shard")
    starts = np.searchsorted(shard, np.arange(n_shards), side="left")
    ends = np.searchsorted(shard, np.arange(n_shards), side="right")
    return list(zip(starts.tolist(), ends.tolist()))


def rescore(run_dir: str | Path, store: LedgerStore) -> dict[str, Any]:
    """Re-score the whole run with the store's current states; replace the derived tables.

    The re-scored ledger must have exactly the entry_ids of ledger.parquet (the events did
    not change), else nothing is replaced. Updates the manifest's `changes` section, the
    consequence counts and row counts.
    """
    run_dir = Path(run_dir)
    folder, m, policy, as_of = _load(run_dir)
    changes = store.changes()
    states = read_states(changes, policy, as_of)
    overrides = overrides_frame(states)
    citizens = folder.read("citizens").select("citizen_id", "household_id")
    ev_cit = folder.scan("events").select(pl.col("citizen_id").fill_null(-1)).collect()["citizen_id"].to_numpy()
    shard_size = int(m.get("shard_size") or max(len(citizens), 1))
    bounds = shard_bounds(citizens["citizen_id"].to_numpy(), ev_cit, shard_size)
    tmp = run_dir / ".rescore"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tmp_folder = RunFolder(tmp)
    writers = {t: w for t, w in tmp_folder.writers().items() if t in DERIVED}
    old_ids = folder.scan("ledger").select("entry_id").collect()["entry_id"]
    n_cons = 0
    try:
        got_ids = []
        for k, (lo, hi) in enumerate(bounds):
            people = citizens.slice(k * shard_size, shard_size)
            events = folder.scan("events").slice(lo, hi - lo).collect()
            res = score(events, policy, as_of, people["citizen_id"].to_numpy(),
                        households=people["household_id"].to_numpy(), overrides=overrides, row_offset=lo)
            writers["ledger"].write(res.ledger)
            writers["current_ratings"].write(res.ratings)
            writers["current_consequences"].write(res.consequences)
            got_ids.append(res.ledger["entry_id"])
            n_cons += res.consequences.height
        for w in writers.values():
            w.close()
        new_ids = pl.concat(got_ids) if got_ids else pl.Series("entry_id", [], pl.Int64)
        if not new_ids.equals(old_ids, check_names=False, check_dtypes=False):
            raise ContestError("re-scoring did not reproduce the run's ledger entries; files left unchanged")
        for t in DERIVED:
            os.replace(tmp / f"{t}.parquet", run_dir / f"{t}.parquet")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    last = changes.row(-1, named=True) if changes.height else None
    m["changes"] = {
        "store": _where(store, run_dir),
        "count": changes.height,
        "last": None if last is None else {
            "change_id": last["change_id"], "entry_id": last["entry_id"], "state": last["new_state"],
            "actor": last["actor"], "at": last["at"].isoformat(), "hash": last["hash"]},
        "head": last["hash"] if last else ZERO,
        "contested": sum(s.state == "contested" for s in states),
        "overturned": sum(s.state == "overturned" for s in states),
        "states_read_on": as_of.isoformat(),
    }
    m.setdefault("counts", {})["consequences"] = n_cons
    m.setdefault("rows", {})["current_consequences"] = n_cons
    m.pop("software", None)
    folder.write_manifest(m)
    return {"contested": m["changes"]["contested"], "overturned": m["changes"]["overturned"],
            "changes": changes.height}


# ---------------------------------------------------------------- verify


def verify_run(run_dir: str | Path, db: str | None = None) -> dict[str, Any]:
    """Recompute the store's chain and compare its heads with the manifest's.

    first_bad names the first thing altered: ``entry:<id>``, ``block:<n>``,
    ``change:<id>`` (from the store's own chain), or ``head`` / ``change:<id>`` when the
    store no longer matches what the manifest anchored.
    """
    run_dir = Path(run_dir)
    m = RunFolder(run_dir).manifest()
    with open_store(run_dir, db) as store:
        res = store.verify()
        out = {"ok": res.ok, "first_bad": res.first_bad, "detail": res.detail, "checked": res.checked,
               "store": redact(store.where)}
        if not res.ok:
            return out
        anchored = (m.get("ledger_store") or {}).get("head")
        head = store.head()
        if anchored is None:
            out.update(ok=False, first_bad="head", detail="the manifest records no ledger head to compare with")
            return out
        if head != anchored:
            out.update(ok=False, first_bad="head",
                       detail=f"the store's head {head[:16]}... is not the manifest's {anchored[:16]}...: "
                              "blocks were appended, removed or rebuilt since the run")
            return out
        ch = m.get("changes") or {"count": 0, "head": ZERO}
        changes = store.changes()
        n, want = changes.height, int(ch["count"])
        if n != want or (n and changes["hash"][-1] != ch["head"]):
            if n > want:
                bad, why = int(changes["change_id"][want]), f"{n - want} change(s) recorded after the manifest's last"
            elif n < want:
                bad, why = (int(changes["change_id"][-1]) + 1 if n else 1), f"{want - n} change(s) missing"
            else:
                bad, why = int(changes["change_id"][-1]), "the last change differs from the manifest's"
            out.update(ok=False, first_bad=f"change:{bad}", detail=f"changes: {why} (manifest has {want}, store {n})")
            return out
        out["changes"] = n
        return out
