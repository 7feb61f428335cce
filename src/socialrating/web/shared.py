"""Sessions and login throttling kept in PostgreSQL, for `serve --workers N`.

With several server processes a request may reach any of them: a session made at login
by one must be found by the others, a logout must end it everywhere, and the login limits
(attempts a minute from one address, failures in a row on one account) must count every
process's attempts, or N processes would give an attacker N times the tries. So with
`--workers` above 1 both live in the store's PostgreSQL database, beside the check log,
with the same rules as `security.Sessions` and `security.Throttle`:

``web_sessions``       sha256 of the token (never the token), role, subject, CSRF token,
                       last seen (epoch seconds); idle ones are removed when met;
``web_login_attempts`` address and time of each login attempt (kept a minute);
``web_login_failures`` keyed hash of the account typed (no SNILS or name), failures in a
                       row and when the last one was.
Each process has its own connection (autocommit: every statement is its own transaction).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from . import security


class _Db:
    def __init__(self, url: str):
        import psycopg

        self.con = psycopg.connect(url, autocommit=True)
        self.lock = threading.Lock()

    def run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock, self.con.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []


def ensure_tables(url: str) -> None:
    db = _Db(url)
    for sql in ("CREATE TABLE IF NOT EXISTS web_sessions (token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, "
                "subject TEXT NOT NULL, csrf TEXT NOT NULL, last_seen DOUBLE PRECISION NOT NULL)",
                "CREATE TABLE IF NOT EXISTS web_login_attempts (ip TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
                "CREATE INDEX IF NOT EXISTS web_login_attempts_ip ON web_login_attempts (ip, at)",
                "CREATE TABLE IF NOT EXISTS web_login_failures (account TEXT PRIMARY KEY, n INTEGER NOT NULL, "
                "since DOUBLE PRECISION NOT NULL)"):
        db.run(sql)
    db.con.close()


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DbSessions:
    """`security.Sessions` over a table every server process shares."""

    def __init__(self, url: str, idle: float = security.IDLE_SECONDS):
        self.db, self.idle = _Db(url), idle

    def new(self, role: str, subject: int | str) -> security.Session:
        s = security.Session(secrets.token_urlsafe(32), role, subject, secrets.token_urlsafe(32))
        self.db.run("INSERT INTO web_sessions VALUES (%s, %s, %s, %s, %s)",
                    (_h(s.token), role, str(subject), s.csrf, time.time()))
        return s

    def get(self, token: str | None) -> security.Session | None:
        if not token:
            return None
        now = time.time()
        rows = self.db.run("UPDATE web_sessions SET last_seen = %s WHERE token_hash = %s AND last_seen >= %s "
                           "RETURNING role, subject, csrf", (now, _h(token), now - self.idle))
        if not rows:
            self.db.run("DELETE FROM web_sessions WHERE token_hash = %s", (_h(token),))  # idle: gone for good
            return None
        role, subject, csrf = rows[0]
        return security.Session(token, role, int(subject) if role == "citizen" else subject, csrf)

    def end(self, token: str | None) -> None:
        self.db.run("DELETE FROM web_sessions WHERE token_hash = %s", (_h(token or ""),))


class DbThrottle(security.Throttle):
    """`security.Throttle` over tables every server process shares. `salt`: the same in
    every process (the parent draws it), so an account has one key everywhere."""

    def __init__(self, url: str, salt: bytes, **kw):
        super().__init__(**kw)
        self._salt, self.db = salt, _Db(url)

    def allow(self, ip: str, account: str) -> str | None:
        now = time.time()
        self.db.run("DELETE FROM web_login_attempts WHERE at < %s", (now - 60,))
        n = self.db.run("SELECT count(*) FROM web_login_attempts WHERE ip = %s", (ip,))[0][0]
        if n >= self.per_ip:
            return "rate"
        self.db.run("INSERT INTO web_login_attempts VALUES (%s, %s)", (ip, now))
        got = self.db.run("SELECT n, since FROM web_login_failures WHERE account = %s", (self._key(account),))
        if got and got[0][0] >= self.max_failures and now - got[0][1] < self.lock_seconds:
            return "locked"
        return None

    def failed(self, account: str) -> None:
        self.db.run("INSERT INTO web_login_failures VALUES (%s, 1, %s) ON CONFLICT (account) DO UPDATE "
                    "SET n = web_login_failures.n + 1, since = excluded.since", (self._key(account), time.time()))

    def succeeded(self, account: str) -> None:
        self.db.run("DELETE FROM web_login_failures WHERE account = %s", (self._key(account),))
