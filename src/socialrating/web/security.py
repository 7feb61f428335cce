"""Sessions, CSRF tokens, login throttling, security headers and a log without identifiers.

ASVS level 2 is the anchor:
* sessions: a 256-bit random token in an HttpOnly, SameSite=Strict cookie (Secure over
  https), kept server-side with an idle timeout; a new token at every login (no fixation);
  logout destroys it;
* CSRF: every form carries the session's synchroniser token; login forms, which come
  before a session, carry a token bound to a pre-login cookie (double submit); JSON calls
  made with the cookie carry it in the X-CSRF-Token header;
* logins: at most `PER_IP` attempts a minute from one address, and an account is locked
  for `LOCK_SECONDS` after `MAX_FAILURES` failures in a row;
* headers: a Content-Security-Policy with no inline script or style, frame-ancestors
  none, nosniff, no referrer, no caching of personal pages;
* logs: the method, the route's template (never the path with its ids), the status and
  the time taken; no query string, no body, no header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

SESSION_COOKIE = "sr_session"
PRE_COOKIE = "sr_pre"
IDLE_SECONDS = 30 * 60
PER_IP = 20            # login attempts a minute from one address
MAX_FAILURES = 5       # failures in a row before an account is locked
LOCK_SECONDS = 15 * 60

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")
#: The analyst's report is a self-contained file with inline script and style: it is served
#: sandboxed (a unique origin: no cookies, no same-origin requests) under its own policy.
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
              "font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-scripts")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
    "X-Synthetic-Data": "true",
}

log = logging.getLogger("socialrating.web")


@dataclass
class Session:
    token: str
    role: str                  # citizen, reviewer or analyst
    subject: int | str         # citizen_id, or the staff member's name
    csrf: str
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    """Server-side sessions, by token."""

    def __init__(self, idle: float = IDLE_SECONDS):
        self.idle = idle
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, role: str, subject: int | str) -> Session:
        s = Session(secrets.token_urlsafe(32), role, subject, secrets.token_urlsafe(32))
        with self._lock:
            self._by_token[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            now = time.monotonic()
            if now - s.last_seen > self.idle:
                del self._by_token[token]
                return None
            s.last_seen = now
            return s

    def end(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def pre_token_ok(cookie: str | None, field_value: str | None) -> bool:
    """The login form's token matches its pre-login cookie (double submit)."""
    return same(cookie, field_value)


class Throttle:
    """Login attempts: per address a minute, and failures in a row per account.

    Accounts are keyed by a salted hash of what was typed, so the table holds no SNILS or name.
    """

    def __init__(self, per_ip: int = PER_IP, max_failures: int = MAX_FAILURES, lock_seconds: float = LOCK_SECONDS):
        self.per_ip, self.max_failures, self.lock_seconds = per_ip, max_failures, lock_seconds
        self._salt = secrets.token_bytes(16)
        self._ip: dict[str, deque] = {}
        self._fail: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _key(self, account: str) -> str:
        return hashlib.blake2b(account.encode(), key=self._salt, digest_size=16).hexdigest()

    def allow(self, ip: str, account: str) -> str | None:
        """None if this attempt may go ahead, else why not ("rate" or "locked")."""
        now = time.monotonic()
        with self._lock:
            q = self._ip.setdefault(ip, deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_ip:
                return "rate"
            q.append(now)
            n, since = self._fail.get(self._key(account), (0, 0.0))
            if n >= self.max_failures and now - since < self.lock_seconds:
                return "locked"
        return None

    def failed(self, account: str) -> None:
        with self._lock:
            k = self._key(account)
            n, _ = self._fail.get(k, (0, 0.0))
            self._fail[k] = (n + 1, time.monotonic())

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._fail.pop(self._key(account), None)
