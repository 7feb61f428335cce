"""Who may look at a run folder, and the log of every check a relying party made.

A run folder served by `socialrating serve` is read by four kinds of people. Access is
issued on the command line (`socialrating access`), and the store keeps only what is
needed to recognise a secret again, never the secret itself:

``access_grants``  one row per credential: role (citizen, org, reviewer, analyst), a name,
                   the citizen it is for (citizen codes) or the consequence contexts it
                   may ask about (org keys), and the secret's hash. Login codes and
                   passwords are short enough to guess at, so they are hashed with scrypt
                   (salted, memory-hard); API keys are 256 random bits, so a plain sha256
                   is enough and lets a key be found by its hash in one lookup. A citizen's
                   code is good for one login and for `CODE_DAYS` days.
``access_checks``  the relying parties' checks, append-only and hash-chained like the
                   ledger's changes: check hash = sha256(prev_hash || "|" || canonical text
                   of check_id, at, org, grant_id, citizen_id, context, answer,
                   consequence ids, reason code), chained from 64 zeros in check_id order.

A check is written (committed) before its answer is sent: `CheckLog` gathers the checks
that arrive while the previous batch is being committed and writes them in one
transaction (group commit), so many checks a second cost one commit each few
milliseconds, and no answer leaves before its row is in the store.

`verify_checks` recomputes the chain; `socialrating verify` runs it with the ledger's
checks, and, when the manifest anchors the log (`access_checks`: count and head, written
whenever a command extends the folder), requires the chain to pass through that anchor.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import hmac
import queue
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from pathlib import Path

import polars as pl

from ..atomic import folder_lock
from ..policy.load import parse_policy
from .ledger_store import ZERO, LedgerStore
from .runfolder import RunFolder

ROLES = ("citizen", "org", "reviewer", "analyst")
#: The world generators whose people are synthetic (simulate/world.py, simulate/synthetic_world.py).
SYNTHETIC_WORLDS = ("synthetic-russia", "basic")
CODE_DAYS = 7
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}
CHECK_COLUMNS = ("check_id", "at", "org", "grant_id", "citizen_id", "context", "answer", "consequences",
                 "reason", "prev_hash", "hash")


class AccessError(ValueError):
    """A grant that cannot be issued, or a credential that is not valid."""


@dataclass(frozen=True)
class Grant:
    grant_id: int
    role: str
    name: str
    citizen_id: int | None
    contexts: tuple[str, ...]


# ---------------------------------------------------------------- tables


def _db(store: LedgerStore):
    return store._db  # noqa: SLF001 - the access tables live beside the ledger's, in the same store


def has_tables(store: LedgerStore) -> bool:
    """Whether access was ever issued on this store (a store made before has no access tables)."""
    got = _db(store).fetchall("SELECT count(*) FROM information_schema.tables WHERE table_name = 'access_checks'")
    return bool(got[0][0])


def ensure_tables(store: LedgerStore) -> None:
    """Create the access tables if the store has none yet (a run's first grant)."""
    db = _db(store)
    db.execute("CREATE TABLE IF NOT EXISTS access_grants (grant_id BIGINT PRIMARY KEY, role TEXT NOT NULL, "
               "name TEXT NOT NULL, citizen_id BIGINT, contexts TEXT NOT NULL, secret_hash TEXT NOT NULL, "
               "salt TEXT NOT NULL, issued_at TEXT NOT NULL, expires_at TEXT, used_at TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS access_checks (check_id BIGINT PRIMARY KEY, \"at\" TEXT NOT NULL, "
               "org TEXT NOT NULL, grant_id BIGINT NOT NULL, citizen_id BIGINT NOT NULL, context TEXT NOT NULL, "
               "answer TEXT NOT NULL, consequences TEXT NOT NULL, reason TEXT NOT NULL, "
               "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)")
    if hasattr(db, "url"):  # PostgreSQL: b-trees for a citizen's log and contests; DuckDB scans the columns faster
        db.execute("CREATE INDEX IF NOT EXISTS access_checks_citizen ON access_checks (citizen_id)")
        # a citizen's page reads the changes of their few entries: without this, a scan of every change
        db.execute("CREATE INDEX IF NOT EXISTS ledger_changes_entry ON ledger_changes (entry_id)")


# ---------------------------------------------------------------- secrets


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def scrypt_hash(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), **SCRYPT).hex()


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_secret(role: str) -> str:
    if role == "org":
        return "sr_key_" + secrets.token_urlsafe(32)
    if role == "citizen":  # typed by hand: 12 characters, no look-alikes, in groups of 4
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        raw = "".join(secrets.choice(alphabet) for _ in range(12))
        return "-".join(raw[i:i + 4] for i in range(0, 12, 4))
    return secrets.token_urlsafe(18)


def issue(store: LedgerStore, role: str, name: str, *, citizen_id: int | None = None,
          contexts: tuple[str, ...] = ()) -> tuple[Grant, str]:
    """Record a grant; return it and its secret (shown once, never stored)."""
    if role not in ROLES:
        raise AccessError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip():
        raise AccessError("a grant needs a name")
    if role == "org" and not contexts:
        raise AccessError("an org key needs the contexts it may ask about (--contexts credit,travel)")
    if role == "citizen" and citizen_id is None:
        raise AccessError("a citizen code needs the citizen (--citizen ID)")
    ensure_tables(store)
    secret = _new_secret(role)
    salt = secrets.token_hex(16)
    hashed = key_hash(secret) if role == "org" else scrypt_hash(secret, salt)
    now = _now()
    expires = (now + dt.timedelta(days=CODE_DAYS)).isoformat() if role == "citizen" else None
    db = _db(store)
    with db.transaction():
        got = db.fetchall("SELECT coalesce(max(grant_id), 0) FROM access_grants")
        gid = int(got[0][0]) + 1
        db.execute("INSERT INTO access_grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                   [gid, role, name.strip(), citizen_id, ",".join(contexts), hashed, salt, now.isoformat(), expires])
    return Grant(gid, role, name.strip(), citizen_id, tuple(contexts)), secret


def _grant(row: tuple) -> Grant:
    gid, role, name, cid, contexts = row[:5]
    return Grant(int(gid), role, name, None if cid is None else int(cid),
                 tuple(c for c in contexts.split(",") if c))


def org_for_key(store: LedgerStore, key: str) -> Grant | None:
    """The org grant whose key this is (one indexed lookup by the key's sha256)."""
    if not has_tables(store):
        return None
    rows = _db(store).fetchall("SELECT grant_id, role, name, citizen_id, contexts FROM access_grants "
                               "WHERE role = 'org' AND secret_hash = ?", [key_hash(key)])
    return _grant(rows[0]) if rows else None


def staff_login(store: LedgerStore, role: str, name: str, password: str) -> Grant | None:
    """A reviewer's or analyst's grant, if the name and password match one."""
    if role not in ("reviewer", "analyst") or not has_tables(store):
        return None
    rows = _db(store).fetchall("SELECT grant_id, role, name, citizen_id, contexts, secret_hash, salt "
                               "FROM access_grants WHERE role = ? AND name = ?", [role, name])
    for row in rows:
        if hmac.compare_digest(scrypt_hash(password, row[6]), row[5]):
            return _grant(row)
    scrypt_hash(password, "00" * 16)  # the same work when the name is unknown: no timing oracle
    return None


def citizen_login(store: LedgerStore, citizen_id: int, code: str) -> Grant | None:
    """Spend one of the citizen's unused, unexpired codes; None if the code matches none."""
    if not has_tables(store):
        scrypt_hash(code, "00" * 16)
        return None
    db = _db(store)
    now = _now().isoformat()
    with db.transaction():
        rows = db.fetchall("SELECT grant_id, role, name, citizen_id, contexts, secret_hash, salt FROM access_grants "
                           "WHERE role = 'citizen' AND citizen_id = ? AND used_at IS NULL AND expires_at > ?",
                           [citizen_id, now])
        for row in rows:
            if hmac.compare_digest(scrypt_hash(code.strip().upper(), row[6]), row[5]):
                db.execute("UPDATE access_grants SET used_at = ? WHERE grant_id = ?", [now, row[0]])
                return _grant(row)
    scrypt_hash(code, "00" * 16)
    return None


# ---------------------------------------------------------------- the check log


def canonical_check(values: tuple) -> str:
    def f(v: Any) -> str:
        t = "~" if v is None else str(v)
        return f"{len(t.encode())}:{t}"

    return "|".join(f(v) for v in values)


def check_hash(prev: str, values: tuple) -> str:
    return hashlib.sha256(f"{prev}|{canonical_check(values)}".encode()).hexdigest()


def log_tip(store: LedgerStore) -> tuple[int, str]:
    """(last check_id, its hash), or (0, 64 zeros) for an empty log."""
    tip = _db(store).fetchall("SELECT check_id, hash FROM access_checks ORDER BY check_id DESC LIMIT 1")
    return (int(tip[0][0]), tip[0][1]) if tip else (0, ZERO)


def append_checks(store: LedgerStore, rows: list[tuple], tip: tuple[int, str] | None = None
                  ) -> list[tuple[int, str]]:
    """Append checks (at, org, grant_id, citizen_id, context, answer, consequences, reason)
    in one transaction; return each one's (check_id, hash).

    `tip`: the log's last (check_id, hash) when the caller is its only writer (a DuckDB
    file is open in one process only), saving a scan; PostgreSQL always reads it under
    an exclusive lock, as several servers may share the database.
    """
    db = _db(store)
    out, full = [], []
    with db.transaction():
        if hasattr(db, "url"):  # PostgreSQL: one writer of the chain at a time
            db.execute("LOCK TABLE access_checks IN EXCLUSIVE MODE")
            tip = None
        last, prev = tip if tip is not None else log_tip(store)
        cid = last + 1
        for r in rows:
            h = check_hash(prev, (cid, *r))
            full.append((cid, *r, prev, h))
            out.append((cid, h))
            prev, cid = h, cid + 1
        placeholders = ", ".join(["?"] * len(CHECK_COLUMNS))
        if hasattr(db, "url"):
            with db.con.cursor() as cur:
                cur.executemany(f"INSERT INTO access_checks VALUES ({placeholders.replace('?', '%s')})", full)
        else:  # DuckDB: one columnar insert (executemany goes row by row)
            import pyarrow as pa

            cols = list(zip(*full))
            db.con.register("_checks_arrow", pa.table({c: list(v) for c, v in zip(CHECK_COLUMNS, cols)}))
            try:
                db.con.execute("INSERT INTO access_checks SELECT * FROM _checks_arrow")
            finally:
                db.con.unregister("_checks_arrow")
    return out


def checks_about(store: LedgerStore, citizen_id: int, *, known: bool = False) -> list[dict[str, Any]]:
    """Every check made about one citizen, oldest first (what their access log shows).
    `known`: the caller made sure the tables exist (the service, at start)."""
    if not known and not has_tables(store):
        return []
    rows = _db(store).fetchall("SELECT check_id, \"at\", org, context, answer, consequences, reason "
                               "FROM access_checks WHERE citizen_id = ? ORDER BY check_id", [citizen_id])
    return [{"check_id": int(r[0]), "at": r[1], "org": r[2], "context": r[3], "answer": r[4],
             "consequences": [c for c in r[5].split(",") if c], "reason": r[6]} for r in rows]


def count_checks(store: LedgerStore) -> int:
    if not has_tables(store):
        return 0
    return int(_db(store).fetchall("SELECT count(*) FROM access_checks")[0][0])


def check_anchor(store: LedgerStore) -> dict[str, Any] | None:
    """{count, head} of the check log, for the manifest (None: no log in this store)."""
    if not has_tables(store):
        return None
    tip = _db(store).fetchall("SELECT check_id, hash FROM access_checks ORDER BY check_id DESC LIMIT 1")
    return {"count": int(tip[0][0]) if tip else 0, "head": tip[0][1] if tip else ZERO}


def verify_checks(store: LedgerStore, anchor: dict | None = None) -> tuple[str | None, str, int]:
    """Recompute the check chain: (first bad ``check:<id>`` or None, detail, checks verified).

    `anchor` ({count, head} from the manifest): the chain must still pass through it.
    """
    if not has_tables(store):
        if anchor and anchor.get("count"):
            return "check:1", f"the manifest anchors {anchor['count']} check(s) but the store has no check log", 0
        return None, "", 0
    prev, n = ZERO, 0
    cols = ", ".join(f'"{c}"' for c in CHECK_COLUMNS)
    for row in _db(store).fetchall(f"SELECT {cols} FROM access_checks ORDER BY check_id"):
        cid, values, prev_hash, h = row[0], row[:9], row[9], row[10]
        if cid != n + 1 or prev_hash != prev or h != check_hash(prev, values):
            return f"check:{cid}", f"check {cid} no longer matches its hash (rows altered, removed or inserted)", n
        if anchor and cid == anchor.get("count") and h != anchor.get("head"):
            return f"check:{cid}", f"check {cid} is not the one the manifest anchored: the log was rewritten", n
        prev, n = h, n + 1
    if anchor and n < int(anchor.get("count") or 0):
        return f"check:{n + 1}", f"{int(anchor['count']) - n} check(s) the manifest anchored are missing", n
    return None, "", n


class CheckLog:
    """Group commit of checks: `record(row)` returns once the row is committed.

    One writer thread takes every check waiting in the queue, appends them in one
    transaction and then releases their callers; `lock` serialises the writer's use of
    the store with the service's other uses of the same connection.
    """

    def __init__(self, store: LedgerStore, lock: threading.RLock, max_batch: int = 512):
        ensure_tables(store)
        self.store, self.lock, self.max_batch = store, lock, max_batch
        self.q: queue.Queue = queue.Queue()
        self.written = 0
        self._tip = None if hasattr(_db(store), "url") else log_tip(store)
        self._thread = threading.Thread(target=self._run, name="check-log", daemon=True)
        self._thread.start()

    def submit(self, row: tuple) -> cf.Future:
        fut: cf.Future = cf.Future()
        self.q.put((row, fut))
        return fut

    def record(self, row: tuple, timeout: float = 30.0) -> tuple[int, str]:
        return self.submit(row).result(timeout)

    def close(self) -> None:
        self.q.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.q.put(None)
                    break
                batch.append(nxt)
            try:
                with self.lock:
                    done = append_checks(self.store, [r for r, _ in batch], self._tip)
                if self._tip is not None:
                    self._tip = done[-1]
                self.written += len(done)
                for (_, fut), res in zip(batch, done):
                    fut.set_result(res)
            except Exception as exc:  # noqa: BLE001 - every waiting caller learns the write failed
                for _, fut in batch:
                    fut.set_exception(exc)


def require_synthetic(manifest: dict, where: Path) -> str:
    """The run's world, if it is one of the synthetic generators; else a one-line refusal."""
    world = manifest.get("world")
    if world not in SYNTHETIC_WORLDS:
        raise AccessError(f"{where}: the manifest records world {world!r}, not one of the synthetic generators "
                          f"({', '.join(SYNTHETIC_WORLDS)}); access is issued and served for synthetic runs only")
    return world


def grant_for_run(run_dir: str | Path, role: str, name: str, *, citizen_id: int | None = None,
                  contexts: tuple[str, ...] = (), db: str | None = None) -> tuple[Grant, str]:
    """Issue access to a (synthetic) run folder, under its lock: checks the citizen exists
    and the contexts are ones the run's policy has consequences in."""
    from .contest import open_store  # contest imports this module

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    require_synthetic(folder.manifest(), run_dir)
    if citizen_id is not None:
        found = folder.scan("citizens").filter(pl.col("citizen_id") == citizen_id).select("citizen_id").collect()
        if not found.height:
            raise AccessError(f"citizen {citizen_id} is not in {run_dir}")
    if contexts:
        known = {c.context for c in parse_policy(folder.policy_text(), str(run_dir / "policy.yaml")).consequences}
        unknown = [c for c in contexts if c not in known]
        if unknown:
            raise AccessError(f"--contexts {','.join(unknown)}: the run's policy has no consequence in "
                              f"{'that context' if len(unknown) == 1 else 'those contexts'}; "
                              f"known: {', '.join(sorted(known))}")
    with folder_lock(run_dir), open_store(run_dir, db) as store:
        return issue(store, role, name, citizen_id=citizen_id, contexts=contexts)


def now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
