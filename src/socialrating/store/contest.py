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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from ..atomic import FolderTxn, folder_lock, pending, recover
from ..engine.score import score
from ..policy.load import PolicyError, parse_policy, policy_hash
from ..policy.model import Policy
from . import access
from . import seal as sealing
from .ledger_store import CHANGE_SCHEMA, ZERO, LedgerStore, StoreUnavailable, TransitionError
from .runfolder import RunFolder, TableWriter, versions

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


def read_states(changes: pl.DataFrame, policy: Policy, on: dt.date,
                points: dict[int, int] | None = None) -> list[EntryState]:
    """Entries whose state on `on` differs from the engine's, per the module docstring.

    `points` (entry_id -> points): resolving an overdue contest "for the citizen" never
    lowers their rating, so an entry in their favour (points > 0) is not overturned then:
    the contest lapses and the entry counts again.
    """
    points = points or {}
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
                if (deadline is not None and r["at"] > deadline and spec.overdue_resolves_for_citizen
                        and points.get(entry_id, -1) <= 0):
                    state, why = "overturned", (f"review overdue (deadline {deadline}; upheld only on "
                                                f"{r['at']}): resolved for the citizen")
                else:
                    state, why, deadline = None, "", None
        if state == "contested" and spec.overdue_resolves_for_citizen and on > deadline:
            if points.get(entry_id, -1) > 0:  # for the citizen: keep the points in their favour
                state = None
            else:
                state, why = "overturned", f"review overdue (deadline {deadline}, not resolved by {on}): " \
                                           "resolved for the citizen"
        if state is not None:
            out.append(EntryState(int(entry_id), state, why, deadline))
    return out


def overrides_frame(states: list[EntryState]) -> pl.DataFrame:
    return pl.DataFrame({"entry_id": [s.entry_id for s in states], "state": [s.state for s in states]},
                        schema={"entry_id": pl.Int64, "state": pl.String})


# ---------------------------------------------------------------- opening


def open_store(run_dir: str | Path, db: str | None = None, read_only: bool = False) -> LedgerStore:
    """The run's ledger store: `db` (a postgresql:// URL or a .duckdb file) or <run>/ledger.duckdb."""
    if db:
        return LedgerStore.open(db, read_only=read_only)
    path = Path(run_dir) / "ledger.duckdb"
    if not path.exists():
        recorded = _recorded_store(Path(run_dir))
        if recorded and recorded != "ledger.duckdb":
            raise FileNotFoundError(f"{run_dir}: the manifest records the ledger store at {recorded}; "
                                    "give it with --db URL")
        raise FileNotFoundError(f"{run_dir}: no ledger.duckdb (run with the store, or give --db)")
    return LedgerStore.open(path, read_only=read_only)


def _recorded_store(run_dir: Path) -> str | None:
    try:
        m = RunFolder(run_dir).manifest()
    except (FileNotFoundError, ValueError):
        return None
    return (m.get("ledger_store") or {}).get("file")


def redact(where: str) -> str:
    """A store location fit for the manifest: no password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", where)


def _where(store: LedgerStore, run_dir: Path) -> str:
    if Path(store.where).resolve() == (run_dir / "ledger.duckdb").resolve():
        return "ledger.duckdb"
    return redact(store.where)


def _load(run_dir: Path) -> tuple[RunFolder, dict, Policy, dt.date]:
    """The run's manifest and the policy it ran, refusing a policy.yaml the manifest did not record."""
    folder = RunFolder(run_dir)
    m = folder.manifest()
    try:
        policy = parse_policy(folder.policy_text(), str(run_dir / "policy.yaml"))
    except (PolicyError, OSError, UnicodeDecodeError) as exc:
        raise ContestError(f"{run_dir / 'policy.yaml'}: cannot read the run's policy ({exc})") from None
    want = (m.get("policy") or {}).get("sha256")
    got = policy_hash(policy)
    if got != want:
        raise ContestError(f"{run_dir / 'policy.yaml'}: its sha256 {got[:12]}... is not the one the manifest "
                           f"records ({str(want)[:12]}...); commands re-score only under the policy the run used")
    return folder, m, policy, dt.date.fromisoformat(m["as_of"])


def extend(run_dir: str | Path, db: str | None, action: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Run `action(store, folder, manifest, policy, as_of, txn)` as one transaction.

    Holds the folder lock; finishes or discards what a killed command left; verifies the
    whole folder (files, signature, chain, heads) before extending it; runs the action and
    stages its files, then the sealed manifest; commits the store; swaps the files in.
    The action returns the command's result and leaves the new manifest in result["_manifest"].
    """
    run_dir = Path(run_dir)
    with folder_lock(run_dir), _maybe_store(run_dir, db) as store:
        recover(run_dir, store.state if store is not None else None, sealing.staged_is_sealed)
        check = _verify(run_dir, store, None, None)
        if not check["ok"]:
            raise ContestError(f"{run_dir} fails verification ({check['first_bad']}: {check['detail']}); "
                               "a command does not extend an altered record - see `socialrating verify`")
        folder, m, policy, as_of = _load(run_dir)
        # the changes the simulation recorded, so `run` can tell a folder with real contests
        m.setdefault("simulated_changes", int((m.get("changes") or {}).get("count") or 0))
        txn = FolderTxn(run_dir).begin()
        try:
            with store.transaction() if store is not None else contextlib.nullcontext():
                out = action(store, folder, m, policy, as_of, txn)
                manifest = out.pop("_manifest")
                if manifest is None:  # nothing to change (e.g. a file ingested before)
                    txn.abort()
                    return out
                manifest["software"] = versions()
                parts = sealing.seal(manifest, run_dir, txn.staged())
                for name, data in parts.items():
                    txn.path(name).write_bytes(data)
                txn.prepare(store.state() if store is not None else {})
            txn.apply()
        except BaseException:
            txn.abort()
            raise
    out["head"] = sealing.combined_head(_ledger_head(manifest), (manifest.get("changes") or {}).get("head"))
    return out


def _maybe_store(run_dir: Path, db: str | None):
    """The run's store, or None for a run made without one (--no-store)."""
    if db is None and not (run_dir / "ledger.duckdb").exists():
        recorded = _recorded_store(run_dir)
        if not recorded:
            return contextlib.nullcontext(None)
        if recorded == "ledger.duckdb":
            raise ContestError(f"{run_dir} fails verification (store: ledger.duckdb, the run's hash-chained "
                               "ledger, is missing); a command does not extend an altered record")
    return open_store(run_dir, db)


def _ledger_head(m: dict) -> str | None:
    return (m.get("ledger_store") or {}).get("head")


def _need_store(store: LedgerStore | None, run_dir: Path) -> None:
    if store is None:
        raise ContestError(f"{run_dir}: the run has no ledger store (it was run with --no-store), so there is "
                           "no record to contest; run it again with the store")


def _action_date(on: dt.date | None, as_of: dt.date) -> dt.date:
    on = on or as_of
    if on > as_of:
        raise ContestError(f"--on {on} is after the run's as-of date {as_of}; the run is a picture "
                           "as of that date, so actions are dated on or before it")
    return on


# ---------------------------------------------------------------- contest and resolve


def contest(run_dir: str | Path, citizen: int, entry: int, reason: str, *, on: dt.date | None = None,
            db: str | None = None) -> dict[str, Any]:
    """Record that `citizen` contests `entry`; re-score; return what happened (one transaction)."""
    run_dir = Path(run_dir)
    if not reason.strip():
        raise ContestError("a contest needs a reason (--reason)")

    def action(store, folder, m, policy, as_of, txn):
        _need_store(store, run_dir)
        on_ = _action_date(on, as_of)
        if not policy.contest.allowed:
            raise ContestError(f"policy {policy.name} {policy.version} does not allow contests (contest.allowed: false)")
        mine = store.entries(citizen_id=citizen).filter(pl.col("entry_id") == entry)
        if mine.is_empty():
            owner = folder.scan("ledger").filter(pl.col("entry_id") == entry).select("citizen_id").collect()
            if owner.height:
                raise ContestError(f"entry {entry} belongs to citizen {owner.item()}, not to citizen {citizen}")
            raise ContestError(f"no entry {entry} in the ledger ({redact(store.where)})")
        row = mine.row(0, named=True)
        if on_ < row["occurred_on"]:
            raise ContestError(f"--on {on_} is before the entry's date {row['occurred_on']}")
        pts = store.entry_points([entry])
        current = {s.entry_id: s for s in read_states(store.changes(entry), policy, on_, pts)}.get(entry)
        if current is not None:
            raise ContestError(f"entry {entry} is already {current.state} ({current.why})")
        try:
            change_id = store.record_change(entry, "contested", f"citizen {citizen}", reason, on_)
        except TransitionError as exc:
            raise ContestError(str(exc)) from None
        summary = rescore(run_dir, store, txn, folder, m, policy, as_of, concerned=np.array([citizen]))
        note = None
        if row["state"] in ("expired", "closed"):
            note = f"the entry is {row['state']}: it no longer counts, so the contest changes no number"
        overdue = ("resolves for the citizen (the entry is overturned)" if policy.contest.overdue_resolves_for_citizen
                   else "the entry stays contested until reviewed")
        if policy.contest.overdue_resolves_for_citizen and row["points"] > 0:
            overdue = "the contest lapses and the entry counts again (resolving for the citizen never lowers the rating)"
        return {
            "note": note,
            "change_id": change_id, "entry_id": entry, "citizen_id": citizen, "state": "contested", "on": on_,
            "review_deadline": on_ + dt.timedelta(days=policy.contest.review_deadline_days),
            "points_while_contested": ("keep counting until the review (contest.suspend_while_contested: false)"
                                       if policy.contest.suspend_while_contested is False
                                       else "suspended at once (contest.suspend_while_contested: true)"),
            "overdue": overdue, **summary,
        }

    return extend(run_dir, db, action)


def resolve(run_dir: str | Path, entry: int, outcome: str, reviewer: str, reason: str, *,
            on: dt.date | None = None, db: str | None = None) -> dict[str, Any]:
    """Record a reviewer's decision on a contested entry (`upheld` or `overturned`); re-score."""
    run_dir = Path(run_dir)
    if outcome not in ("upheld", "overturned"):
        raise ContestError(f"outcome must be upheld or overturned, got {outcome!r}")
    if not reviewer.strip() or not reason.strip():
        raise ContestError("a resolution needs a reviewer (--reviewer) and a reason (--reason)")

    def action(store, folder, m, policy, as_of, txn):
        _need_store(store, run_dir)
        on_ = _action_date(on, as_of)
        chs = store.changes(entry)
        if chs.is_empty() or chs["new_state"][-1] != "contested":
            known = folder.scan("ledger").filter(pl.col("entry_id") == entry).select("entry_id").collect()
            if chs.is_empty() and known.is_empty():
                raise ContestError(f"no entry {entry} in the ledger ({redact(store.where)})")
            last = "never contested" if chs.is_empty() else f"last {chs['new_state'][-1]} on {chs['at'][-1]}"
            raise ContestError(f"entry {entry} is not contested ({last}); only a contested entry can be resolved")
        deadline = chs["at"][-1] + dt.timedelta(days=policy.contest.review_deadline_days)
        try:
            change_id = store.record_change(entry, outcome, f"reviewer {reviewer}", reason, on_)
        except TransitionError as exc:
            raise ContestError(str(exc)) from None
        pts = store.entry_points([entry])
        effective = {s.entry_id: s for s in read_states(store.changes(entry), policy, as_of, pts)}.get(entry)
        owner = folder.scan("ledger").filter(pl.col("entry_id") == entry).select("citizen_id").collect()
        summary = rescore(run_dir, store, txn, folder, m, policy, as_of, concerned=owner["citizen_id"].to_numpy())
        late = on_ > deadline
        note = None
        if late and policy.contest.overdue_resolves_for_citizen and pts.get(entry, -1) <= 0:
            note = (f"resolved on {on_}, after the review deadline {deadline}: the contest had already "
                    "resolved for the citizen, so the entry counts as overturned")
        elif late:
            note = f"resolved on {on_}, after the review deadline {deadline}"
        return {
            "change_id": change_id, "entry_id": entry, "outcome": outcome, "on": on_, "review_deadline": deadline,
            "late": late, "note": note, "state_now": effective.state if effective else "as the engine gives it",
            **summary,
        }

    return extend(run_dir, db, action)


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
    if len(sorted_ids):
        pos_c = np.minimum(pos, len(sorted_ids) - 1)
        known = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == event_citizens)
        shard = np.where(known, order[pos_c] // shard_size, -1)
    else:  # no citizens: every row is unknown (and quarantined); they form shard 0
        shard = np.full(len(event_citizens), -1, dtype=np.int64)
    # carry the last known shard forward over unknown rows (leading unknown rows: shard 0)
    idx = np.where(shard >= 0, np.arange(len(shard)), -1)
    np.maximum.accumulate(idx, out=idx)
    shard = np.where(idx >= 0, shard[np.maximum(idx, 0)], 0)
    if len(shard) and np.any(np.diff(shard) < 0):
        raise ContestError("events.parquet is not in shard order; cannot re-score shard by shard")
    starts = np.searchsorted(shard, np.arange(n_shards), side="left")
    ends = np.searchsorted(shard, np.arange(n_shards), side="right")
    return list(zip(starts.tolist(), ends.tolist()))


INGESTED_EVENTS = "ingested/events.parquet"


def ingested_events(run_dir: Path, staged: Path | None = None) -> pl.DataFrame:
    """Every accepted ingested record, all sources, in the order accepted (engine columns).
    Row i is the run's event row (rows in events.parquet) + i: its entry ids derive from that."""
    p = staged if staged is not None and staged.exists() else run_dir / INGESTED_EVENTS
    if not p.exists():
        return pl.DataFrame(schema={"citizen_id": pl.Int64, "event_type": pl.String, "occurred_on": pl.Date,
                                    "amount": pl.Float64, "source": pl.String, "record_id": pl.String})
    return pl.read_parquet(p)


def _shard_events(folder: RunFolder, lo: int, hi: int, ing: pl.DataFrame, ids: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """One shard's events: its rows of events.parquet, then the ingested records of its
    citizens; and the global event row of each ingested one (for its entry ids)."""
    base = folder.scan("events").slice(lo, hi - lo).collect()
    return with_ingested(base, ing, ids)


def with_ingested(base: pl.DataFrame, ing: pl.DataFrame, ids: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """A shard's events `base`, then the ingested records of its citizens `ids`; and the
    global event row (``_g``) of each ingested one (for its entry ids)."""
    mine = ing.filter(pl.col("citizen_id").is_in(pl.Series(ids).implode()))
    if not mine.height:
        return base, np.zeros(0, np.int64)
    # the run's enums need not hold every type a source file may bring: concatenate as text
    text = [c for c, t in base.schema.items() if isinstance(t, (pl.Enum, pl.Categorical))]
    base = base.with_columns(pl.col(c).cast(pl.String) for c in text)
    add = mine.drop("_g").with_columns(pl.col(c).cast(base.schema[c]) for c in base.columns)
    return pl.concat([base, add.select(base.columns)]), mine["_g"].to_numpy().astype(np.int64)


def _local_overrides(overrides: pl.DataFrame, lo: int, n_base: int, grows: np.ndarray) -> pl.DataFrame:
    """The overrides of one shard, with ingested entries' ids as score() numbers them."""
    row = overrides["entry_id"].to_numpy() >> 3
    slot = overrides["entry_id"].to_numpy() & 7
    local = np.full(len(row), -1, np.int64)
    inside = (row >= lo) & (row < lo + n_base)
    local[inside] = row[inside] - lo
    if len(grows):
        order = np.argsort(grows)
        pos = np.searchsorted(grows[order], row)
        posc = np.minimum(pos, len(grows) - 1)
        hit = ~inside & (grows[order][posc] == row)
        local[hit] = n_base + order[posc][hit]
    keep = local >= 0
    return pl.DataFrame({"entry_id": ((local[keep] + lo) << 3) | slot[keep],
                         "state": overrides["state"].filter(pl.Series(keep))}, schema=overrides.schema)


def _global_ids(ledger: pl.DataFrame, lo: int, n_base: int, grows: np.ndarray) -> pl.DataFrame:
    """score() numbered the ingested rows after the shard's own; give them their global rows."""
    if not len(grows):
        return ledger
    ids = ledger["entry_id"].to_numpy()
    local = (ids >> 3) - lo
    ing = local >= n_base
    ids = ids.copy()
    ids[ing] = (grows[local[ing] - n_base] << 3) | (ids[ing] & 7)
    return ledger.with_columns(pl.Series("entry_id", ids, dtype=pl.Int64))


def rescore(run_dir: Path, store: LedgerStore, txn: FolderTxn, folder: RunFolder, m: dict, policy: Policy,
            as_of: dt.date, new_from: int | None = None, concerned: np.ndarray | None = None) -> dict[str, Any]:
    """Re-score the whole run (its events and the ingested records) with the store's
    current states into `txn`; update `m` in place (returned as result["_manifest"]).

    The re-scored ledger must hold exactly the entry_ids of ledger.parquet, plus, when
    `new_from` is given (an ingest), entries of event rows >= new_from, else nothing is
    replaced. Updates the manifest's `changes` section and the row counts.
    A sharded run (tables as parts) re-scores only the parts holding the `concerned`
    citizens (None: every part) and rewrites only those (store/parts.py).
    """
    run_dir = Path(run_dir)
    changes = store.changes() if store is not None else pl.DataFrame(schema=CHANGE_SCHEMA)
    points = store.entry_points(changes["entry_id"].unique().to_list()) if store is not None else {}
    states = read_states(changes, policy, as_of, points)
    overrides = overrides_frame(states)
    from .parts import is_partitioned, rescore_parts  # parts builds on this module

    if is_partitioned(folder):  # a sharded run: re-score and rewrite only the parts concerned
        n_events = int(folder.scan("events").select(pl.len()).collect().item())
        ing = ingested_events(run_dir, txn.staged().get(INGESTED_EVENTS)).with_row_index("_g", offset=n_events)
        ing = ing.with_columns(pl.col("_g").cast(pl.Int64))
        res = rescore_parts(folder, txn, policy, as_of, overrides, ing, concerned, new_from)
        n_cons, n_led, fresh = res.consequences, res.ledger, res.fresh
    else:
        n_cons, n_led, fresh = _rescore_whole(run_dir, txn, folder, m, policy, as_of, overrides, new_from)
    return _rescored(run_dir, store, m, changes, states, as_of, n_cons, n_led, fresh, new_from)


def _rescore_whole(run_dir: Path, txn: FolderTxn, folder: RunFolder, m: dict, policy: Policy, as_of: dt.date,
                   overrides: pl.DataFrame, new_from: int | None) -> tuple[int, int, list[pl.DataFrame]]:
    """A run of single files: every shard re-scored, the derived tables rewritten whole."""
    citizens = folder.read("citizens").select("citizen_id", "household_id")
    ev_cit = folder.scan("events").select(pl.col("citizen_id").fill_null(-1)).collect()["citizen_id"].to_numpy()
    n_events = len(ev_cit)
    ing = ingested_events(run_dir, txn.staged().get(INGESTED_EVENTS)).with_row_index("_g", offset=n_events)
    ing = ing.with_columns(pl.col("_g").cast(pl.Int64))
    shard_size = int(m.get("shard_size") or max(len(citizens), 1))
    bounds = shard_bounds(citizens["citizen_id"].to_numpy(), ev_cit, shard_size)
    writers = {t: TableWriter(txn.path(f"{t}.parquet")) for t in DERIVED}
    old_ids = folder.scan("ledger").select("entry_id").collect()["entry_id"]
    n_cons, n_led = 0, 0
    got_ids, fresh = [], []
    for k, (lo, hi) in enumerate(bounds):
        people = citizens.slice(k * shard_size, shard_size)
        ids = people["citizen_id"].to_numpy()
        events, grows = _shard_events(folder, lo, hi, ing, ids)
        res = score(events, policy, as_of, ids, households=people["household_id"].to_numpy(),
                    overrides=_local_overrides(overrides, lo, hi - lo, grows), row_offset=lo)
        ledger = _global_ids(res.ledger, lo, hi - lo, grows)
        writers["ledger"].write(ledger)
        writers["current_ratings"].write(res.ratings)
        writers["current_consequences"].write(res.consequences)
        got_ids.append(ledger["entry_id"])
        if new_from is not None:
            fresh.append(ledger.filter(pl.col("entry_id") >= new_from * 8))
        n_cons += res.consequences.height
        n_led += ledger.height
    for w in writers.values():
        w.close()
    new_ids = pl.concat(got_ids) if got_ids else pl.Series("entry_id", [], pl.Int64)
    if new_from is not None:
        new_ids = new_ids.filter(new_ids < new_from * 8)
    if not new_ids.sort().equals(old_ids.sort(), check_names=False, check_dtypes=False):
        raise ContestError("re-scoring did not reproduce the run's ledger entries; files left unchanged")
    return n_cons, n_led, fresh


def _rescored(run_dir: Path, store: LedgerStore | None, m: dict, changes: pl.DataFrame, states: list[EntryState],
              as_of: dt.date, n_cons: int, n_led: int, fresh: list[pl.DataFrame],
              new_from: int | None) -> dict[str, Any]:
    """The manifest's changes section and row counts after a re-score; the command's summary."""
    last = changes.row(-1, named=True) if changes.height else None
    m["changes"] = None if store is None else {
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
    anchor = access.check_anchor(store) if store is not None else None
    if anchor is not None:  # the relying parties' check log, as far as it had come (see store/access.py)
        m["access_checks"] = anchor
    m.setdefault("counts", {})["consequences"] = n_cons
    m.setdefault("rows", {})["current_consequences"] = n_cons
    m["rows"]["ledger"] = n_led
    out = {"contested": len([x for x in states if x.state == "contested"]),
           "overturned": len([x for x in states if x.state == "overturned"]),
           "changes": changes.height, "_manifest": m}
    if new_from is not None:
        out["_new_entries"] = pl.concat(fresh) if fresh else None
    return out


# ---------------------------------------------------------------- verify


def verify_run(run_dir: str | Path, db: str | None = None, *, head: str | None = None,
               key_pem: bytes | None = None, store: LedgerStore | None = None) -> dict[str, Any]:
    """Check everything a run folder holds; name each problem and the first one.

    Checks, in order: the manifest's signature (by the trusted key: `key_pem`, else this
    machine's operator key if there is one); every file's sha256 against the manifest's
    list, and files the list lacks; the policy's hash; the store's chain (row hashes,
    block digests, change hashes); the store's heads against the manifest's; and, with
    `head`, that the published head is one the chain passed through.
    first_bad: ``manifest``, ``file:<path>``, ``policy``, ``entry:<id>``, ``block:<n>``,
    ``change:<id>``, ``check:<id>`` (the access check log), ``head`` or ``published-head``.
    `store`: an already open store (the caller holds the folder lock).
    """
    run_dir = Path(run_dir)
    if store is not None:
        return _verify(run_dir, store, head, key_pem)
    m = RunFolder(run_dir).manifest()
    has_store = bool(m.get("ledger_store")) or db is not None
    if db is None and (m.get("ledger_store") or {}).get("file") == "ledger.duckdb" \
            and not (run_dir / "ledger.duckdb").exists():
        out = _verify(run_dir, None, None, key_pem)
        problem = "store: ledger.duckdb, the run's hash-chained ledger, is missing"
        return {**out, "ok": False, "first_bad": "store", "detail": problem.split(": ", 1)[1],
                "problems": [problem, *out["problems"]]}
    if pending(run_dir):  # a command was killed mid-way: finish or discard it first
        with folder_lock(run_dir):
            if has_store:
                with open_store(run_dir, db) as st:
                    recover(run_dir, st.state, sealing.staged_is_sealed)
            else:
                recover(run_dir, None, sealing.staged_is_sealed)
    with folder_lock(run_dir, shared=True):
        if not has_store:
            return _verify(run_dir, None, head, key_pem)
        with open_store(run_dir, db, read_only=True) as st:
            return _verify(run_dir, st, head, key_pem)


def _verify(run_dir: Path, store: LedgerStore | None, head: str | None, key_pem: bytes | None) -> dict[str, Any]:
    problems: list[tuple[str, str]] = []
    folder = RunFolder(run_dir)
    m = folder.manifest()
    trusted = key_pem if key_pem is not None else sealing.local_public_pem()
    sig_problems, key_info = sealing.check_signature(run_dir, trusted)
    problems += [("manifest", p) for p in sig_problems]
    listed = m.get("files")
    if not isinstance(listed, dict) or not listed:
        problems.append(("manifest", "the manifest lists no file hashes (a run made before sealing, or edited)"))
        listed = {}
    for p in sealing.check_files(run_dir, listed):
        rel, why = p.split(": ", 1)
        problems.append((f"file:{rel}", why))
    try:
        _load(run_dir)
    except ContestError as exc:
        problems.append(("policy", str(exc)))
    out: dict[str, Any] = {"files": len(listed), "key": key_info.get("key"), "key_trusted": key_info.get("trusted")}
    if store is not None:
        out["store"] = redact(store.where)
        out.update(_verify_store(store, m, head, problems))
    else:
        out.update(store=None, checked=0)
        if head:
            problems.append(("published-head", "the run has no ledger store to check a published head against"))
    first = problems[0] if problems else (None, "")
    return {"ok": not problems, "first_bad": first[0], "detail": first[1], **out,
            "problems": [f"{k}: {v}" for k, v in problems],
            "head": m.get("head")}


def _verify_store(store: LedgerStore, m: dict, head: str | None, problems: list) -> dict[str, Any]:
    """The store's own chain, its heads against the manifest's, and a published head."""
    res = store.verify()
    out: dict[str, Any] = {"checked": res.checked}
    if not res.ok:
        problems.append((res.first_bad, res.detail))
        return out
    anchored = (m.get("ledger_store") or {}).get("head")
    tip = store.head()
    if anchored is None:
        problems.append(("head", "the manifest records no ledger head to compare with"))
    elif tip != anchored:
        problems.append(("head", f"the store's head {tip[:16]}... is not the manifest's {anchored[:16]}...: "
                                 "blocks were appended, removed or rebuilt since the manifest was written"))
    ch = m.get("changes") or {"count": 0, "head": ZERO}
    changes = store.changes()
    n, want = changes.height, int(ch.get("count") or 0)
    if n != want or (n and changes["hash"][-1] != ch.get("head")):
        if n > want:
            bad, why = int(changes["change_id"][want]), f"{n - want} change(s) recorded after the manifest's last"
        elif n < want:
            bad, why = (int(changes["change_id"][-1]) + 1 if n else 1), f"{want - n} change(s) missing"
        else:
            bad, why = int(changes["change_id"][-1]), "the last change differs from the manifest's"
        problems.append((f"change:{bad}", f"changes: {why} (manifest has {want}, store {n})"))
    out["changes"] = n
    bad, why, n_checks = access.verify_checks(store, m.get("access_checks"))
    if bad:
        problems.append((bad, f"access checks: {why}"))
    elif n_checks:
        out["access_checks"] = n_checks
    if head:
        h = head.strip().lower()
        if h not in set(sealing.heads_in_chain(store.block_digests(), changes["hash"].to_list())):
            problems.append(("published-head", f"the published head {h[:16]}... is not one this chain passed "
                                               "through: the chain was rebuilt or rolled back"))
        else:
            out["published_head"] = "found in the chain"
    return out
