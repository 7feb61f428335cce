"""The relying parties' check answered by web/fastcheck.py (the hot path, without FastAPI's
per-request work): the same answer, field for field and in the same order, as the route's;
every refusal still the route's; every answer in the chained log before it is sent."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from socialrating.store import access
from socialrating.store.contest import open_store
from socialrating.web.app import CheckAnswer, create_app
from web_fixture import copy_run


@pytest.fixture
def served(web_run, web_wronged, tmp_path):
    run = copy_run(web_run, tmp_path / "run")
    with open_store(run) as store:
        _, key = access.issue(store, "org", "Bank", contexts=(web_wronged.context,))
    app = create_app(run)
    with TestClient(app) as c:
        yield app, c, {"Authorization": f"Bearer {key}"}, web_wronged
    app.state.svc.close()


def _check(c, auth, snils, context, **kw):
    return c.post("/api/v1/checks", json={"snils": snils, "context": context}, headers=auth, **kw)


def test_fast_answer_is_the_routes_answer(served):
    app, c, auth, w = served
    snils = str(w.snils)
    first = _check(c, auth, snils, w.context)  # the key is not known yet: the route answers (and caches it)
    assert app.state.fast_checks == 0
    second = _check(c, auth, snils, w.context)
    assert app.state.fast_checks == 1
    assert first.status_code == second.status_code == 200
    a, b = first.json(), second.json()
    assert list(a) == list(b) == list(CheckAnswer.model_fields)  # same fields, same order
    assert a["decision"] == b["decision"] == "restricted"
    assert a["consequences"] == b["consequences"] and w.consequence_id in [x["consequence_id"] for x in b["consequences"]]
    assert (a["check_id"], b["check_id"]) == (1, 2)
    for r in (first, second):  # the middleware's headers on both
        assert r.headers["x-synthetic-data"] == "true" and "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["content-type"].startswith("application/json")
    svc = app.state.svc
    with svc.lock:
        assert access.verify_checks(svc.store) == (None, "", 2)
        logged = svc.store._db.fetchall("SELECT check_id, hash, answer FROM access_checks ORDER BY check_id")
    assert logged == [(1, a["log_hash"], "restricted"), (2, b["log_hash"], "restricted")]


def test_every_refusal_is_still_the_routes(served):
    app, c, auth, w = served
    snils = str(w.snils)
    assert _check(c, auth, snils, w.context).status_code == 200  # caches the key
    tried = [
        (_check(c, auth, snils, "no-such-context"), 403),
        (_check(c, auth, "999-999-999 99", w.context), 404),
        (_check(c, auth, "12345678901234567890123", w.context), 422),   # longer than the model allows
        (c.post("/api/v1/checks", json={"snils": w.snils, "context": w.context}, headers=auth), 422),  # a number
        (c.post("/api/v1/checks", json=[snils, w.context], headers=auth), 422),
        (c.post("/api/v1/checks", content=b"{not json", headers={**auth, "content-type": "application/json"}), 422),
        (c.post("/api/v1/checks", json={"snils": snils}, headers=auth), 422),
        (_check(c, {"Authorization": auth["Authorization"] + "x"}, snils, w.context), 401),
        (_check(c, {}, snils, w.context), 401),
    ]
    assert [r.status_code for r, _ in tried] == [want for _, want in tried]
    for r, _ in tried:
        assert r.json()["synthetic"] is True and "detail" in r.json()
    assert app.state.fast_checks == 0
    # a repeated Authorization header is left to the route too
    r = c.post("/api/v1/checks", json={"snils": snils, "context": w.context},
               headers=[("Authorization", auth["Authorization"]), ("Authorization", "Bearer x")])
    assert app.state.fast_checks == 0 and r.status_code in (200, 401)


def test_fast_checks_chain_under_concurrency(served):
    import concurrent.futures as cf

    app, c, auth, w = served
    assert _check(c, auth, str(w.snils), w.context).status_code == 200
    with cf.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: _check(c, auth, str(w.snils), w.context).json(), range(120)))
    assert app.state.fast_checks == 120
    assert sorted(g["check_id"] for g in got) == list(range(2, 122))
    svc = app.state.svc
    with svc.lock:
        assert access.verify_checks(svc.store) == (None, "", 121)
        logged = dict(svc.store._db.fetchall("SELECT check_id, hash FROM access_checks"))
    assert all(logged[g["check_id"]] == g["log_hash"] for g in got)
