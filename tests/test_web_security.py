"""Security of the service (OWASP ASVS level 2 as the anchor).

* The matrix: every route of the app x every role (nobody, citizen A, relying party,
  reviewer, analyst) x every way of naming someone else (citizen B's id, SNILS, entry):
  no answer carries B's record, and nothing B owns changes. The number of requests tried
  is printed (the README quotes it).
* Every form rejects a missing CSRF token; so do cookie-authenticated JSON calls.
* Login throttling per address and lockout per account; session cookies HttpOnly and
  SameSite; security headers with a CSP that has no inline script; the log names no one.
"""

from __future__ import annotations

import logging
import re

import polars as pl
import pytest
from fastapi.testclient import TestClient

from socialrating.store import access
from socialrating.web import security
from socialrating.web.app import create_app
from socialrating.web.service import format_snils
from web_fixture import copy_run

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class World:
    """An app on a copy of the run, with citizens A and B, an org, a reviewer and an analyst."""

    def __init__(self, run, per_ip=10_000):
        self.run = run
        self.app = create_app(run, throttle=security.Throttle(per_ip=per_ip))
        self.svc = self.app.state.svc
        led = pl.read_parquet(run / "ledger.parquet").with_columns(pl.col("record_id").cast(pl.String))
        changed = set(self.svc.store.changes()["entry_id"].to_list())
        counts = led.group_by("citizen_id").agg(pl.len(), pl.col("entry_id").is_in(list(changed)).any().alias("c"))
        ids = counts.filter((pl.col("len") >= 3) & ~pl.col("c")).sort("citizen_id")["citizen_id"].to_list()
        self.a, self.b = ids[0], ids[1]
        self.b_entries = led.filter(pl.col("citizen_id") == self.b)["entry_id"].to_list()
        self.b_records = led.filter(pl.col("citizen_id") == self.b)["record_id"].to_list()
        self.b_snils = self.svc.snils_of(self.b)
        with self.svc.lock:
            _, self.a_code = access.issue(self.svc.store, "citizen", "a", citizen_id=self.a)
            _, self.b_code = access.issue(self.svc.store, "citizen", "b", citizen_id=self.b)
            _, self.key = access.issue(self.svc.store, "org", "Bank", contexts=("credit",))
            _, self.rev_pw = access.issue(self.svc.store, "reviewer", "Rita")
            _, self.ana_pw = access.issue(self.svc.store, "analyst", "Ana")

    def client(self, role: str) -> tuple[TestClient, dict]:
        """A client logged in as `role`; and the headers/token it sends."""
        c = TestClient(self.app)
        if role == "citizen":  # a code works once: a fresh one for each login
            with self.svc.lock:
                _, code = access.issue(self.svc.store, "citizen", "a", citizen_id=self.a)
            r = c.post("/api/v1/citizen/login", json={"snils": str(self.svc.snils_of(self.a)), "code": code})
            assert r.status_code == 200, r.text
            return c, {"csrf": r.json()["csrf_token"], "headers": {"X-CSRF-Token": r.json()["csrf_token"]}}
        if role in ("reviewer", "analyst"):
            pre = CSRF_RE.search(c.get("/login/staff").text).group(1)
            pw = self.rev_pw if role == "reviewer" else self.ana_pw
            r = c.post("/login/staff", data={"role": role, "name": "Rita" if role == "reviewer" else "Ana",
                                             "password": pw, "csrf": pre}, follow_redirects=False)
            assert r.status_code == 303, r.text
            page = c.get("/review" if role == "reviewer" else "/analyst").text
            return c, {"csrf": CSRF_RE.search(page).group(1), "headers": {}}
        if role == "org":
            return c, {"csrf": "", "headers": {"Authorization": f"Bearer {self.key}"}}
        return c, {"csrf": "", "headers": {}}


@pytest.fixture(scope="module")
def world(web_run, tmp_path_factory):
    w = World(copy_run(web_run, tmp_path_factory.mktemp("sec") / "run"))
    yield w
    w.svc.close()


def _routes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        for m in sorted(getattr(r, "methods", None) or []):
            if m in ("GET", "POST"):
                out.append((m, r.path))
    return out


def _requests(world: World, method: str, path: str, csrf: str) -> list[dict]:
    """Every way this route can be asked about citizen B."""
    b, snils, entry = world.b, world.b_snils, world.b_entries[0]
    filled = path.replace("{citizen_id}", str(b)).replace("{index}", "0").replace("{path:path}", "site.css")
    if method == "GET":
        return [{"url": filled}, {"url": filled, "params": {"citizen_id": b, "citizen": b, "snils": snils,
                                                           "entry_id": entry}}]
    bodies = [{"snils": str(snils), "context": "credit"}, {"snils": format_snils(snils), "context": "travel"},
              {"entry_id": entry, "reason": "not mine"}, {"snils": str(snils), "code": "WRONG-CODE-0000"},
              {"citizen_id": b, "entry_id": entry, "outcome": "overturned", "reason": "r"}]
    if path.startswith("/api/"):
        return [{"url": filled, "json": body} for body in bodies]
    return [{"url": filled, "data": {**{k: str(v) for k, v in body.items()}, "csrf": csrf}} for body in bodies]


ROLES = ("nobody", "citizen", "org", "reviewer", "analyst")


def test_matrix_endpoint_role_other_id(world):
    """No role but the analyst (whose job it is) ever receives B's record; nobody changes it."""
    before = world.svc.store.changes().height
    routes = _routes(world.app)
    assert len(routes) >= 20
    tried = 0
    for role in ROLES:
        client, auth = world.client(role)
        for method, path in routes:
            if path in ("/logout", "/api/v1/citizen/logout"):
                continue  # would end the session the rest of the matrix uses; tested below
            for req in _requests(world, method, path, auth["csrf"]):
                url = req.pop("url")
                r = client.request(method, url, headers=auth["headers"], follow_redirects=False, **req)
                tried += 1
                assert r.status_code < 500, (role, method, url, r.status_code)
                if role == "analyst" and method == "GET":
                    continue  # analysts read any synthetic record: the lists link to them
                leaked = [x for x in world.b_records if x in r.text]
                assert not leaked, (role, method, url, "leaks B's records", leaked[:3])
                assert format_snils(world.b_snils) not in r.text or path == "/api/v1/checks", (role, method, url)
                if path == "/api/v1/checks" and r.status_code == 200:
                    assert role == "org" and set(r.json()) >= {"decision", "reason_code", "check_id"}
                    assert "entries" not in r.json()
    assert world.svc.store.changes().height == before, "someone changed B's record"
    print(f"\nsecurity matrix: {tried} requests ({len(routes)} routes x {len(ROLES)} roles x B's ids)")
    world.matrix_requests = tried


def test_each_role_reaches_only_its_own_pages(world):
    expect = {  # path -> the one role that gets 200
        "/me": "citizen", "/api/v1/citizen/me": "citizen", "/review": "reviewer", "/analyst": "analyst",
        "/analyst/calibration": "analyst", "/analyst/people?list=wrongly": "analyst",
        f"/analyst/citizens/{world.b}": "analyst"}
    tried = 0
    for role in ROLES:
        client, auth = world.client(role)
        for path, owner in expect.items():
            r = client.get(path, headers=auth["headers"], follow_redirects=False)
            tried += 1
            if role == owner:
                assert r.status_code == 200, (role, path, r.status_code)
            else:
                assert r.status_code in (303, 401, 403), (role, path, r.status_code)
    assert tried == len(ROLES) * len(expect)


def test_citizen_sees_own_record_not_bs(world):
    client, auth = world.client("citizen")
    me = client.get("/api/v1/citizen/me").json()
    assert me["citizen_id"] == world.a and me["synthetic"] is True
    r = client.post("/api/v1/citizen/contests", json={"entry_id": world.b_entries[0], "reason": "x"},
                    headers=auth["headers"])
    assert r.status_code == 409 and str(world.b) not in r.text


def test_org_key_is_scoped_to_its_contexts(world):
    client, auth = world.client("org")
    snils = str(world.svc.snils_of(world.a))
    assert client.post("/api/v1/checks", json={"snils": snils, "context": "credit"},
                       headers=auth["headers"]).status_code == 200
    r = client.post("/api/v1/checks", json={"snils": snils, "context": "travel"}, headers=auth["headers"])
    assert r.status_code == 403
    assert client.post("/api/v1/checks", json={"snils": snils, "context": "credit"}).status_code == 401
    assert client.post("/api/v1/checks", json={"snils": snils, "context": "credit"},
                       headers={"Authorization": "Bearer sr_key_nope"}).status_code == 401


def _forms(html: str) -> list[tuple[str, dict]]:
    """(action, fields) of every POST form on a page."""
    out = []
    for m in re.finditer(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', m.group(2)))
        for name in re.findall(r'<(?:textarea|input|select)[^>]*name="([^"]+)"', m.group(2)):
            fields.setdefault(name, "x")
        out.append((m.group(1), fields))
    return out


def test_every_form_rejects_a_missing_csrf_token(world):
    seen, tried = set(), 0
    for role, pages in (("nobody", ["/login/citizen", "/login/staff"]), ("citizen", ["/me"]),
                        ("reviewer", ["/review"]), ("analyst", ["/analyst"])):
        client, auth = world.client(role)
        if role == "citizen":  # the pages use the cookie session; log in through the form instead
            client = TestClient(world.app)
            pre = CSRF_RE.search(client.get("/login/citizen").text).group(1)
            _, code = access.issue(world.svc.store, "citizen", "a2", citizen_id=world.a)
            client.post("/login/citizen", data={"snils": str(world.svc.snils_of(world.a)), "code": code,
                                                "csrf": pre})
        for page in pages:
            forms = _forms(client.get(page).text)
            assert forms, page
            for action, fields in forms:
                assert fields.get("csrf"), (page, action, "form without a CSRF token")
                for bad in ("", "wrong-token"):
                    data = {**fields, "csrf": bad}
                    if not bad:
                        del data["csrf"]
                    r = client.post(action, data=data, follow_redirects=False)
                    tried += 1
                    assert r.status_code == 403, (page, action, r.status_code)
                seen.add(action)
    assert seen >= {"/login/citizen", "/login/staff", "/logout", "/me/contest", "/review/decide"}
    print(f"\nCSRF: {tried} posts without or with a wrong token, over every form on {len(seen)} actions: all 403")
    # cookie-authenticated JSON calls need the X-CSRF-Token header
    client, auth = world.client("citizen")
    r = client.post("/api/v1/citizen/contests", json={"entry_id": 1, "reason": "x"})
    assert r.status_code == 403


def test_login_rate_limit_and_lockout(web_run, tmp_path):
    w = World(copy_run(web_run, tmp_path / "run"), per_ip=20)
    try:
        c = TestClient(w.app)
        snils = str(w.svc.snils_of(w.a))
        for _ in range(security.MAX_FAILURES):
            assert c.post("/api/v1/citizen/login", json={"snils": snils, "code": "BAD"}).status_code == 401
        r = c.post("/api/v1/citizen/login", json={"snils": snils, "code": w.a_code})
        assert r.status_code == 429 and "locked" in r.json()["detail"]
        # another account from the same address still works, until the address's budget is spent
        assert c.post("/api/v1/citizen/login", json={"snils": str(w.b_snils), "code": w.b_code}).status_code == 200
        codes = [c.post("/api/v1/citizen/login", json={"snils": str(w.b_snils), "code": "BAD"}).status_code
                 for _ in range(20)]
        assert codes.count(429) >= 1 and codes[-1] == 429
    finally:
        w.svc.close()


def test_cookies_and_headers(world):
    c = TestClient(world.app)
    r = c.get("/login/citizen")
    for h in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        assert h in r.headers
    csp = r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in r.text and "style=" not in r.text  # the page passes its own CSP
    assert "Synthetic data" in r.text and r.headers["X-Synthetic-Data"] == "true"
    r = c.post("/api/v1/citizen/login", json={"snils": str(world.svc.snils_of(world.a)), "code": "x"})
    assert r.json()["synthetic"] is True
    _, code = access.issue(world.svc.store, "citizen", "a3", citizen_id=world.a)
    r = c.post("/api/v1/citizen/login", json={"snils": str(world.svc.snils_of(world.a)), "code": code})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_the_log_names_no_one(world, caplog):
    caplog.set_level(logging.INFO, logger="socialrating.web")
    client, auth = world.client("org")
    snils = world.svc.snils_of(world.a)
    client.post("/api/v1/checks", json={"snils": str(snils), "context": "credit"}, headers=auth["headers"])
    ana, _ = world.client("analyst")
    ana.get(f"/analyst/citizens/{world.b}")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/v1/checks" in text and "/analyst/citizens/{citizen_id}" in text
    for secret in (str(snils), format_snils(snils), world.key, world.a_code, f"/analyst/citizens/{world.b}"):
        assert secret not in text
