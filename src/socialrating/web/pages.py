"""Server-rendered pages for citizens, reviewers and analysts (Jinja2, no script).

Every form carries a CSRF token (the session's, or before login the pre-login cookie's);
every page shows the synthetic-data banner. The analyst's report and comparison pages are
the `report/` renderers' own self-contained HTML, served in a sandboxed frame.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from pathlib import Path

import polars as pl
from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..audit.calibration import calibration_section
from ..audit.citizens import CitizenQuery, find_citizens
from ..audit.compare import compare_runs
from ..report.compare_page import render_compare
from ..report.html import write_report
from . import security
from .app import citizen_login, session_for, set_session_cookie
from .service import ServeError, Service, format_snils

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/openapi.json"))


def _ctx(request: Request, **kw) -> dict:
    svc: Service = request.app.state.svc
    s = request.app.state.sessions.get(request.cookies.get(security.SESSION_COOKIE))
    return {"session": s, "policy_name": f"{svc.snap.policy.name} {svc.snap.policy.version}",
            "as_of": svc.snap.as_of.isoformat(), "run_name": svc.run_dir.name, "flash": None, **kw}


def render(request: Request, name: str, status: int = 200, headers: dict | None = None, **kw) -> HTMLResponse:
    return templates.TemplateResponse(request, name, _ctx(request, **kw), status_code=status, headers=headers)


def error_page(request: Request, status: int, detail: str, headers: dict | None = None) -> HTMLResponse:
    if status == 401 and request.method == "GET":  # a page that needs a login: go to the right one
        to = "/login/citizen" if request.url.path.startswith("/me") else "/login/staff"
        return RedirectResponse(to, status_code=303)
    return render(request, "error.html", status=status, headers=headers, title=str(status), code=status,
                  detail=detail)


def _login_form(request: Request, name: str, status: int = 200, error: str | None = None) -> HTMLResponse:
    pre = request.cookies.get(security.PRE_COOKIE) or secrets.token_urlsafe(32)
    resp = render(request, name, status=status, title="Log in", pre=pre, error=error)
    resp.set_cookie(security.PRE_COOKIE, pre, httponly=True, samesite="strict", path="/login",
                    secure=request.url.scheme == "https", max_age=3600)
    return resp


def _after_login(request: Request, s: security.Session, to: str) -> RedirectResponse:
    old = request.cookies.get(security.SESSION_COOKIE)
    request.app.state.sessions.end(old)  # a new token at every login: no session fixation
    resp = RedirectResponse(to, status_code=303)
    set_session_cookie(resp, request, s.token)
    resp.delete_cookie(security.PRE_COOKIE, path="/login")
    return resp


def add_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _public(app)
    _citizen(app)
    _reviewer(app)
    _analyst(app)


def _public(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, tags=["pages"])
    def home(request: Request):
        return render(request, "home.html", title="Home")

    @app.get("/login/citizen", response_class=HTMLResponse, tags=["pages"])
    def citizen_login_form(request: Request):
        return _login_form(request, "login_citizen.html")

    @app.post("/login/citizen", response_class=HTMLResponse, tags=["pages"])
    def citizen_login_post(request: Request, snils: str = Form(max_length=20), code: str = Form(max_length=40),
                           csrf: str = Form("", max_length=100)):
        if not security.pre_token_ok(request.cookies.get(security.PRE_COOKIE), csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        try:
            s = citizen_login(request, snils, code)
        except HTTPException as exc:
            if exc.status_code == 401:
                return _login_form(request, "login_citizen.html", 401, str(exc.detail))
            raise
        return _after_login(request, s, "/me")

    @app.get("/login/staff", response_class=HTMLResponse, tags=["pages"])
    def staff_login_form(request: Request):
        return _login_form(request, "login_staff.html")

    @app.post("/login/staff", response_class=HTMLResponse, tags=["pages"])
    def staff_login_post(request: Request, role: str = Form(max_length=20), name: str = Form(max_length=100),
                         password: str = Form(max_length=100), csrf: str = Form("", max_length=100)):
        if not security.pre_token_ok(request.cookies.get(security.PRE_COOKIE), csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        s = _staff_login(request, role, name, password)
        if s is None:
            return _login_form(request, "login_staff.html", 401, "the name and password do not match")
        return _after_login(request, s, "/review" if role == "reviewer" else "/analyst")

    @app.post("/logout", tags=["pages"])
    def logout(request: Request, csrf: str = Form("", max_length=100)):
        s = request.app.state.sessions.get(request.cookies.get(security.SESSION_COOKIE))
        if s is None or not security.same(csrf, s.csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        request.app.state.sessions.end(s.token)
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(security.SESSION_COOKIE, path="/")
        return resp


def _staff_login(request: Request, role: str, name: str, password: str) -> security.Session | None:
    from ..store import access

    throttle: security.Throttle = request.app.state.throttle
    ip = request.client.host if request.client else "?"
    why = throttle.allow(ip, f"{role}:{name}")
    if why:
        raise HTTPException(429, "too many login attempts; wait a minute" if why == "rate" else
                            "this account is locked after repeated failed logins; try again in 15 minutes",
                            headers={"Retry-After": "60"})
    svc: Service = request.app.state.svc
    with svc.lock:
        grant = access.staff_login(svc.store, role, name, password)
    if grant is None:
        throttle.failed(f"{role}:{name}")
        return None
    throttle.succeeded(f"{role}:{name}")
    return request.app.state.sessions.new(role, grant.name)


def _citizen(app: FastAPI) -> None:
    @app.get("/me", response_class=HTMLResponse, tags=["pages"])
    def me(request: Request, done: str | None = Query(None, max_length=40)):
        s = session_for(request, "citizen")
        svc: Service = app.state.svc
        rec = svc.record(int(s.subject))
        flash = {"contested": "Your contest is recorded; a reviewer will decide."}.get(done or "")
        return render(request, "citizen.html", title="Your record", rec=rec, flash=flash,
                      snils=format_snils(svc.snils_of(int(s.subject)) or 0), open_contests=_contests(rec))

    @app.post("/me/contest", tags=["pages"])
    def contest(request: Request, entry_id: int = Form(ge=0, le=2 ** 62), reason: str = Form(max_length=2000),
                csrf: str = Form("", max_length=100)):
        s = session_for(request, "citizen", csrf=csrf, need_csrf=True)
        if not reason.strip():
            raise HTTPException(400, "a contest needs a reason")
        try:
            app.state.svc.contest(int(s.subject), entry_id, reason)
        except ServeError as exc:
            raise HTTPException(409, str(exc)) from None
        return RedirectResponse("/me?done=contested", status_code=303)


def _contests(rec: dict) -> list[dict]:
    """One row per contest the citizen made: when, why, the deadline and the outcome."""
    out = []
    for entry_id, hist in sorted(rec["contests"].items()):
        for i, h in enumerate(hist):
            if h["state"] != "contested":
                continue
            nxt = hist[i + 1] if i + 1 < len(hist) else None
            outcome = f"{nxt['state']} on {nxt['at']} ({nxt['reason']})" if nxt else "awaiting review"
            deadline = dt.date.fromisoformat(h["at"]) + dt.timedelta(days=rec["review_deadline_days"])
            out.append({"entry_id": entry_id, "at": h["at"], "reason": h["reason"], "deadline": deadline.isoformat(),
                        "outcome": outcome})
    return out


def _reviewer(app: FastAPI) -> None:
    @app.get("/review", response_class=HTMLResponse, tags=["pages"])
    def queue(request: Request, done: str | None = Query(None, max_length=40)):
        session_for(request, "reviewer")
        flash = {"overturned": "Overturned: the citizen's rating and consequences are re-derived.",
                 "upheld": "Upheld: the entry counts again."}.get(done or "")
        return render(request, "review.html", title="Review queue", queue=app.state.svc.queue(), flash=flash)

    @app.post("/review/decide", tags=["pages"])
    def decide(request: Request, entry_id: int = Form(ge=0, le=2 ** 62), outcome: str = Form(max_length=20),
               reason: str = Form(max_length=2000), csrf: str = Form("", max_length=100)):
        s = session_for(request, "reviewer", csrf=csrf, need_csrf=True)
        if outcome not in ("upheld", "overturned") or not reason.strip():
            raise HTTPException(400, "choose uphold or overturn, and give a reason")
        try:
            app.state.svc.resolve(entry_id, outcome, str(s.subject), reason)
        except ServeError as exc:
            raise HTTPException(409, str(exc)) from None
        return RedirectResponse(f"/review?done={outcome}", status_code=303)


def _analyst(app: FastAPI) -> None:
    @app.get("/analyst", response_class=HTMLResponse, tags=["pages"])
    def overview(request: Request):
        session_for(request, "analyst")
        svc: Service = app.state.svc
        cons = svc.snap.cons
        restricted = cons.filter(pl.col("kind") == "restriction")["citizen_id"].n_unique()
        return render(request, "analyst.html", title="Analysis", people=f"{svc.snap.ratings.height:,}",
                      restricted=f"{restricted:,}", compare=[p.name for p in app.state.compare_with])

    @app.get("/analyst/report", response_class=HTMLResponse, tags=["pages"])
    def report_frame(request: Request):
        session_for(request, "analyst")
        return render(request, "framed.html", title="The run's report", src="/analyst/report.html")

    @app.get("/analyst/report.html", response_class=HTMLResponse, tags=["pages"])
    def report_file(request: Request):
        session_for(request, "analyst")
        return _sandboxed(_cached(app, "report", lambda: _report_text(app.state.svc)))

    @app.get("/analyst/compare/{index}", response_class=HTMLResponse, tags=["pages"])
    def compare_frame(request: Request, index: int):
        session_for(request, "analyst")
        if not 0 <= index < len(app.state.compare_with):
            raise HTTPException(404, "no such comparison")
        return render(request, "framed.html", title=f"Compare with {app.state.compare_with[index].name}",
                      src=f"/analyst/compare/{index}/page.html")

    @app.get("/analyst/compare/{index}/page.html", response_class=HTMLResponse, tags=["pages"])
    def compare_file(request: Request, index: int):
        session_for(request, "analyst")
        if not 0 <= index < len(app.state.compare_with):
            raise HTTPException(404, "no such comparison")
        other = app.state.compare_with[index]
        return _sandboxed(_cached(app, f"compare-{index}",
                                  lambda: render_compare(compare_runs(app.state.svc.run_dir, other))))

    @app.get("/analyst/calibration", response_class=HTMLResponse, tags=["pages"])
    def calibration(request: Request):
        session_for(request, "analyst")
        table = _cached(app, "calibration", lambda: calibration_section(app.state.svc.run_dir))
        return render(request, "calibration.html", title="Calibration", table=table)

    @app.get("/analyst/people", response_class=HTMLResponse, tags=["pages"])
    def people(request: Request, list: str = Query("restricted", pattern="^(restricted|wrongly)$"),
               limit: int = Query(100, ge=1, le=1000)):
        session_for(request, "analyst")
        svc: Service = app.state.svc
        kinds = {c.id: c.kind for c in svc.snap.policy.consequences}
        q = CitizenQuery(wrongly=list == "wrongly", limit=limit)
        rows, total = find_citizens(svc.run_dir, q, kinds, svc.snap.manifest.get("scenarios") or ["actual"])
        heading = "People restricted now" if list == "restricted" else "People wrongly restricted"
        return render(request, "people.html", title=heading, heading=heading, rows=rows.to_dicts(),
                      total=f"{total:,}")

    @app.get("/analyst/citizens/{citizen_id}", response_class=HTMLResponse, tags=["pages"])
    def citizen(request: Request, citizen_id: int):
        session_for(request, "analyst")
        try:
            rec = app.state.svc.record(citizen_id)
        except ServeError:
            raise HTTPException(404, "no such (synthetic) citizen") from None
        return render(request, "analyst_citizen.html", title=f"Citizen {citizen_id}", rec=rec)


def _cached(app: FastAPI, key: str, make):
    """Derived pages are made once per version of the run's record (the manifest's head)."""
    head = app.state.svc.snap.manifest.get("head")
    got = app.state.cache.get(key)
    if got is None or got[0] != head:
        got = (head, make())
        app.state.cache[key] = got
    return got[1]


def _report_text(svc: Service) -> str:
    with tempfile.TemporaryDirectory(prefix="sr-report-") as tmp:
        from ..audit import audit_run

        res = audit_run(svc.run_dir, write=False)
        return write_report(svc.run_dir, audit=res, out=Path(tmp) / "report.html").read_text(encoding="utf-8")


def _sandboxed(text: str) -> Response:
    return HTMLResponse(text, headers={"Content-Security-Policy": security.REPORT_CSP,
                                       "X-Frame-Options": "SAMEORIGIN"})
