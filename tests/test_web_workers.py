"""`serve --workers N` over PostgreSQL: what one server process does, the others see.

Two apps over the same run folder and database stand for two worker processes: a session
made by one is valid in the other and a logout in one ends it in both; login failures on
both count together; a review made through one changes the other's next answer; their
checks chain into one log; the embedded store refuses workers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.store import access
from socialrating.store.contest import verify_run
from socialrating.web import security
from socialrating.web.app import create_app
from socialrating.web.serve import ServeError, run_server
from socialrating.web.shared import DbSessions, DbThrottle, ensure_tables
from web_fixture import find_wronged


def _worker(run, db, salt):
    return create_app(run, db=db, throttle=DbThrottle(db, salt, per_ip=1000), sessions=DbSessions(db))


def test_two_workers_share_sessions_limits_changes_and_the_log(tmp_path, pg_database):
    run = tmp_path / "run"
    simulate(SimConfig(policy="we-platform", people=1500, years=2.0, seed=7, world="synthetic", db=pg_database), run)
    w = find_wronged(run)
    ensure_tables(pg_database)
    a, b = _worker(run, pg_database, b"s" * 16), _worker(run, pg_database, b"s" * 16)
    try:
        with a.state.svc.lock:
            _, key = access.issue(a.state.svc.store, "org", "Bank", contexts=(w.context,))
            _, code = access.issue(a.state.svc.store, "citizen", "w", citizen_id=w.citizen_id)
        ca, cb = TestClient(a), TestClient(b)
        auth = {"Authorization": f"Bearer {key}"}
        ask = {"snils": str(w.snils), "context": w.context}
        before = [ca.post("/api/v1/checks", json=ask, headers=auth).json(),
                  cb.post("/api/v1/checks", json=ask, headers=auth).json()]
        assert [x["decision"] for x in before] == ["restricted", "restricted"]

        login = ca.post("/api/v1/citizen/login", json={"snils": str(w.snils), "code": code}).json()
        bearer = {"Authorization": f"Bearer {login['token']}"}
        me = cb.get("/api/v1/citizen/me", headers=bearer)  # made by a, read through b
        assert me.status_code == 200 and me.json()["citizen_id"] == w.citizen_id
        rows = a.state.sessions.db.run("SELECT token_hash FROM web_sessions")
        assert login["token"] not in str(rows)  # only the token's hash is stored

        r = cb.post("/api/v1/citizen/contests", json={"entry_id": w.entry_id, "reason": "not mine"}, headers=bearer)
        assert r.status_code == 200 and r.json()["state"] == "contested"
        a.state.svc.resolve(w.entry_id, "overturned", "Rita", "wrong person")  # through a ...
        after = cb.post("/api/v1/checks", json=ask, headers=auth).json()      # ... seen by b at once
        assert after["decision"] == "allowed"
        log = ca.get("/api/v1/citizen/me", headers=bearer).json()["access_log"]
        assert [x["check_id"] for x in log] == [before[0]["check_id"], before[1]["check_id"], after["check_id"]]

        r = ca.post("/api/v1/citizen/logout", headers=bearer)
        assert r.status_code == 200
        assert cb.get("/api/v1/citizen/me", headers=bearer).status_code == 401  # ended everywhere

        bad = {"snils": str(w.snils), "code": "AAAA-BBBB-CCCC"}
        codes = [(ca if i % 2 else cb).post("/api/v1/citizen/login", json=bad).status_code
                 for i in range(security.MAX_FAILURES + 1)]
        assert codes == [401] * security.MAX_FAILURES + [429]  # failures through a and b count together
    finally:
        a.state.svc.close()
        b.state.svc.close()
    out = verify_run(run, pg_database)
    assert out["ok"], out["problems"]
    assert out["access_checks"] == 3


def test_shared_address_limit_counts_every_worker(pg_database):
    ensure_tables(pg_database)
    t1, t2 = (DbThrottle(pg_database, b"k" * 16, per_ip=3) for _ in range(2))
    got = [t.allow("10.0.0.1", f"acct{i}") for i, t in enumerate((t1, t2, t1, t2))]
    assert got == [None, None, None, "rate"]
    assert t2.allow("10.0.0.2", "x") is None  # another address is not limited


def test_embedded_store_refuses_workers(web_run):
    with pytest.raises(ServeError, match="one process"):
        run_server(web_run, workers=2)
