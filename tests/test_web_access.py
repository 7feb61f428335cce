"""Access to a served run: grants stored only as hashes, one-time citizen codes, org keys
scoped to contexts, the hash-chained check log and `verify` covering it; the `access`
command; refusing folders whose world is not synthetic."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from typer.testing import CliRunner

from socialrating.cli import app as cli
from socialrating.store import access
from socialrating.store.contest import open_store, verify_run
from socialrating.web.service import ServeError, Service
from web_fixture import copy_run


@pytest.fixture
def run(web_run, tmp_path):
    return copy_run(web_run, tmp_path / "run")


def _all_text(store) -> str:
    rows = store._db.fetchall("SELECT * FROM access_grants")
    return json.dumps(rows, default=str)


def test_secrets_are_stored_only_as_hashes(run):
    with open_store(run) as store:
        g_code, code = access.issue(store, "citizen", "c", citizen_id=5)
        g_key, key = access.issue(store, "org", "Bank", contexts=("credit",))
        g_pw, pw = access.issue(store, "reviewer", "Rita")
        stored = _all_text(store)
        for secret in (code, key, pw):
            assert secret not in stored
        row = store._db.fetchall("SELECT secret_hash, salt FROM access_grants WHERE grant_id = ?", [g_key.grant_id])[0]
        assert row[0] == hashlib.sha256(key.encode()).hexdigest()
        row = store._db.fetchall("SELECT secret_hash, salt FROM access_grants WHERE grant_id = ?", [g_pw.grant_id])[0]
        assert row[0] == hashlib.scrypt(pw.encode(), salt=bytes.fromhex(row[1]), n=2 ** 14, r=8, p=1,
                                        dklen=32).hex()
        assert access.org_for_key(store, key) == g_key
        assert access.org_for_key(store, key + "x") is None
        assert access.staff_login(store, "reviewer", "Rita", pw) == g_pw
        assert access.staff_login(store, "reviewer", "Rita", pw[:-1]) is None
        assert access.staff_login(store, "analyst", "Rita", pw) is None  # a reviewer's login is not an analyst's


def test_citizen_code_works_once_for_its_citizen_only(run):
    with open_store(run) as store:
        _, code = access.issue(store, "citizen", "c", citizen_id=5)
        assert access.citizen_login(store, 6, code) is None  # another citizen's SNILS with this code
        assert access.citizen_login(store, 5, "AAAA-BBBB-CCCC") is None
        g = access.citizen_login(store, 5, code.lower())  # typed in lower case: still the code
        assert g is not None and g.citizen_id == 5
        assert access.citizen_login(store, 5, code) is None  # spent


def test_expired_code_is_refused(run):
    with open_store(run) as store:
        g, code = access.issue(store, "citizen", "c", citizen_id=5)
        past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
        store._db.execute("UPDATE access_grants SET expires_at = ? WHERE grant_id = ?", [past, g.grant_id])
        assert access.citizen_login(store, 5, code) is None


def test_grants_need_their_scope(run):
    with open_store(run) as store:
        with pytest.raises(access.AccessError, match="contexts"):
            access.issue(store, "org", "Bank")
        with pytest.raises(access.AccessError, match="citizen"):
            access.issue(store, "citizen", "x")
        with pytest.raises(access.AccessError, match="role"):
            access.issue(store, "admin", "x")


def _rows(n: int, citizen: int = 1) -> list[tuple]:
    return [(f"2026-01-01T00:00:0{i}", "Bank", 1, citizen, "credit", "allowed", "", "NO_RESTRICTION_IN_CONTEXT")
            for i in range(n)]


def test_check_chain_by_hand(run):
    """The first check's hash, computed from the documented canonical text."""
    with open_store(run) as store:
        access.ensure_tables(store)
        (cid, h), = access.append_checks(store, _rows(1, citizen=7))
        assert cid == 1
        text = "|".join(f"{len(v)}:{v}" for v in ("1", "2026-01-01T00:00:00", "Bank", "1", "7", "credit", "allowed",
                                                   "", "NO_RESTRICTION_IN_CONTEXT"))
        assert h == hashlib.sha256(("0" * 64 + "|" + text).encode()).hexdigest()
        assert access.verify_checks(store) == (None, "", 1)


@pytest.mark.parametrize("tamper, first_bad", [
    ("UPDATE access_checks SET answer = 'restricted' WHERE check_id = 2", "check:2"),
    ("DELETE FROM access_checks WHERE check_id = 2", "check:3"),
    ("UPDATE access_checks SET citizen_id = 99 WHERE check_id = 3", "check:3"),
])
def test_verify_names_the_first_altered_check(run, tamper, first_bad):
    with open_store(run) as store:
        access.ensure_tables(store)
        access.append_checks(store, _rows(4))
        store._db.execute(tamper)
    out = verify_run(run)
    assert not out["ok"] and out["first_bad"] == first_bad


def test_verify_catches_checks_removed_after_the_anchor(run, web_wronged):
    """A contest seals the log's count and head into the manifest; dropping the tail of the
    log and re-hashing nothing is still caught (the anchored checks are missing)."""
    svc = Service(run)
    try:
        g, _ = access.issue(svc.store, "org", "Bank", contexts=(web_wronged.context,))
        for _ in range(3):
            svc.check(g, web_wronged.citizen_id, web_wronged.context)
        svc.contest(web_wronged.citizen_id, web_wronged.entry_id, "not mine")
    finally:
        svc.close()
    m = json.loads((run / "manifest.json").read_text())
    assert m["access_checks"]["count"] == 3
    ok = verify_run(run)
    assert ok["ok"] and ok["access_checks"] == 3
    with open_store(run) as store:
        store._db.execute("DELETE FROM access_checks WHERE check_id = 3")
    out = verify_run(run)
    assert not out["ok"] and out["first_bad"] == "check:3" and "missing" in out["detail"]


def test_check_log_group_commit_keeps_every_check(run):
    """Many threads at once: every answered check is in the log, chained, ids 1..n."""
    import concurrent.futures as cf

    svc = Service(run)
    try:
        g, _ = access.issue(svc.store, "org", "Bank", contexts=("credit",))
        with cf.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: svc.check(g, i % 50, "credit"), range(400)))
        with svc.lock:
            assert access.count_checks(svc.store) == 400
            assert access.verify_checks(svc.store) == (None, "", 400)
        assert sorted(a["check_id"] for a in answers) == list(range(1, 401))
    finally:
        svc.close()


def test_access_command(run):
    r = CliRunner().invoke(cli, ["access", str(run), "org", "--name", "Bank", "--contexts", "credit,travel"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert key.startswith("sr_key_") and "credit,travel" in r.output
    with open_store(run) as store:
        assert access.org_for_key(store, key).contexts == ("credit", "travel")
    r = CliRunner().invoke(cli, ["access", str(run), "org", "--name", "X", "--contexts", "spaceflight"])
    assert r.exit_code == 2 and "no consequence in that context" in r.output
    r = CliRunner().invoke(cli, ["access", str(run), "citizen", "--citizen", "99999999"])
    assert r.exit_code == 2 and "not in" in r.output
    r = CliRunner().invoke(cli, ["access", str(run), "citizen", "--citizen", "3"])
    code = r.output.strip().splitlines()[-1]
    with open_store(run) as store:
        assert access.citizen_login(store, 3, code).citizen_id == 3


def test_refuses_a_folder_that_is_not_synthetic(run):
    m = json.loads((run / "manifest.json").read_text())
    m["world"] = "census-2021"
    (run / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ServeError, match="synthetic"):
        Service(run)
    r = CliRunner().invoke(cli, ["access", str(run), "reviewer", "--name", "R"])
    assert r.exit_code == 2 and "synthetic" in r.output
    del m["world"]
    (run / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ServeError, match="None"):
        Service(run)


def test_snils_as_typed():
    from socialrating.web.service import format_snils, parse_snils

    assert parse_snils("123-456-789 01") == 12345678901
    assert parse_snils(format_snils(1343277717)) == 1343277717  # leading zero kept by the written form
    assert parse_snils("1343277717") == 1343277717              # or lost by a number
    for bad in ("", "abc", "²", "1" * 12, "1-" * 11):           # "²" passes str.isdigit (found by schemathesis)
        assert parse_snils(bad) is None


def test_every_snils_in_the_register_is_found(web_run):
    """The index skips people without a SNILS (children): a null in it would break the
    binary search for others (found by the load benchmark: 404s for people who exist)."""
    import polars as pl

    from socialrating.web.service import load_snapshot

    snap = load_snapshot(web_run)
    people = pl.read_parquet(web_run / "citizens.parquet", columns=["citizen_id", "snils"])
    assert people["snils"].null_count() > 0  # the case that matters is in the run
    known = people.drop_nulls("snils")
    assert snap.snils.dtype.kind == "i" and len(snap.snils) == known.height
    import numpy as np

    pos = np.searchsorted(snap.snils, known["snils"].to_numpy())
    assert (snap.snils_citizen[pos] == known["citizen_id"].to_numpy()).all()


def test_serve_and_access_refuse_a_folder_that_is_not_a_run(tmp_path):
    """One line and exit 2, the same words from both commands, before any server starts."""
    missing = tmp_path / "nowhere"
    for args in (["serve", str(missing)], ["access", str(missing), "citizen", "--citizen", "1"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.output.strip().endswith(
            f"{missing}: not a run folder (no manifest.json); run `socialrating run` first"), res.output
        assert "Errno" not in res.output and "Traceback" not in res.output
