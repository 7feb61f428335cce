"""The FastAPI application: the JSON API, the middleware, and the pages (`web/pages.py`).

`create_app(run_dir, db)` serves one synthetic run folder. Four roles:
* a relying party (`POST /api/v1/checks`, bearer API key): allowed or restricted in one of
  its contexts, never the entries; each check is in the hash-chained log before it is answered;
* a citizen (`POST /api/v1/citizen/login`, then `GET /api/v1/citizen/me` and the pages):
  their own record, contests and access log;
* a reviewer (pages): the queue of contested entries; uphold or overturn;
* an analyst (pages): the report, compare, calibration, lists of restricted people.
Every answer says the people are synthetic (a `synthetic` field, an X-Synthetic-Data header,
a banner on every page).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..store import access
from . import security
from .service import SYNTHETIC_NOTE, ServeError, Service, parse_snils

log = logging.getLogger("socialrating.web")


class CheckRequest(BaseModel):
    snils: str = Field(max_length=20, description="the person's SNILS, e.g. 123-456-789 01")
    context: str = Field(max_length=40, description="the consequence context asked about, e.g. credit")


class CheckConsequence(BaseModel):
    consequence_id: str
    since: str | None
    until: str | None
    via_household: bool
    because: str


class CheckAnswer(BaseModel):
    check_id: int
    checked_at: str
    context: str
    as_of: str
    decision: Literal["allowed", "restricted"]
    reason_code: str
    consequences: list[CheckConsequence]
    log_hash: str
    synthetic: bool = True
    note: str = SYNTHETIC_NOTE


class LoginRequest(BaseModel):
    snils: str = Field(max_length=20)
    code: str = Field(max_length=40)


class LoginAnswer(BaseModel):
    token: str
    csrf_token: str
    synthetic: bool = True


class ContestRequest(BaseModel):
    entry_id: int = Field(ge=0, le=2 ** 62)
    reason: str = Field(min_length=1, max_length=2000)


class Problem(BaseModel):
    detail: str
    synthetic: bool = True


ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": Problem} for c in (400, 401, 403, 404, 409, 429)}


def _problem(status: int, detail: str, headers: dict | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def create_app(run_dir: str | Path, db: str | None = None, *, compare_with: tuple[Path, ...] = (),
               throttle: security.Throttle | None = None, sessions: security.Sessions | None = None) -> FastAPI:
    svc = Service(run_dir, db)
    app = FastAPI(title="socialrating service (synthetic data)", version="1",
                  description=f"{SYNTHETIC_NOTE} Purpose-bound access to one run folder.",
                  docs_url=None, redoc_url=None)
    app.state.svc = svc
    app.state.sessions = sessions or security.Sessions()
    app.state.throttle = throttle or security.Throttle()
    app.state.org_cache = {}
    app.state.compare_with = tuple(Path(p) for p in compare_with)
    app.state.cache = {}
    _middleware(app)
    _errors(app)
    _api(app)
    from .pages import add_pages

    add_pages(app)
    app.router.on_shutdown.append(svc.close)
    return app


class HeadersAndLog:
    """Pure ASGI middleware: security headers on every answer, and one log line per request
    naming the route's template, never the path (no SNILS, citizen or entry id in the log)."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in security.HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [0]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in have]
                if b"content-security-policy" not in have:
                    extra.append((b"content-security-policy", security.CSP.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
        route = scope.get("route")
        log.info("%s %s %d %.1fms", scope["method"], getattr(route, "path", "(no route)"), status[0],
                 1000 * (time.perf_counter() - t0))


def _middleware(app: FastAPI) -> None:
    from .fastcheck import FastCheck

    app.add_middleware(FastCheck, fastapi_app=app)  # inside HeadersAndLog: same headers, same log line
    app.add_middleware(HeadersAndLog)


def _errors(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        from .pages import error_page, wants_html

        if wants_html(request):
            return error_page(request, exc.status_code, str(exc.detail), exc.headers)
        return JSONResponse({"detail": exc.detail, "synthetic": True}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errs = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"detail": errs, "synthetic": True}, status_code=422)


# ---------------------------------------------------------------- who is calling


async def org_grant(request: Request, authorization: str | None = Header(None, include_in_schema=False)
                    ) -> access.Grant:
    if not authorization or not authorization.startswith("Bearer "):
        raise _problem(401, "an API key is needed (Authorization: Bearer KEY)", {"WWW-Authenticate": "Bearer"})
    key = authorization[7:].strip()
    cache = request.app.state.org_cache
    h = access.key_hash(key)
    grant = cache.get(h)
    if grant is None:
        svc: Service = request.app.state.svc
        with svc.lock:
            grant = access.org_for_key(svc.store, key)
        if grant is None:
            raise _problem(401, "this API key is not valid", {"WWW-Authenticate": "Bearer"})
        cache[h] = grant
    return grant


def session_for(request: Request, role: str, *, csrf: str | None = None, need_csrf: bool = False
                ) -> security.Session:
    """The caller's session for `role`: from the cookie, or from a bearer session token (API).

    With the cookie, a state-changing call must carry the session's CSRF token; a bearer
    token is not sent by browsers on their own, so it needs none.
    """
    sessions: security.Sessions = request.app.state.sessions
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.startswith("Bearer ") else None
    s = sessions.get(bearer or request.cookies.get(security.SESSION_COOKIE))
    if s is None:
        raise _problem(401, "please log in")
    if s.role != role:
        raise _problem(403, f"this is for the {role} role")
    if need_csrf and not bearer and not security.same(csrf, s.csrf):
        raise _problem(403, "missing or wrong CSRF token")
    return s


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(security.SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https", max_age=security.IDLE_SECONDS)


def citizen_login(request: Request, snils_text: str, code: str) -> security.Session:
    """Check the throttle, then the code; a new session for the citizen (no fixation)."""
    ip = request.client.host if request.client else "?"
    svc: Service = request.app.state.svc
    throttle: security.Throttle = request.app.state.throttle
    account = "citizen:" + "".join(ch for ch in snils_text if ch in "0123456789")
    why = throttle.allow(ip, account)
    if why == "rate":
        raise _problem(429, "too many login attempts from here; wait a minute", {"Retry-After": "60"})
    if why == "locked":
        raise _problem(429, "this account is locked after repeated failed logins; try again in 15 minutes",
                       {"Retry-After": str(int(security.LOCK_SECONDS))})
    snils = parse_snils(snils_text)
    cid = svc.citizen_for_snils(snils) if snils is not None else None
    grant = None
    if cid is not None:
        with svc.lock:
            grant = access.citizen_login(svc.store, cid, code)
    else:
        access.scrypt_hash(code, "00" * 16)  # the same work for an unknown SNILS
    if grant is None:
        throttle.failed(account)
        raise _problem(401, "the SNILS and code do not match a valid, unused login code")
    throttle.succeeded(account)
    return request.app.state.sessions.new("citizen", cid)


# ---------------------------------------------------------------- the API


def _api(app: FastAPI) -> None:
    @app.post("/api/v1/checks", response_model=CheckAnswer, responses=ERRORS, tags=["relying parties"])
    async def check(body: CheckRequest, grant: access.Grant = Depends(org_grant)) -> dict:
        """Is this (synthetic) person restricted in this context? Recorded before it is answered."""
        svc: Service = app.state.svc
        if body.context not in grant.contexts:
            raise _problem(403, f"this key is not valid for the context {body.context!r}")
        snils = parse_snils(body.snils)
        cid = svc.citizen_for_snils(snils) if snils is not None else None
        if cid is None:
            raise _problem(404, "no person with this SNILS in the register")
        answer, fut = svc.start_check(grant, cid, body.context)
        return svc.finish_check(answer, await asyncio.wrap_future(fut))  # answered once the log has it

    @app.post("/api/v1/citizen/login", response_model=LoginAnswer, responses=ERRORS, tags=["citizens"])
    def login(body: LoginRequest, request: Request, response: Response) -> dict:
        """Spend a one-time code; the session comes as an HttpOnly cookie and as a token."""
        s = citizen_login(request, body.snils, body.code)
        set_session_cookie(response, request, s.token)
        return {"token": s.token, "csrf_token": s.csrf}

    @app.get("/api/v1/citizen/me", responses=ERRORS, tags=["citizens"])
    def me(request: Request) -> dict:
        """The citizen's own record: status and level, entries, consequences with recourse,
        contests and the log of every check made about them."""
        s = session_for(request, "citizen")
        rec = app.state.svc.record(int(s.subject))
        return {"synthetic": True, "note": SYNTHETIC_NOTE, **rec}

    @app.post("/api/v1/citizen/contests", responses=ERRORS, tags=["citizens"])
    def contest(body: ContestRequest, request: Request,
                x_csrf_token: str | None = Header(None, include_in_schema=False)) -> dict:
        """Contest one of one's own entries, with a reason; a reviewer decides."""
        s = session_for(request, "citizen", csrf=x_csrf_token, need_csrf=True)
        try:
            out = app.state.svc.contest(int(s.subject), body.entry_id, body.reason)
        except ServeError as exc:
            raise _problem(409, str(exc)) from None
        keep = ("change_id", "entry_id", "state", "on", "review_deadline", "points_while_contested", "overdue")
        return {"synthetic": True, **{k: str(out[k]) if k in ("on", "review_deadline") else out[k] for k in keep}}

    @app.post("/api/v1/citizen/logout", responses=ERRORS, tags=["citizens"])
    def logout(request: Request, response: Response,
               x_csrf_token: str | None = Header(None, include_in_schema=False)) -> dict:
        s = session_for(request, "citizen", csrf=x_csrf_token, need_csrf=True)
        app.state.sessions.end(s.token)
        response.delete_cookie(security.SESSION_COOKIE, path="/")
        return {"synthetic": True, "logged_out": True}
