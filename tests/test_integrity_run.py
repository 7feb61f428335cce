"""`run --out` into an existing folder, a failing store, and `verify` without the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import integrity_fixture as fx
from socialrating.cli import app
from socialrating.store.contest import contest, verify_run

RUN = ["--policy", "we-platform", "--people", "600", "--years", "1", "--seed", "9"]


def cli(*args, code: int = 0):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    return res


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_rerun_replaces_a_plain_run_whole(tmp_path):
    out = tmp_path / "r"
    cli("run", *RUN, "--out", out)
    (out / "report.html").write_text("old report")  # an output of the old run
    (tmp_path / ".r.building-999999999").mkdir()  # left by a run that was killed
    cli("run", *RUN, "--seed", "10", "--out", out)
    assert not (out / "report.html").exists()  # nothing of the old run is left beside the new
    assert json.loads((out / "manifest.json").read_text())["seed"] == 10
    assert verify_run(out)["ok"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_rerun_refuses_a_folder_with_contests_or_ingested_records(tmp_path):
    out = tmp_path / "r"
    cli("run", *RUN, "--out", out)
    cid, eid, _ = fx.negative_entry(out)
    contest(out, cid, eid, "not me")
    before = _tree(out)
    said = " ".join(cli("run", *RUN, "--out", out, code=2).output.split())
    assert "1 contest or review change(s)" in said and "--overwrite" in said
    assert _tree(out) == before  # untouched
    cli("run", *RUN, "--out", out, "--overwrite")
    from socialrating.store.replace import held_records

    assert held_records(out) == [] and verify_run(out)["ok"]  # a fresh run, the contest gone as asked


def test_rerun_refuses_a_folder_with_ingested_records(tmp_path):
    from socialrating.store.intake import ingest_into_run

    out = tmp_path / "r"
    cli("run", *RUN, "--world", "synthetic", "--out", out)
    fx.bailiff_file(out, tmp_path / "b.csv", n=5)
    ingest_into_run("bailiffs", tmp_path / "b.csv", out)
    said = " ".join(cli("run", *RUN, "--out", out, code=2).output.split())
    assert "ingested records" in said


def test_run_refuses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "is the current folder" in " ".join(cli("run", *RUN, "--out", ".", code=2).output.split())
    assert list(tmp_path.iterdir()) == []


def test_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    said = " ".join(cli("run", *RUN, "--out", out, code=2).output.split())
    assert "not a run folder" in said
    assert (out / "thesis.tex").read_text() == "years of work"
    f = tmp_path / "file"
    f.write_text("x")
    assert "not a folder" in cli("run", *RUN, "--out", f, code=2).output


def test_failed_run_leaves_the_old_folder(tmp_path):
    out = tmp_path / "r"
    cli("run", *RUN, "--out", out)
    before = _tree(out)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    cli("run", "--policy", bad, "--people", "600", "--years", "1", "--out", out, code=2)
    assert _tree(out) == before


def test_postgresql_unreachable_gives_one_line_and_no_folder(tmp_path):
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "pg"
    res = cli("run", *RUN, "--out", out, "--db", f"postgresql://u:secret@127.0.0.1:{port}/x", code=2)
    said = " ".join(res.output.split())
    assert "cannot reach the ledger store" in said and "secret" not in said
    assert not out.exists() and not list(tmp_path.iterdir())


def test_postgresql_killed_mid_run(tmp_path, pg_server):
    """The server dies while the run appends to it: one clear error, no half folder."""
    import psycopg

    name = f"t_kill_{os.getpid()}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    url = f"{pg_server}/{name}"
    out = tmp_path / "pg"
    child = (
        "import sys, psycopg\n"
        "import socialrating.store.ledger_store as L\n"
        "orig = L.LedgerStore.append_entries\n"
        "def boom(self, df):\n"
        "    with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as c:\n"
        "        c.execute(\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s\", [sys.argv[2]])\n"
        "    return orig(self, df)\n"
        "L.LedgerStore.append_entries = boom\n"
        "from socialrating.cli import app\n"
        "app(sys.argv[3:])\n")
    p = subprocess.run([sys.executable, "-c", child, pg_server, name, "run", *RUN, "--out", str(out), "--db", url],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "PostgreSQL" in p.stderr and "folder is as it was" in " ".join(p.stderr.split())
    assert not out.exists()


def test_verify_says_where_the_store_is(tmp_path, pg_database):
    out = tmp_path / "pg"
    cli("run", *RUN, "--out", out, "--db", pg_database)
    said = " ".join(cli("verify", out, code=2).output.split())
    assert "the manifest records the ledger store at postgresql://" in said


def test_verify_cli_at_80_columns_piped(tmp_path):
    out = tmp_path / "r"
    cli("run", *RUN, "--out", out)
    env = {**os.environ, "COLUMNS": "80"}
    p = subprocess.run([sys.executable, "-m", "socialrating.cli", "verify", str(out)], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 0 and p.stdout.startswith("ok: 12 files")
    (out / "ledger.parquet").write_bytes(b"x")
    p = subprocess.run([sys.executable, "-m", "socialrating.cli", "verify", str(out), "--json"], capture_output=True,
                       text=True, env=env)
    got = json.loads(p.stdout)
    assert p.returncode == 1 and got["first_bad"] == "file:ledger.parquet"
    assert pl.DataFrame({"p": got["problems"]}).height == 1


def test_verify_needs_no_write_access(tmp_path):
    """An auditor's read-only copy verifies (no lock file can be made there); writers refuse."""
    out = tmp_path / "r"
    cli("run", *RUN, "--out", out)
    (out / ".lock").unlink(missing_ok=True)
    (out / ".lock").mkdir()  # stands in for a read-only file system: the lock file cannot be opened
    assert verify_run(out)["ok"]
    said = " ".join(cli("contest", out, "--citizen", 1, "--entry", 8, "--reason", "x", code=2).output.split())
    assert ".lock" in said and "nothing was changed" in said


def test_ingest_into_a_run_on_postgresql(tmp_path, pg_database):
    out = tmp_path / "pg"
    cli("run", *RUN, "--world", "synthetic", "--out", out, "--db", pg_database)
    fx.bailiff_file(out, tmp_path / "b.csv", n=20)
    res = cli("ingest", tmp_path / "b.csv", "--source", "bailiffs", "--into", out, "--db", pg_database)
    assert "new ledger entries" in res.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["ingested"]["events"] == 20 and m["ingested"]["entries"] > 0
    v = verify_run(out, pg_database)
    assert v["ok"], v["problems"]
    assert v["checked"] == m["rows"]["ledger"] + m["changes"]["count"]  # every entry, the new ones too
