"""The service over a run whose ledger store is PostgreSQL (`serve DIR --db URL`): grants,
checks in the chained log, a contest and its review, and `verify` covering the log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.store import access
from socialrating.store.contest import verify_run
from socialrating.web.app import create_app
from web_fixture import find_wronged


def test_serve_on_postgresql(tmp_path, pg_database):
    run = tmp_path / "run"
    simulate(SimConfig(policy="we-platform", people=1500, years=2.0, seed=7, world="synthetic", db=pg_database), run)
    w = find_wronged(run)
    app = create_app(run, db=pg_database)
    svc = app.state.svc
    try:
        with svc.lock:
            _, key = access.issue(svc.store, "org", "Bank", contexts=(w.context,))
            _, code = access.issue(svc.store, "citizen", "w", citizen_id=w.citizen_id)
        c = TestClient(app)
        auth = {"Authorization": f"Bearer {key}"}
        first = c.post("/api/v1/checks", json={"snils": str(w.snils), "context": w.context}, headers=auth).json()
        assert first["decision"] == "restricted"
        login = c.post("/api/v1/citizen/login", json={"snils": str(w.snils), "code": code}).json()
        r = c.post("/api/v1/citizen/contests", json={"entry_id": w.entry_id, "reason": "not mine"},
                   headers={"X-CSRF-Token": login["csrf_token"]})
        assert r.status_code == 200 and r.json()["state"] == "contested"
        svc.resolve(w.entry_id, "overturned", "Rita", "wrong person")
        second = c.post("/api/v1/checks", json={"snils": str(w.snils), "context": w.context}, headers=auth).json()
        assert second["decision"] == "allowed"
        log = c.get("/api/v1/citizen/me").json()["access_log"]
        assert [(x["check_id"], x["answer"]) for x in log] == [(first["check_id"], "restricted"),
                                                                (second["check_id"], "allowed")]
    finally:
        svc.close()
    out = verify_run(run, pg_database)
    assert out["ok"], out["problems"]
    assert out["access_checks"] == 2
